"""The records that move between the stages of a generation, and how the run store writes and reads them.

    sample ─► Candidate(PENDING) ─► check_all ─► Candidate(CHECKED | *_FAILED, CheckReport)
           ─► train_all ─► Candidate(EVALUATED, TrainResult, Evaluation) ─► film_all ─► Candidate(+ Film)
           ─► rank ─► Selection ─► reflect ─► the next prompt

Every record is a frozen dataclass; a change is a new record (`dataclasses.replace`). A failed candidate is a
record with a failed Status and a reason, never a sentinel number. Standard library only: the sandboxed worker
imports this module too.

Metric keys (one scheme for every trainer, MuJoCo Playground's): a reward term `k` is reported as `reward/k`, its
scaled contribution (SCALES[k] * term) summed over an episode; `fitness` is the task score per step and
`diverged` the share of episodes ended by a physics blow-up. TrainResult.curve and Evaluation.terms key terms by
their bare names; the `reward/` prefix is for flat metric dicts (progress callbacks, the MJX env's metrics).

Schema versions (each JSON file of a run carries `"schema"`):
  1  runs written before records existed: plain dicts without a version field, the same field names (loadable)
  2  these records; a candidate carries its film
  3  a Selection's `decided_by` is a DecidedBy record (it was words: "the task score", "reviewer ana confirmed the
     judge's order", ...); a selection of schema 2 is read into a DecidedBy that keeps its words (DecidedBy.legacy)
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardsmith.errors import UserError

SCHEMA_VERSION = 3
TERM_PREFIX = "reward/"
# The seed of a trained policy's evaluation episodes: the same for every candidate of a run, so their scores compare
# (`train --seeds` evaluates seed s on EVAL_SEED + s), and far above the training seeds (0, 1, ...), so a policy is
# scored from start states it did not train from.
EVAL_SEED = 10_000


def term_key(term: str) -> str:
    """The metric key of a reward term's scaled contribution."""
    return TERM_PREFIX + term


class SchemaError(UserError):
    """A record written by a newer rewardsmith (or not a record at all); the message names the version."""


def check_schema(data: Mapping[str, Any], what: str) -> int:
    """The schema version of a stored record (1 when it has none); refuses versions newer than this code's."""
    version = data.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        raise SchemaError(f"{what} has an invalid schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"{what} was written with record schema version {version}, newer than this rewardsmith's "
                          f"{SCHEMA_VERSION}; upgrade rewardsmith to read it")
    return version


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


def _floats(data: Mapping[str, Any] | None) -> dict[str, float | None]:
    return {str(k): _num(v) for k, v in (data or {}).items()}


def _num(value: Any) -> float | None:
    """JSON stores non-finite numbers as null; records hold None for them (never NaN)."""
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Sample:
    """One sampled response, as a round file (gen_XX/round_N.json) keeps it: an LLM completion, or a mutated
    program in the LLM-free mode. The text is untrusted; extraction and the check come next."""

    text: str | None  # None when the request failed
    error: str | None  # why the request failed
    origin: str = "llm"  # "llm" | "mutation" | "init"
    model: str | None = None  # the litellm model string that wrote it

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        return cls(text=data.get("text"), error=data.get("error"), origin=str(data.get("origin") or "llm"),
                   model=data.get("model"))


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
                   seconds=float(data.get("seconds") or 0.0), per_call_ms=_num(data.get("per_call_ms")),
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
        extra = {**_floats(data.get("extra")), **_floats({k: v for k, v in data.items() if k not in known})}
        episodes = data.get("episodes")
        return cls(step=int(data["step"]), episode_return=_num(data.get("episode_return")),
                   episode_length=_num(data.get("episode_length")), fitness=_num(data.get("fitness")),
                   terms=_floats(data.get("terms")), wall_s=float(data.get("wall_s") or 0.0),
                   episodes=None if episodes is None else int(episodes), losses=_floats(data.get("losses")),
                   extra=extra)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    wall_s: float
    steps_per_s: float
    curve: tuple[CurvePoint, ...]
    trainer: str = "native"
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainResult:
        return cls(steps=int(data["steps"]), wall_s=float(data["wall_s"]), steps_per_s=float(data["steps_per_s"]),
                   curve=tuple(CurvePoint.from_dict(p) for p in data.get("curve") or ()),
                   trainer=str(data.get("trainer") or "native"), seed=int(data.get("seed") or 0))


@dataclass(frozen=True)
class TermStats:
    scale: float
    episode_sum: float | None  # scaled contribution per episode, mean over the evaluation episodes
    per_step_mean: float | None  # raw (unscaled) value per step
    per_step_std: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TermStats:
        return cls(scale=float(data["scale"]), episode_sum=_num(data.get("episode_sum")),
                   per_step_mean=_num(data.get("per_step_mean")), per_step_std=_num(data.get("per_step_std")))


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(episodes=int(data["episodes"]), fitness_mean=_num(data.get("fitness_mean")),
                   fitness_std=_num(data.get("fitness_std")), success_rate=_num(data.get("success_rate")),
                   return_mean=_num(data.get("return_mean")),
                   episode_length_mean=float(data.get("episode_length_mean") or 0.0),
                   terms={k: TermStats.from_dict(v) for k, v in (data.get("terms") or {}).items()},
                   fitness_version=data.get("fitness_version"))


@dataclass(frozen=True)
class SeedEvaluation:
    """One training seed's result, for candidates trained on several seeds (--train-seeds)."""

    seed: int
    fitness_mean: float | None
    success_rate: float | None
    return_mean: float | None
    steps: int
    wall_s: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeedEvaluation:
        return cls(seed=int(data["seed"]), fitness_mean=_num(data.get("fitness_mean")),
                   success_rate=_num(data.get("success_rate")), return_mean=_num(data.get("return_mean")),
                   steps=int(data.get("steps") or 0), wall_s=float(data.get("wall_s") or 0.0))


@dataclass(frozen=True)
class Film:
    """The rollout video and thumbnail strip of an evaluated candidate (file names inside its directory)."""

    video: str | None
    strip: str | None
    seconds: float = 0.0  # time spent filming
    reason: str | None = None  # why it could not be filmed (a film failure never fails the candidate)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Film:
        return cls(video=data.get("video"), strip=data.get("strip"), seconds=float(data.get("seconds") or 0.0),
                   reason=data.get("reason"))


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
    stopped_at: int | None = None  # env steps at which successive halving stopped its training (None: full budget)

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
        if len(self.seeds) <= 1:
            value: float | None = getattr(self.evaluation, name)
            return value
        values = [getattr(s, name) for s in self.seeds]
        return None if any(v is None for v in values) else sum(values) / len(values)

    @property
    def status_text(self) -> str:
        """The status as people and the LLM read it: a candidate stopped by successive halving, or by
        --stop-at-success (its last curve point says so), says where."""
        if self.status is Status.EVALUATED and self.stopped_at is not None:
            return f"stopped at {self.stopped_at:,} steps"
        train = self.train if self.status is Status.EVALUATED else None
        if train is not None and train.curve and train.curve[-1].extra.get("stopped_at_success"):  # native.py's key
            return f"reached the success rate at {train.steps:,} steps (stopped early)"
        return self.status.value

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
            stopped_at=data.get("stopped_at"),
        )


class Decider(enum.StrEnum):
    """Who decided a generation's ranking."""

    SCORE = "score"  # the task score (Eureka's metrics ranker)
    SYNTHETIC = "synthetic"  # the synthetic ranker: the task score standing in for a person (ICPL's proxy)
    PEOPLE = "people"  # one reviewer's ranking, or several reviewers' combined
    JUDGE = "judge"  # the vision judge
    NOBODY = "nobody"  # fewer than two evaluated candidates: nothing to compare


@dataclass(frozen=True)
class DecidedBy:
    """Who decided a generation (Selection.decided_by), as data; describe() words it for people and pages."""

    who: Decider
    reviewers: tuple[str, ...] = ()  # PEOPLE: the reviewers whose rankings counted ("" for one left unnamed)
    how: str = ""  # PEOPLE, several: what ended the wait ("all 3 reviewers ranked", "the review deadline passed ...")
    agreement_tau: float | None = None  # PEOPLE, several: the mean pairwise Kendall tau of their rankings
    same_best: bool | None = None  # PEOPLE, several: whether they all chose the same best
    judge_model: str | None = None  # JUDGE: the vision model
    # hybrid: the judge proposed an order first; a person kept it (True) or changed it (False); None: no proposal
    kept_judge_order: bool | None = None
    confident_why: str = ""  # JUDGE in hybrid: why its ranking could stand alone (its two looks agree ...)
    deadline_s: float | None = None  # JUDGE in hybrid: the review deadline no reviewer met
    legacy: str = ""  # a selection of schema <= 2: the words it recorded, shown as they were

    @property
    def several(self) -> bool:
        return self.who is Decider.PEOPLE and (len(self.reviewers) > 1 or " reviewers (" in self.legacy)

    def describe(self) -> str:
        """Who decided, in words ("the task score", "reviewer ana confirmed the judge's order", ...)."""
        if self.legacy:
            return self.legacy
        if self.who is Decider.PEOPLE:
            names = [name or "anonymous" for name in self.reviewers] or ["anonymous"]
            people = f"{len(names)} reviewers ({', '.join(names)}; {self.how})" if len(names) > 1 else \
                f"reviewer {names[0]}"
            if self.kept_judge_order is None:
                return people
            return f"{people} {'confirmed' if self.kept_judge_order else 'changed'} the judge's order"
        if self.who is Decider.JUDGE:
            if self.deadline_s is None:
                return f"the judge ({self.judge_model})"
            return (f"the judge ({self.judge_model}): confident, {self.confident_why}; no reviewer by the "
                    f"{self.deadline_s:g} s deadline")
        return {Decider.SCORE: "the task score", Decider.SYNTHETIC: "the synthetic ranker (task score)",
                Decider.NOBODY: "nobody: fewer than two evaluated candidates"}[self.who]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "who": self.who.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecidedBy:
        return cls(who=Decider(data["who"]), reviewers=tuple(str(r) for r in data.get("reviewers") or ()),
                   how=str(data.get("how") or ""), agreement_tau=_num(data.get("agreement_tau")),
                   same_best=data.get("same_best"), judge_model=data.get("judge_model"),
                   kept_judge_order=data.get("kept_judge_order"), confident_why=str(data.get("confident_why") or ""),
                   deadline_s=_num(data.get("deadline_s")), legacy=str(data.get("legacy") or ""))

    @classmethod
    def from_legacy(cls, mode: str, words: str) -> DecidedBy | None:
        """A schema-2 selection's words kept as they are; who decided is read from its ranker and the words' start
        (the only place words are read back, and only for runs written before this record existed)."""
        if not words:
            return None  # runs from before issue 16 recorded nobody
        if words.startswith("nobody"):
            return cls(Decider.NOBODY, legacy=words)
        who = {"metrics": Decider.SCORE, "synthetic": Decider.SYNTHETIC, "judge": Decider.JUDGE}.get(mode)
        if who is None:  # a person decided (human, hybrid), unless the hybrid judge's ranking stood
            who = Decider.JUDGE if words.startswith("the judge") else Decider.PEOPLE
        proposal = who is Decider.PEOPLE and words.endswith("the judge's order")
        return cls(who, kept_judge_order=words.endswith("confirmed the judge's order") if proposal else None,
                   legacy=words)


@dataclass(frozen=True)
class Selection:
    """The ranking of one generation and the parent the next generation builds on."""

    generation: int
    mode: str  # the ranker's name: metrics | synthetic | human | judge | hybrid
    ranking: tuple[str, ...]  # ranked candidate ids, best first
    fitness: dict[str, float | None]  # id -> task score of every evaluated candidate (None: not finite)
    best: str | None
    worst: str | None
    best_overall: str | None  # the parent of the next generation
    best_overall_fitness: float | None
    failed: dict[str, str | None]  # id -> reason of every failed candidate
    comments: dict[str, str] = field(default_factory=dict)  # id -> the reviewer's words
    generation_comment: str = ""
    decided_by: DecidedBy | None = None  # who decided (None: a run from before issue 16 recorded nobody)

    @property
    def decided_by_text(self) -> str:
        return self.decided_by.describe() if self.decided_by is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **dataclasses.asdict(self),
                "decided_by": self.decided_by.to_dict() if self.decided_by is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        check_schema(data, f"the selection of generation {data.get('generation', '?')}")
        decided = data.get("decided_by")
        decided_by = DecidedBy.from_dict(decided) if isinstance(decided, Mapping) else \
            DecidedBy.from_legacy(str(data["mode"]), str(decided or ""))
        return cls(generation=int(data["generation"]), mode=str(data["mode"]), ranking=tuple(data.get("ranking") or ()),
                   fitness=_floats(data.get("fitness")), best=data.get("best"), worst=data.get("worst"),
                   best_overall=data.get("best_overall"), best_overall_fitness=_num(data.get("best_overall_fitness")),
                   failed=dict(data.get("failed") or {}), comments=dict(data.get("comments") or {}),
                   generation_comment=str(data.get("generation_comment") or ""), decided_by=decided_by)
