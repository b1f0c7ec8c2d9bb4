"""A candidate and the records of what happened to it: its sample, check, training, evaluation and film."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardsmith.records.base import SCHEMA_VERSION, check_schema, num, nums


class Status(enum.StrEnum):
    """Where a candidate stands. The *_FAILED statuses name the stage that failed."""

    PENDING = "pending"  # sampled; not checked yet
    LLM_FAILED = "llm_failed"  # the LLM request failed (no text)
    EXTRACT_FAILED = "extract_failed"  # no usable program in the text
    CHECK_FAILED = "check_failed"  # the static policy or the sandboxed pre-flight check refused it
    CHECKED = "checked"  # passed the check; waiting for training
    TRAIN_FAILED = "train_failed"  # training or evaluation failed (non-finite reward, timeout, crash)
    EVALUATED = "evaluated"  # trained and evaluated: it can be ranked

    @property
    def failed(self) -> bool:
        return self.value.endswith("_failed")

    @property
    def passed_check(self) -> bool:
        """Counts toward the K programs a generation needs (a training failure is the program's own result)."""
        return self in (Status.CHECKED, Status.EVALUATED, Status.TRAIN_FAILED)

    @property
    def stage(self) -> str:
        """The stage a failed candidate failed at ("llm", "extract", "check", "train")."""
        return self.value.removesuffix("_failed")


class Stop(enum.StrEnum):
    """Why an evaluated candidate's training ended."""

    BUDGET = "budget"  # it trained the full budget
    SUCCESS = "success"  # --stop-at-success: at a checkpoint its success rate reached the mark
    HALVING = "halving"  # successive halving did not continue it after a rung
    ALLOCATION = "allocation"  # adaptive allocation: the budget went to others before it reached the full one

    @property
    def words(self) -> str:
        return {Stop.BUDGET: "trained the full budget", Stop.SUCCESS: "reached success",
                Stop.HALVING: "stopped by halving", Stop.ALLOCATION: "stopped by adaptive allocation"}[self]

    @property
    def cut_short(self) -> bool:
        """Its training ended short of the full budget because the budget went to others (halving, adaptive
        allocation): its score is at a smaller budget, not the same measurement as a full training's."""
        return self in (Stop.HALVING, Stop.ALLOCATION)


@dataclass(frozen=True)
class Sample:
    """One sampled response, as a round file (gen_XX/round_N.json) keeps it: an LLM completion, or a mutated
    program in the LLM-free mode. The text is untrusted; extraction and the check come next."""

    text: str | None  # None when the request failed
    error: str | None  # why the request failed
    origin: str = "llm"  # "llm" | "mutation" | "init"
    model: str | None = None  # the litellm model string that wrote it
    island: int = 0  # evolve --islands: the island whose parent and history it was sampled from

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        return cls(text=data.get("text"), error=data.get("error"), origin=str(data.get("origin") or "llm"),
                   model=data.get("model"), island=int(data.get("island") or 0))


@dataclass(frozen=True)
class CheckReport:
    """The pre-flight check of a program; `errors` are written for the LLM (what broke, where, how to fix)."""

    passed: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    terms: tuple[str, ...]
    seconds: float
    per_call_ms: float | None
    isolation: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckReport:
        return cls(passed=bool(data["passed"]), errors=tuple(data.get("errors") or ()),
                   warnings=tuple(data.get("warnings") or ()), terms=tuple(data.get("terms") or ()),
                   seconds=float(data.get("seconds") or 0.0), per_call_ms=num(data.get("per_call_ms")),
                   isolation=tuple(data.get("isolation") or ()))


@dataclass(frozen=True)
class CurvePoint:
    """Training statistics at one checkpoint, from the episodes that finished since the one before."""

    step: int
    episode_return: float | None
    episode_length: float | None
    fitness: float | None  # task score per step (None: the task has no fitness)
    terms: dict[str, float | None]  # term -> scaled contribution per episode
    wall_s: float
    episodes: int | None = None  # None when the trainer does not count them (Brax)
    losses: dict[str, float | None] = field(default_factory=dict)
    # trainer-specific numbers: diverged_fraction, train_sps, eval_s (MJX)
    extra: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurvePoint:
        known = {"step", "episode_return", "episode_length", "fitness", "terms", "wall_s", "episodes", "losses",
                 "extra"}
        extra = {**nums(data.get("extra")), **nums({k: v for k, v in data.items() if k not in known})}
        episodes = data.get("episodes")
        return cls(step=int(data["step"]), episode_return=num(data.get("episode_return")),
                   episode_length=num(data.get("episode_length")), fitness=num(data.get("fitness")),
                   terms=nums(data.get("terms")), wall_s=float(data.get("wall_s") or 0.0),
                   episodes=None if episodes is None else int(episodes), losses=nums(data.get("losses")),
                   extra=extra)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    wall_s: float
    steps_per_s: float
    curve: tuple[CurvePoint, ...]
    trainer: str = "native"
    seed: int = 0
    # --stop-at-success stopped it: at a checkpoint its success rate reached the mark (steps: where it stopped)
    reached_success: bool = False
    # CPU seconds the job's process spent training and evaluating it (all threads; a population job's shared evenly
    # by its members); 0.0 in runs from before it was recorded
    cpu_s: float = 0.0
    device: str = "cpu"  # where its network updates ran: JAX's backend in the job ("cpu", "gpu", "tpu")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainResult:
        curve = tuple(CurvePoint.from_dict(p) for p in data.get("curve") or ())
        # runs before schema 3 said it only on the last curve point (the native trainer's extra key)
        reached = data.get("reached_success")
        if reached is None:
            reached = bool(curve and curve[-1].extra.get("stopped_at_success"))
        return cls(steps=int(data["steps"]), wall_s=float(data["wall_s"]), steps_per_s=float(data["steps_per_s"]),
                   curve=curve, trainer=str(data.get("trainer") or "native"), seed=int(data.get("seed") or 0),
                   reached_success=bool(reached), cpu_s=float(data.get("cpu_s") or 0.0),
                   device=str(data.get("device") or "cpu"))


@dataclass(frozen=True)
class TermStats:
    scale: float
    episode_sum: float | None  # scaled contribution per episode, mean over the evaluation episodes
    per_step_mean: float | None  # raw (unscaled) value per step
    per_step_std: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TermStats:
        return cls(scale=float(data["scale"]), episode_sum=num(data.get("episode_sum")),
                   per_step_mean=num(data.get("per_step_mean")), per_step_std=num(data.get("per_step_std")))


@dataclass(frozen=True)
class Evaluation:
    """Deterministic rollouts of the trained policy for the task's full episode length."""

    episodes: int
    fitness_mean: float | None  # None when the task has no fitness metric (or it was not finite)
    fitness_std: float | None
    success_rate: float | None  # share of episodes with fitness >= the task's threshold
    return_mean: float | None  # under the candidate's own reward
    episode_length_mean: float
    terms: dict[str, TermStats]
    # the task's fitness version (env/task.py): scores of different versions are never compared; None in runs
    # written before versions existed (they count as version 1) and for tasks without a fitness
    fitness_version: int | None = None
    # each episode's task score (None: not finite, or no fitness) and length in control steps (shorter than the
    # task's episode: it ended early); empty in runs before schema 3
    episode_scores: tuple[float | None, ...] = ()
    episode_lengths: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(episodes=int(data["episodes"]), fitness_mean=num(data.get("fitness_mean")),
                   fitness_std=num(data.get("fitness_std")), success_rate=num(data.get("success_rate")),
                   return_mean=num(data.get("return_mean")),
                   episode_length_mean=float(data.get("episode_length_mean") or 0.0),
                   terms={k: TermStats.from_dict(v) for k, v in (data.get("terms") or {}).items()},
                   fitness_version=data.get("fitness_version"),
                   episode_scores=tuple(num(v) for v in data.get("episode_scores") or ()),
                   episode_lengths=tuple(int(v) for v in data.get("episode_lengths") or ()))


@dataclass(frozen=True)
class SeedEvaluation:
    """One training seed's result, for candidates trained on several seeds (--train-seeds)."""

    seed: int
    fitness_mean: float | None
    success_rate: float | None
    return_mean: float | None
    steps: int
    wall_s: float
    episode_scores: tuple[float | None, ...] = ()  # as Evaluation.episode_scores
    cpu_s: float = 0.0  # as TrainResult.cpu_s

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeedEvaluation:
        return cls(seed=int(data["seed"]), fitness_mean=num(data.get("fitness_mean")),
                   success_rate=num(data.get("success_rate")), return_mean=num(data.get("return_mean")),
                   steps=int(data.get("steps") or 0), wall_s=float(data.get("wall_s") or 0.0),
                   episode_scores=tuple(num(v) for v in data.get("episode_scores") or ()),
                   cpu_s=float(data.get("cpu_s") or 0.0))


@dataclass(frozen=True)
class Robustness:
    """evolve --select-robust: the candidate's trained policies under the stress set (evaluate/stress.py), per
    training seed: the condition that scored lowest (the worst case) and its episodes' task scores, and the
    unperturbed baseline's, measured alongside on the same episode seeds."""

    worst: tuple[str, ...]  # per seed, the worst condition's name ("push 0.5 m/s"; "baseline" when none was lower)
    worst_scores: tuple[tuple[float | None, ...], ...]  # per seed, each episode's task score under it
    baseline_scores: tuple[tuple[float | None, ...], ...]  # per seed, each episode's task score unperturbed
    conditions: int = 0  # conditions measured per seed, the baseline included

    @property
    def worst_score(self) -> float | None:
        """The worst case's task score: the mean over seeds of its episodes' mean (None: a score not finite)."""
        return _mean_of_means(self.worst_scores)

    @property
    def baseline_score(self) -> float | None:
        return _mean_of_means(self.baseline_scores)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Robustness:
        def per_seed(key: str) -> tuple[tuple[float | None, ...], ...]:
            return tuple(tuple(num(v) for v in seed) for seed in data.get(key) or ())

        return cls(worst=tuple(str(w) for w in data.get("worst") or ()), worst_scores=per_seed("worst_scores"),
                   baseline_scores=per_seed("baseline_scores"), conditions=int(data.get("conditions") or 0))


def _mean_of_means(per_seed: tuple[tuple[float | None, ...], ...]) -> float | None:
    if not per_seed or any(not s or any(x is None for x in s) for s in per_seed):
        return None
    return sum(sum(x for x in s if x is not None) / len(s) for s in per_seed) / len(per_seed)


@dataclass(frozen=True)
class FilmedEpisode:
    """One evaluation episode a video shows, and how it ended (evaluate/episodes.py chooses it)."""

    video: str  # file name inside the candidate's directory
    role: str  # "representative" (closest to the median episode score) | "worst" (the lowest score)
    episode: int  # its index among the evaluation episodes
    episodes: int  # how many evaluation episodes there were
    score: float | None  # its task score (None: the task has no fitness, or it was not finite)
    steps: int  # control steps it ran (alive); the video ends there
    ended_early: bool  # the task's termination ended it before the full episode length
    success: bool | None  # its score reached the task's success threshold (None: no threshold or no score)
    frames: int = 0  # video frames of the episode (from its start); the end card, the marked last state, follows

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FilmedEpisode:
        success = data.get("success")
        return cls(video=str(data["video"]), role=str(data["role"]), episode=int(data["episode"]),
                   episodes=int(data.get("episodes") or 0), score=num(data.get("score")), steps=int(data["steps"]),
                   ended_early=bool(data.get("ended_early")), success=None if success is None else bool(success),
                   frames=int(data.get("frames") or 0))


@dataclass(frozen=True)
class Film:
    """The rollout video and thumbnail strip of an evaluated candidate (file names inside its directory)."""

    video: str | None
    strip: str | None
    seconds: float = 0.0  # time spent filming
    reason: str | None = None  # why it could not be filmed (a film failure never fails the candidate)
    # what the videos show: the representative episode (`video`), then the worst one when the spread is large;
    # empty in runs filmed before episodes were chosen (their video shows evaluation episode 0)
    episodes: tuple[FilmedEpisode, ...] = ()
    spread: str | None = None  # why the worst episode is filmed too, in words (None: it is not)

    @property
    def representative(self) -> FilmedEpisode | None:
        return next((e for e in self.episodes if e.role == "representative"), None)

    @property
    def worst(self) -> FilmedEpisode | None:
        return next((e for e in self.episodes if e.role == "worst"), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Film:
        return cls(video=data.get("video"), strip=data.get("strip"), seconds=float(data.get("seconds") or 0.0),
                   reason=data.get("reason"),
                   episodes=tuple(FilmedEpisode.from_dict(e) for e in data.get("episodes") or ()),
                   spread=data.get("spread"))


@dataclass(frozen=True)
class Candidate:
    """One reward program of a generation and everything that happened to it. Its id never changes."""

    id: str  # g{generation}c{index:02d}
    generation: int
    index: int  # order of arrival in the generation (failed samples keep their index)
    status: Status = Status.PENDING
    reason: str | None = None  # why it failed, written for the LLM and the user
    source: str | None = None  # the program as checked and trained
    scales: dict[str, float] | None = None
    origin: str = "llm"  # "llm" | "mutation" (LLM-free mode) | "init" (the user's own reward)
    model: str | None = None  # the LLM that wrote it (None: LLM-free)
    check: CheckReport | None = None
    train: TrainResult | None = None
    evaluation: Evaluation | None = None  # of the first training seed (its policy is the one filmed)
    film: Film | None = None
    seeds: tuple[SeedEvaluation, ...] = ()  # every training seed, when trained on more than one
    stop: Stop | None = None  # why its training ended, when it was evaluated (None: a run before schema 3, full budget)
    # evolve --inherit (execute/inherit.py): the candidate whose trained policy its search trainings start from, and
    # the env steps behind that policy (the parent's own and what the parent inherited): its cost on top of its own
    inherits: str | None = None
    inherited_steps: int = 0
    stress: Robustness | None = None  # evolve --select-robust: its worst case under stress (evaluate/stress.py)
    island: int = 0  # evolve --islands (execute/islands.py): the island it belongs to

    @staticmethod
    def make_id(generation: int, index: int) -> str:
        return f"g{generation}c{index:02d}"

    @property
    def fitness(self) -> float | None:
        """The task score when evaluated and finite, else None (a NaN or a failure never wins); the mean over the
        training seeds when there are several (None if any seed has none)."""
        return self._over_seeds("fitness_mean")

    @property
    def success_rate(self) -> float | None:
        return self._over_seeds("success_rate")

    def _over_seeds(self, name: str) -> float | None:
        if self.status is not Status.EVALUATED or self.evaluation is None:
            return None
        if not self.seeds:  # one training seed: its evaluation
            value: float | None = getattr(self.evaluation, name)
            return value
        values = [getattr(s, name) for s in self.seeds]
        return None if any(v is None for v in values) else sum(values) / len(values)

    @property
    def cut_short(self) -> bool:
        """Halving or adaptive allocation stopped it short of the full budget (Stop.cut_short)."""
        return self.stop is not None and self.stop.cut_short

    @property
    def status_text(self) -> str:
        """The status as people and the LLM read it: what stopped an evaluated candidate's training and how many env
        steps it actually trained ("reached success at 860,160 steps", "stopped by halving at 1,245,184 steps",
        "stopped by adaptive allocation at 500,000 steps"), and the policy it started from under --inherit."""
        if self.status is not Status.EVALUATED or self.train is None:
            return self.status.value
        inherited = f" from {self.inherits}'s policy ({self.inherited_steps:,} steps before)" if self.inherits else ""
        if self.stop in (None, Stop.BUDGET):
            return f"{self.status.value}{inherited}"
        return f"{self.stop.words} at {self.train.steps:,} steps{inherited}"

    @property
    def total_steps(self) -> int | None:
        """The env steps behind its policy: its own training's and, when it inherited, its parent's (what candidates
        are compared by when one started from another's policy)."""
        return None if self.train is None else self.train.steps + self.inherited_steps

    def replace(self, **changes: Any) -> Candidate:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **dataclasses.asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        check_schema(data, f"candidate {data.get('id', '?')}")
        return cls(
            id=str(data["id"]), generation=int(data["generation"]), index=int(data["index"]),
            status=Status(data["status"]), reason=data.get("reason"), source=data.get("source"),
            scales=None if data.get("scales") is None else {k: float(v) for k, v in data["scales"].items()},
            origin=str(data.get("origin") or "llm"), model=data.get("model"),
            check=CheckReport.from_dict(data["check"]) if data.get("check") else None,
            train=TrainResult.from_dict(data["train"]) if data.get("train") else None,
            evaluation=Evaluation.from_dict(data["evaluation"]) if data.get("evaluation") else None,
            film=Film.from_dict(data["film"]) if data.get("film") else None,
            seeds=tuple(SeedEvaluation.from_dict(s) for s in data.get("seeds") or ()),
            stop=_stop_of(data), inherits=data.get("inherits"), inherited_steps=int(data.get("inherited_steps") or 0),
            stress=Robustness.from_dict(data["stress"]) if data.get("stress") else None,
            island=int(data.get("island") or 0),
        )


def _stop_of(data: Mapping[str, Any]) -> Stop | None:
    """A stored candidate's Stop; runs before schema 3 recorded only halving's budget (`stopped_at`) and left a
    success stop on the last curve point."""
    if data.get("stop") is not None:
        return Stop(data["stop"])
    if data.get("stopped_at") is not None:
        return Stop.HALVING
    if data.get("train") and TrainResult.from_dict(data["train"]).reached_success:
        return Stop.SUCCESS
    return None
