"""Frozen configurations. Defaults live here and nowhere else (the README quotes them from `--help`).

RunConfig is also the one table of a run's settings: each field's name is its key in config.json and in a --config
TOML file, its type annotation the kind of value it takes, and its metadata (`facts`) the evolve option that gives it
and whether `evolve --resume` may change it. RUN_SETTINGS reads that table; the command line asks it rather than
naming the fields again.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardsmith.errors import UserError


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
    # Early stop at success: at each checkpoint, a deterministic evaluation of eval_episodes episodes (the train
    # job's, on its own seed); training stops when the task's success rate (the share of episodes whose task score
    # reaches the task's success_threshold) is at least stop_success_rate. No effect on a task without a threshold.
    stop_at_success: bool = False
    stop_success_rate: float = 0.8
    # no stop at success before this many env steps (an inherited child earns its success under its own reward:
    # execute/inherit.py)
    success_from_step: int = 0
    # a training that starts from another policy (evolve --inherit: execute/inherit.py) keeps its value function and
    # its action noise (log std), or starts them fresh; the policy and the observation normaliser are always kept
    inherit_value: bool = True
    inherit_log_std: bool = True
    # a child inherits only where its budget lets every env live this many whole episodes (execute/inherit.py)
    inherit_min_episodes: float = 4.0
    # an inheriting child's stop at success counts only after every env lived this many whole episodes of its own
    # training (execute/inherit.py: it earns its success under its own reward)
    inherit_earn_episodes: float = 8.0
    time_budget_s: float = 1800.0  # a training that runs longer is stopped and fails its candidate
    # Native trainer only: each PPO update runs (on XLA's threads) while the next rollout is collected with the
    # parameters from before it, acting one update behind; False runs rollout and update in turn.
    # rewardsmith/train/native.py says what it buys and costs, and why it is off by default
    overlap_update: bool = False
    seed: int = 0

    @property
    def batch_steps(self) -> int:
        """Env steps of one PPO iteration: every env's rollout."""
        return self.num_envs * self.rollout_steps

    @property
    def whole_batch_steps(self) -> int:
        """The env steps rewardsmith's batched PPO (native, population) really trains for `steps`: whole iterations,
        rounded down, at least one. The trainers loop over exactly these; the progress shows them as the total."""
        return max(1, self.steps // self.batch_steps) * self.batch_steps

    def with_overrides(self, **overrides) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise UserError(f"unknown train setting(s) {unknown}; valid: {sorted(known)}")
        if "hidden" in overrides:
            overrides["hidden"] = tuple(overrides["hidden"])
        return dataclasses.replace(self, **overrides)


def train_config_for(env_ppo: dict, **overrides) -> TrainConfig:
    given = {k: v for k, v in overrides.items() if v is not None}
    return TrainConfig().with_overrides(**env_ppo).with_overrides(**given)


# TrainConfig settings that a run sets by its own settings, which a run's `train` table must not set a second time
# (the table is applied last, so `seed` there would give every training seed the same seed): field -> run setting
RUN_OWNED_TRAIN = {"steps": "train_steps", "seed": "seed"}


def check_train(train: Mapping[str, Any]) -> None:
    """A run's PPO overrides (`train` in config.json and in a run config) are TrainConfig settings, each of its
    kind; raises UserError (one line) naming the first that is not."""
    defaults = {f.name: getattr(TrainConfig(), f.name) for f in dataclasses.fields(TrainConfig)}
    for key, value in train.items():
        if key in RUN_OWNED_TRAIN:
            raise UserError(f"train setting {key!r} is the run's own {RUN_OWNED_TRAIN[key]!r}; set that instead")
        if key not in defaults:
            valid = ", ".join(k for k in defaults if k not in RUN_OWNED_TRAIN)
            raise UserError(f"unknown train setting {key!r}; valid: {valid}")
        wanted = _train_kind_problem(defaults[key], value)
        if wanted:
            raise UserError(f"train setting {key!r} must be {wanted}, got {value!r}")


def _train_kind_problem(default: Any, value: Any) -> str | None:
    """What a value of a TrainConfig setting whose default is `default` must be, or None when it is that. Counts
    are positive (zero envs or epochs would crash the trainer, not fail one line); numbers finite."""
    import math

    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if _positive_int(value) else "a positive integer"
    if isinstance(default, float):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else "a finite number"
    ok = isinstance(value, list | tuple) and value and all(_positive_int(v) for v in value)
    return None if ok else "a list of positive integers (layer widths), e.g. [64, 64]"  # hidden


def check_batches(ppo: TrainConfig) -> None:
    """PPO splits each rollout (num_envs x rollout_steps transitions) into equal minibatches; raises UserError when
    the env's settings with the run's `train` table do not divide."""
    batch = ppo.num_envs * ppo.rollout_steps
    if batch % ppo.minibatches:
        raise UserError(f"train setting 'minibatches' ({ppo.minibatches}) must divide num_envs x rollout_steps "
                        f"({ppo.num_envs} x {ppo.rollout_steps} = {batch})")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


_OWN_NAME = "(the field's name)"
ALLOCATIONS = ("halving", "adaptive")  # RunConfig.allocation's values


def facts(*, flag: str | None = _OWN_NAME, resume: bool = False) -> dict[str, Any]:
    """A RunConfig field's metadata: the evolve option (its parameter name) whose value the field takes, by default
    the field's own name, None where no option gives the value as it is; and whether a resume may change it."""
    return {"flag": flag, "resume": resume}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines an evolve run; saved as config.json and reused by --resume."""

    env: str
    task: str  # a task name of the env, or free text
    iterations: int = field(default=3, metadata=facts(resume=True))
    samples: int = 4  # K reward programs per generation
    # litellm model strings; the samples of a round are split across them (split_samples); none = LLM-free mode
    models: tuple[str, ...] = field(default=(), metadata=facts(flag="model"))
    # base URLs of OpenAI-compatible servers: none (each provider's default), one for every model, or one per model
    # in the order of `models`
    api_bases: tuple[str, ...] = field(default=(), metadata=facts(flag="api_base"))
    temperature: float = 1.0
    feedback: str = "metrics"  # a ranker's name: metrics | synthetic | human | judge | hybrid (feedback/rankers.py)
    synthetic_noise: float = 0.0  # std of noise added to the fitness by the synthetic ranker
    judge_model: str | None = None  # --feedback judge: the vision LLM (litellm model string) that ranks the films
    judge_api_base: str | None = None  # the judge's OpenAI-compatible server (None: its provider's default)
    # --feedback hybrid: the judge is confident when its two looks agree at least this well (Kendall tau; hybrid.py)
    judge_min_tau: float = 0.6
    # --feedback human serves the review page on 127.0.0.1:review_port (0 = any)
    review_port: int = field(default=8765, metadata=facts(resume=True))
    video: bool = True  # film each evaluated candidate (the review page shows the videos)
    # the review page shows no task score or success rate (issue 16: unbiased ranking)
    blind: bool = field(default=False, metadata=facts(resume=True))
    # --feedback human: the run waits until this many people ranked a generation
    reviewers: int = field(default=1, metadata=facts(resume=True))
    # ... or, once one has, until this long after the generation began waiting
    review_deadline_s: float | None = field(default=None, metadata=facts(flag="review_deadline", resume=True))
    # where the review page listens; not loopback: only with its secret token
    review_host: str = field(default="127.0.0.1", metadata=facts(resume=True))
    # a command (no shell) run when a generation starts waiting for rankings
    on_ranking_due: str | None = field(default=None, metadata=facts(resume=True))
    trainer: str = "native"  # a trainer's name: native (CPU, batched MuJoCo) | mjx (Brax PPO on MJX, for a GPU)
    # where a generation's trainings run (execute/executors.py); the rest of a run does not depend on it, so a
    # resume may move it (as parallel, ray_address)
    executor: str = field(default="local", metadata=facts(resume=True))
    # trainings at once on this machine (--executor local), each on its share of the CPUs; None: chosen by the trainer
    # and the machine (execute/executors.parallel_of)
    parallel: int | None = field(default=None, metadata=facts(resume=True))
    # --executor ray: the cluster (None: a running one, else a new local one)
    ray_address: str | None = field(default=None, metadata=facts(resume=True))
    train_steps: int | None = None  # None = the task's budget
    seed: int = 0
    # LLM rounds per generation while fewer than K programs pass the check (no option: config.json, benchmarks)
    max_sample_rounds: int = field(default=3, metadata=facts(flag=None))
    # at the end of a run that picks by the selection rule (metrics): the best and its contenders retrained from
    # scratch on this many fresh seeds; the run's answer is decided again on them (0: no confirmation)
    final_seeds: int = 2
    # racing (execute/racing.py): while a generation's pick is not confident, at most this many rounds of one more
    # seed for each contender (0: no racing)
    race_seeds: int = 1
    train_seeds: int = 1  # train each candidate on this many seeds and rank by the mean task score
    # children start from their parent's policy and train a shorter budget (execute/inherit.py); None = on where the
    # trainer can start from a policy (train/trainers.py inherits), off otherwise
    inherit: bool | None = None
    # metrics feedback: every trained candidate's policy is also stressed (evaluate/stress.py: masses, friction and
    # actuators +-20%, pushes, observation noise; 8 episodes each, native physics) and the selection rule picks by
    # its worst case under stress instead of its task score (confidence.py)
    select_robust: bool = False
    # successive halving of a generation's training budget (execute/train_stage.py); None = on where it can be (a ranker
    # with a fitness and a trainer that continues from checkpoints), off otherwise
    halving: bool | None = None
    # how that budget is shared out where halving is on: "halving" (rungs) | "adaptive" (slices to the most promising
    # learning curve, the same env steps: execute/allocate.py)
    allocation: str = "halving"
    # the user's own reward (--init names its file): a candidate of generation 0, shown to the LLM
    init_source: str | None = field(default=None, metadata=facts(flag=None))
    # USD the run may spend on the LLM (worst case checked before each request)
    max_cost: float | None = field(default=None, metadata=facts(resume=True))
    # per HTTP request to the LLM
    llm_timeout_s: float = field(default=120.0, metadata=facts(flag="llm_timeout", resume=True))
    max_tokens: int | None = None  # output cap per completion; None = the provider's default
    envs_dir: str | None = None  # the user's own envs folder the run used (--envs-dir or REWARDSMITH_ENVS)
    # --tensorboard DIR (absolute): the run's TensorBoard scalars (runs/tensorboard.py)
    tensorboard: str | None = field(default=None, metadata=facts(resume=True))
    # extra TrainConfig overrides (--stop-at-success sets one)
    train: dict = field(default_factory=dict, metadata=facts(flag=None))
    # --memory DIR (absolute): the memory of verified terms (llm/memory.py); the first prompt shows its entries of
    # other tasks on this env, and the run's confirmed answer goes in at the end. None: no memory (off by default
    # until a live measurement says it helps)
    memory: str | None = field(default=None, metadata=facts(resume=True))
    # the LLM may also write `terminate(s, xp)`, OR'ed with the task's termination in training only
    # (program/terminate.py); off: a terminate it writes is removed, with a warning it reads
    evolve_termination: bool = False
    # --islands N (execute/islands.py): each generation's samples split over N islands, each with its own parent and
    # history; every migrate_every generations the run's best replaces the worst island's parent (0: never)
    islands: int = 1
    migrate_every: int = 2

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
        _check_types(self)
        for name in ("iterations", "samples"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        if self.max_sample_rounds < 1:  # no option gives it: named as config.json and a run config do
            raise UserError(f"setting 'max_sample_rounds' must be a positive integer, got {self.max_sample_rounds}")
        if self.train_steps is not None and self.train_steps < 1:
            raise UserError(f"--train-steps must be a positive integer, got {self.train_steps}")
        if self.final_seeds < 0:
            raise UserError(f"--final-seeds must be 0 or more, got {self.final_seeds}")
        if self.race_seeds < 0:
            raise UserError(f"--race-seeds must be 0 or more (0: no racing), got {self.race_seeds}")
        _check_islands(self)
        if self.train_seeds < 1:
            raise UserError(f"--train-seeds must be a positive integer, got {self.train_seeds}")
        if self.allocation not in ALLOCATIONS:
            raise UserError(f"--allocation must be {' or '.join(ALLOCATIONS)}, got {self.allocation!r}")
        if self.api_bases and len(self.api_bases) not in (1, len(self.models)):
            raise UserError(f"--api-base was given {len(self.api_bases)} times for {len(self.models)} --model(s); "
                             "give it once (every model uses that server) or once per --model, in the same order")
        if not self.task.strip():
            raise UserError("--task is empty; give a task name (see `rewardsmith envs`) or a description")
        if not 0.0 <= self.temperature <= 2.0:
            raise UserError(f"--temperature must be between 0 and 2, got {self.temperature}")
        if self.synthetic_noise < 0:
            raise UserError(f"--synthetic-noise must be 0 or more, got {self.synthetic_noise}")
        if not 0 <= self.review_port <= 65535:
            raise UserError(f"--review-port must be a TCP port, 0 to 65535 (0 = any free one), got {self.review_port}")
        if self.max_cost is not None and self.llm_free and not self.judge_model:
            raise UserError("--max-cost caps what a run spends on LLMs, and an --llm-free run without a judge asks "
                            "none; drop it")
        if self.evolve_termination and self.llm_free and not self.init_source:
            raise UserError("--evolve-termination asks the LLM for a terminate(s, xp), and --llm-free mutates only "
                            "the SCALES of the reference reward, which has none; drop one, or give --init a reward "
                            "with a terminate (its mutations keep it as it is)")
        if self.max_cost is not None and not self.max_cost > 0:
            raise UserError(f"--max-cost must be a positive amount of USD, got {self.max_cost}")
        if not self.llm_timeout_s > 0:
            raise UserError(f"--llm-timeout must be a positive number of seconds, got {self.llm_timeout_s}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UserError(f"--max-tokens must be a positive integer, got {self.max_tokens}")
        for model in self.models:
            if not model.strip() or model != model.strip() or any(c.isspace() for c in model):
                raise UserError(f"--model {model!r} is not a litellm model string (provider/model, no spaces), e.g. "
                                 "openai/gpt-4o-mini")
        for base in self.api_bases:
            if not _is_url(base):
                raise UserError(f"--api-base {base!r} is not an http(s) URL; give the server's base URL, e.g. "
                                 "http://127.0.0.1:8000/v1")
        if self.judge_api_base is not None and not _is_url(self.judge_api_base):
            raise UserError(f"--judge-api-base {self.judge_api_base!r} is not an http(s) URL")
        if not -1.0 <= self.judge_min_tau <= 1.0:  # NaN fails too
            raise UserError(f"--judge-min-tau must be a Kendall tau between -1 and 1 (1: the judge's two looks give "
                             f"the same order), got {self.judge_min_tau}")
        _check_review(self)
        check_train(self.train)
        # the names of trainer, ranker and executor are checked against their registries, and the settings that
        # only some rankers take against the ranker's traits (feedback/rankers.check_feedback), in evolve.prepare


def _check_islands(cfg: RunConfig) -> None:
    if cfg.islands < 1 or cfg.migrate_every < 0:
        raise UserError(f"--islands must be 1 or more and --migrate-every 0 or more (0: never), got --islands "
                        f"{cfg.islands} --migrate-every {cfg.migrate_every}")
    if cfg.samples < cfg.islands:
        raise UserError(f"--islands {cfg.islands} needs at least one sample per island, and --samples is "
                        f"{cfg.samples}; give --samples {cfg.islands} or more, or fewer islands")


def _check_review(cfg: RunConfig) -> None:
    """The review page's settings are sane values (whether the ranker serves the page: rankers.check_feedback)."""
    import math
    import shlex

    if cfg.reviewers < 1:
        raise UserError(f"--reviewers must be a positive integer (people to rank a generation), got {cfg.reviewers}")
    if cfg.review_deadline_s is not None and not (math.isfinite(cfg.review_deadline_s) and cfg.review_deadline_s > 0):
        raise UserError(f"--review-deadline must be a positive duration, got {cfg.review_deadline_s}")
    check_host(cfg.review_host, "--review-host")
    try:
        command = shlex.split(cfg.on_ranking_due) if cfg.on_ranking_due is not None else ["-"]
    except ValueError as err:
        raise UserError(f"--on-ranking-due {cfg.on_ranking_due!r} is not a command line ({err})") from None
    if not command:
        raise UserError("--on-ranking-due is empty; give a command, e.g. 'notify-send \"rank me\"'")


def shown(text: str, most: int = 60) -> str:
    """A user's text as an error message quotes it: whole when short, else its start and its length (a 5,000-character
    task description is not echoed back)."""
    one_line = " ".join(text.split())
    return repr(one_line) if len(one_line) <= most else f"{one_line[:most]!r}... ({len(text):,} characters)"


def check_host(host: str, flag: str) -> None:
    """A review page's host is a host name or address (`flag` names the option); an empty one would bind every
    address of the machine."""
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise UserError(f"{flag} {host!r} is not a host name or address, e.g. 0.0.0.0 or 10.0.0.5")


def _is_url(text: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in text)


@dataclass(frozen=True)
class Setting:
    """One RunConfig field as the command line and the config checks see it (read from the dataclass)."""

    name: str  # the field: its key in config.json and in a --config file
    flag: str | None  # the evolve parameter whose value it takes; None: no option gives it as it is
    kinds: tuple[type, ...]  # what a JSON or TOML value may be: (list,) is a list of strings
    resume: bool  # `evolve --resume` may change it

    @property
    def list_of_strings(self) -> bool:
        return self.kinds == (list,)


def _kinds(hint: Any) -> tuple[type, ...]:
    """The JSON/TOML kinds of a field's type annotation: a float also takes an integer, a tuple is a list."""
    if isinstance(hint, types.UnionType):
        return tuple(kind for arg in typing.get_args(hint) for kind in _kinds(arg))
    if typing.get_origin(hint) is tuple:
        return (list,)
    return (int, float) if hint is float else (hint,)


def _setting(f: dataclasses.Field, hint: Any) -> Setting:
    flag = f.metadata.get("flag", _OWN_NAME)
    return Setting(f.name, f.name if flag == _OWN_NAME else flag, _kinds(hint), f.metadata.get("resume", False))


def _settings() -> dict[str, Setting]:
    hints = typing.get_type_hints(RunConfig)
    return {f.name: _setting(f, hints[f.name]) for f in dataclasses.fields(RunConfig)}


RUN_SETTINGS: dict[str, Setting] = _settings()  # field name -> Setting, in the dataclass's order


def flag_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """field name -> the value of its evolve option, for every field an option gives as it is; `params` holds the
    evolve command's parameters by name (each of them: a missing one is a bug, not bad input)."""
    return {s.name: params[s.flag] for s in RUN_SETTINGS.values() if s.flag is not None}


def _check_types(cfg: RunConfig) -> None:
    """A hand-edited config.json can hold any JSON: each setting must be of its field's kind."""
    for setting in RUN_SETTINGS.values():
        value = getattr(cfg, setting.name)
        if setting.list_of_strings:
            if not all(isinstance(v, str) for v in value):
                raise UserError(f"setting {setting.name!r} must be a list of strings, got {list(value)!r}")
        elif not isinstance(value, setting.kinds) or (isinstance(value, bool) and bool not in setting.kinds):
            raise UserError(f"setting {setting.name!r} has the wrong kind of value: {value!r}")


def split_samples(count: int, parts: int) -> list[int]:
    """`count` samples over `parts` models as evenly as possible, the earlier models taking the remainder
    (7 over 3 -> [3, 2, 2]); a model may get none when count < parts."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]
