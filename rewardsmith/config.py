"""Frozen configurations. Defaults live here and nowhere else (the README quotes them from `--help`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainConfig:
    """PPO settings. An env's `PPO` dict overrides these defaults; the user's flags override both."""

    steps: int = 100_000  # env steps (all envs together)
    num_envs: int = 64
    rollout_steps: int = 32  # steps per env between updates
    learning_rate: float = 3e-4
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    init_log_std: float = -0.5
    hidden: tuple[int, ...] = (64, 64)
    checkpoints: int = 10  # how many times per training to record per-term statistics
    eval_episodes: int = 16
    time_budget_s: float = 1800.0  # a training that runs longer is stopped and fails its candidate
    seed: int = 0

    def with_overrides(self, **overrides) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown train setting(s) {unknown}; valid: {sorted(known)}")
        if "hidden" in overrides:
            overrides["hidden"] = tuple(overrides["hidden"])
        return dataclasses.replace(self, **overrides)


def train_config_for(env_ppo: dict, **overrides) -> TrainConfig:
    given = {k: v for k, v in overrides.items() if v is not None}
    return TrainConfig().with_overrides(**env_ppo).with_overrides(**given)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines an evolve run; saved as config.json and reused by --resume."""

    env: str
    task: str  # a task name of the env, or free text
    iterations: int = 3
    samples: int = 4  # K reward programs per generation
    # litellm model strings; the samples of a round are split across them (split_samples); none = LLM-free mode
    models: tuple[str, ...] = ()
    # base URLs of OpenAI-compatible servers: none (each provider's default), one for every model, or one per model
    # in the order of `models`
    api_bases: tuple[str, ...] = ()
    temperature: float = 1.0
    feedback: str = "metrics"  # a ranker's name: metrics | synthetic | human (feedback/rankers.py)
    synthetic_noise: float = 0.0  # std of noise added to the fitness by the synthetic ranker
    review_port: int = 8765  # --feedback human serves the review page on 127.0.0.1:review_port (0 = any)
    video: bool = True  # film each evaluated candidate (the review page shows the videos)
    trainer: str = "native"  # a trainer's name: native (CPU, batched MuJoCo) | mjx (Brax PPO on MJX, for a GPU)
    executor: str = "local"  # where a generation's trainings run (train/executors.py)
    train_steps: int | None = None  # None = the task's budget
    seed: int = 0
    max_sample_rounds: int = 3  # LLM rounds per generation while fewer than K programs pass the check
    final_seeds: int = 0  # retrain the best reward on this many seeds at the end
    train_seeds: int = 1  # train each candidate on this many seeds and rank by the mean task score
    # successive halving of a generation's training budget (train/stage.py); None = on where it can be (a ranker
    # with a fitness and a trainer that continues from checkpoints), off otherwise
    halving: bool | None = None
    init_source: str | None = None  # the user's own reward (--init): a candidate of generation 0, shown to the LLM
    train: dict = field(default_factory=dict)  # extra TrainConfig overrides

    def __post_init__(self) -> None:  # JSON gives lists; a frozen config holds tuples
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "api_bases", tuple(self.api_bases))

    @property
    def llm_free(self) -> bool:
        return not self.models

    @property
    def model(self) -> str | None:
        """The first model (what a one-model run uses), or None in the LLM-free mode."""
        return self.models[0] if self.models else None

    def api_base_for(self, index: int) -> str | None:
        """The server of models[index]: one base for all, or the one paired with it."""
        if not self.api_bases:
            return None
        return self.api_bases[0] if len(self.api_bases) == 1 else self.api_bases[index]

    def validate(self) -> None:
        for name in ("iterations", "samples", "max_sample_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        if self.train_steps is not None and self.train_steps < 1:
            raise ValueError(f"--train-steps must be a positive integer, got {self.train_steps}")
        if self.final_seeds < 0:
            raise ValueError(f"--final-seeds must be 0 or more, got {self.final_seeds}")
        if self.train_seeds < 1:
            raise ValueError(f"--train-seeds must be a positive integer, got {self.train_seeds}")
        if self.api_bases and len(self.api_bases) not in (1, len(self.models)):
            raise ValueError(f"--api-base was given {len(self.api_bases)} times for {len(self.models)} --model(s); "
                             "give it once (every model uses that server) or once per --model, in the same order")
        if not self.task.strip():
            raise ValueError("--task is empty; give a task name (see `rewardsmith envs`) or a description")
        # the names of trainer, ranker and executor are checked against their registries (evolve.prepare)


def split_samples(count: int, parts: int) -> list[int]:
    """`count` samples over `parts` models as evenly as possible, the earlier models taking the remainder
    (7 over 3 -> [3, 2, 2]); a model may get none when count < parts."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]
