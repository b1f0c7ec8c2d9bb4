"""The trainer registry: name -> a TrainerPlug, the trainer's traits and the function that trains a policy.

  native      PPO on batched native MuJoCo, numpy acting and a jitted JAX update (train/native.py): the CPU path
  mjx         Brax PPO on MJX, everything on the accelerator (train/mjx.py)
  population  a generation's candidates trained together in one jitted JAX program on MJX (train/population.py):
              the GPU path. The executor hands it the whole generation as one sandboxed job; trainings outside a
              generation (the re-evaluation seeds) are a population of the seeds

Every trainer is `train(env, task, reward, cfg, progress, checkpoint, start) -> TrainOutcome`, reports through
`progress(step, CurvePoint)` and runs inside the sandboxed train job (the reward is untrusted code). The rest of
rewardsmith asks a plug's traits (does it continue from a checkpoint? train a generation together? want a GPU?
what does the prompt say about it?) and never compares trainer names: a new trainer is one module and one entry
here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rewardsmith.config import RunConfig, TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.task import Task
from rewardsmith.program.load import LoadedReward
from rewardsmith.registry import Registry
from rewardsmith.train.policy import Policy, Progress, TrainOutcome


class Trainer(Protocol):
    def __call__(self, env: EnvSpec, task: Task, reward: LoadedReward, cfg: TrainConfig, progress: Progress = ...,
                 checkpoint: Path | None = None, start: Policy | None = None) -> TrainOutcome: ...


@dataclass(frozen=True)
class TrainerPlug:
    """A trainer and what the rest of the code needs to know about it."""

    name: str
    load: Callable[[], Trainer]  # the training function, imported only when asked (mjx pulls in jax and brax)
    # a halving rung continues the training from its checkpoint, and a training may start from another's policy
    # (evolve --inherit) (mjx: Brax restores no optimizer state)
    continues: bool
    # a generation's candidates (a halving rung's survivors, a reward's seeds) are trained together in ONE sandboxed
    # job, which its executor runs as such (one compile per rung instead of one per candidate)
    together: bool
    device: str  # "cpu" or "gpu": where it is meant to run; a "gpu" trainer takes a GPU where there is one
    default_on: str | None  # the default --trainer where JAX's backend is this ("cpu", "gpu"); None: never default
    xla_cache: bool  # its compiled PPO update is warmed once per run and reused by every training (train/xla_cache.py)
    # what the LLM is told about the training at the run's settings: lines for the prompt's "how training works"
    prompt_facts: Callable[[TrainConfig, EnvSpec, Task], list[str]]
    # it trains whole PPO iterations of num_envs x rollout_steps (TrainConfig.whole_batch_steps); False: it trains
    # cfg.steps as its own library rounds them (Brax, up to whole evaluation epochs), which is not predicted here
    whole_batches: bool = True

    @property
    def train(self) -> Trainer:
        return self.load()

    def steps_of(self, cfg: TrainConfig) -> int:
        """The env steps a training of `cfg` really runs (what progress shows as its total)."""
        return cfg.whole_batch_steps if self.whole_batches else cfg.steps


def inherits(cfg: RunConfig) -> bool:
    """Whether a run's children start from their parent's policy (--inherit): as asked, else wherever the trainer can
    (on by default since the kneel arms: 1.58x fewer search env steps, and the inherited lineage's answer retrained
    from scratch beat the best from-scratch candidate's, 0.914 against 0.795; only a parent that does the task hands
    its policy on, which leaves the quick start's run as it is without inheritance)."""
    return cfg.inherit if cfg.inherit is not None else TRAINERS.get(cfg.trainer).continues


INHERIT_SHARE = 0.5  # of the budget, for a child that starts from its parent's policy (execute/inherit.py)


def child_budget(budget: int) -> int:
    """An inheriting child's budget for a from-scratch budget (a halving rung's too)."""
    return max(1, int(budget * INHERIT_SHARE))


def children_inherit(cfg: RunConfig, train: TrainConfig, episode_steps: int) -> bool:
    """Whether a run's children can start from their parent's policy at all: inheritance is on (inherits) and a
    child's budget lets every env live train.inherit_min_episodes whole episodes (execute/inherit.py says why: a
    fine-tuned policy dips for several updates before it climbs back)."""
    return inherits(cfg) and child_budget(train.steps) >= train.inherit_min_episodes * train.num_envs * episode_steps


def horizon(gamma: float) -> str:
    """How far ahead a reward counts about half, in words."""
    steps = math.log(0.5) / math.log(gamma) if 0.0 < gamma < 1.0 else math.inf
    return f"{steps:.0f} steps" if math.isfinite(steps) else "any number of steps"


def _batched_ppo_facts(where: str, cfg: TrainConfig, task: Task) -> list[str]:
    """The facts of rewardsmith's own PPO (the native and population trainers share the learner, train/ppo.py)."""
    steps, num_envs, gamma = cfg.steps, cfg.num_envs, cfg.gamma
    return [
        f"PPO ({where}) for {steps:,} env steps in total, {num_envs} envs in parallel "
        f"(about {steps // max(1, num_envs * task.episode_steps):,} full-length episodes per env), "
        f"discount gamma {gamma:g} (a reward {horizon(gamma)} ahead counts about half).",
        "The policy's observations are normalised by running mean and standard deviation, and the reward is "
        "divided by a running standard deviation of the discounted return (then clipped to [-10, 10]): the "
        "overall scale of the reward matters little, the relative scales of its terms matter.",
        "The policy's Gaussian action is clipped to [-1, 1] before the physics and your reward get it.",
    ]


def _native_facts(cfg: TrainConfig, env: EnvSpec, task: Task) -> list[str]:
    return _batched_ppo_facts("native MuJoCo on CPU", cfg, task)


def _population_facts(cfg: TrainConfig, env: EnvSpec, task: Task) -> list[str]:
    return _batched_ppo_facts("on MJX, the GPU build of MuJoCo, in float32", cfg, task) + [
        "Every candidate reward of a generation is trained at the same time, each with its own policy and its own "
        f"{cfg.num_envs} envs: a reward that turns NaN or infinite fails only its own candidate.",
    ]


def _mjx_facts(cfg: TrainConfig, env: EnvSpec, task: Task) -> list[str]:
    from rewardsmith.train.mjx import brax_settings  # imports JAX; only runs configured for it pay

    brax = brax_settings(cfg, env)
    num_envs, gamma = int(brax["num_envs"]), float(brax["discounting"])
    return [
        f"PPO (Brax, on MJX) for {cfg.steps:,} env steps in total, {num_envs} envs in parallel, discount gamma "
        f"{gamma:g} (a reward {horizon(gamma)} ahead counts about half).",
        "The policy's observations are normalised by running mean and standard deviation; the reward is used "
        "as it is (not normalised), so its absolute size matters: keep the reward per step of order 1.",
        "The policy's Gaussian sample is squashed by tanh into (-1, 1); the physics and your reward get that "
        "action.",
    ]


def _native() -> Trainer:
    from rewardsmith.train.native import train_native

    return train_native


def _mjx() -> Trainer:
    from rewardsmith.train.mjx import train_mjx  # imports jax, brax and MJX: only when asked for

    return train_mjx


def _population() -> Trainer:
    from rewardsmith.train.population_train import train_population_alone

    return train_population_alone


TRAINERS: Registry[TrainerPlug] = Registry("--trainer")
for _plug in (
    TrainerPlug("native", _native, continues=True, together=False, device="cpu", default_on="cpu", xla_cache=True,
                prompt_facts=_native_facts),
    TrainerPlug("mjx", _mjx, continues=False, together=False, device="gpu", default_on=None, xla_cache=False,
                prompt_facts=_mjx_facts, whole_batches=False),
    TrainerPlug("population", _population, continues=True, together=True, device="gpu", default_on="gpu",
                xla_cache=False, prompt_facts=_population_facts),
):
    TRAINERS.register_entry(_plug.name, _plug)


def trainer(name: str) -> TrainerPlug:
    """The plug of trainer `name` (UnknownNameError listing the trainers for a name that is none)."""
    return TRAINERS.get(name)


def trainers_that(trait: Callable[[TrainerPlug], bool]) -> list[str]:
    """The names of the trainers with a trait, for messages ("... a trainer that continues: native, population")."""
    return [name for name in TRAINERS.names() if trait(TRAINERS.get(name))]
