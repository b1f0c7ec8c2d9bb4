"""What the parent and a sandboxed job exchange: one request record per job (its payload) and the records the jobs
return. Both cross the process boundary as JSON. A job's result comes from a child that ran untrusted code, so the
parent reads it with `from_untrusted`, which turns anything malformed into a FAILED result naming what was wrong,
never an exception. Statuses are sandbox.protocol.JobStatus's, the one vocabulary of a job's outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from rewardsmith.config import TrainConfig
from rewardsmith.records import EVAL_SEED, Evaluation, TrainResult
from rewardsmith.sandbox.protocol import JobStatus


class JobRequest(Protocol):
    """A request for one job: the job's name in jobs.JOBS and its JSON payload."""

    JOB: ClassVar[str]

    def to_payload(self) -> dict[str, Any]: ...


class FlatJob:
    """A request whose payload is its fields as they are (no nested records)."""

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Self:
        return cls(**data)


@dataclass(frozen=True)
class CheckJob(FlatJob):
    """The pre-flight check of a reward program; the job returns a CheckReport's fields."""

    JOB: ClassVar[str] = "check"
    env: str
    task: str  # a task name or free text (resolved again in the child)
    source: str
    seed: int = 0
    samples: int = 256  # states the check samples
    given_states: bool = False  # the parent placed them in the job's folder (program/check.py's STATES_FILE)


INHERIT_FILE = "inherit.npz"  # the policy a training starts from (evolve --inherit), in its job's folder


@dataclass(frozen=True)
class TrainJob:
    """Train a policy on a reward program, evaluate it, save policy.npz and trace.npz (and checkpoint.npz)."""

    JOB: ClassVar[str] = "train"
    env: str
    task: str
    source: str
    train: TrainConfig
    trainer: str  # a name in train.trainers.TRAINERS
    eval_seed: int = EVAL_SEED
    checkpoint: bool = False  # continue from checkpoint.npz if there, and save it at the end
    inherit: bool = False  # start from the policy in inherit.npz (evolve --inherit) unless a checkpoint continues

    def to_payload(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> TrainJob:
        return cls(**{**data, "train": TrainConfig().with_overrides(**data["train"])})


@dataclass(frozen=True)
class PopulationMember:
    key: str  # who asks (a request's key); the member's progress lines and result carry it
    source: str
    seed: int
    folder: str  # a plain name under the job's directory: the member's policy, trace and checkpoint
    inherit: bool = False  # start from the policy in its folder's inherit.npz (evolve --inherit)


@dataclass(frozen=True)
class PopulationJob:
    """A generation's reward programs trained together on MJX and evaluated together, each member in its folder."""

    JOB: ClassVar[str] = "population"
    env: str
    task: str
    train: TrainConfig
    members: tuple[PopulationMember, ...]
    eval_seed: int = EVAL_SEED
    checkpoint: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> PopulationJob:
        return cls(**{**data, "train": TrainConfig().with_overrides(**data["train"]),
                      "members": tuple(PopulationMember(**m) for m in data["members"])})


@dataclass(frozen=True)
class PlayJob(FlatJob):
    """One evaluation episode of a trained policy (policy.npz in the job's folder) on a seed; writes trace.npz."""

    JOB: ClassVar[str] = "play"
    env: str
    task: str
    source: str  # the candidate's reward: untrusted, it gives the episode's return
    seed: int


@dataclass(frozen=True)
class SelftestJob:
    """A trusted probe of the sandbox's own tests (jobs/selftest.py): its name and its parameters."""

    JOB: ClassVar[str] = "selftest"
    probe: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {"probe": self.probe, **self.params}


@dataclass(frozen=True)
class TrainingResult:
    """A training's result: the train job's, or one member's of the population job."""

    status: JobStatus
    reason: str | None = None  # why it failed, for the LLM and the user
    train: TrainResult | None = None
    evaluation: Evaluation | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status.value}

    @classmethod
    def failed(cls, reason: str) -> TrainingResult:
        return cls(JobStatus.FAILED, reason)

    @classmethod
    def from_untrusted(cls, data: object) -> TrainingResult:
        """A training's JSON as the child wrote it; FAILED with the reason when it failed or is malformed."""
        if not isinstance(data, Mapping):
            return cls.failed("the training job returned nothing")
        if data.get("status") != JobStatus.OK:
            return cls.failed(str(data.get("reason") or data.get("error") or "the training job returned nothing"))
        try:
            train, evaluation = TrainResult.from_dict(data["train"]), Evaluation.from_dict(data["evaluation"])
            return cls(JobStatus.OK, None, train, evaluation)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            return cls.failed(f"the training job returned a malformed result ({type(err).__name__}: {err})")


@dataclass(frozen=True)
class PopulationResult:
    members: Mapping[str, TrainingResult]  # key -> that member's result

    def to_dict(self) -> dict[str, Any]:
        return {"status": JobStatus.OK.value, "members": {k: r.to_dict() for k, r in self.members.items()}}

    @classmethod
    def from_untrusted(cls, data: object) -> PopulationResult | None:
        """The population job's JSON; None when it holds no member results at all."""
        members = data.get("members") if isinstance(data, Mapping) else None
        if not isinstance(members, Mapping):
            return None
        return cls({str(k): TrainingResult.from_untrusted(v) for k, v in members.items()})


@dataclass(frozen=True)
class PlayResult:
    status: JobStatus
    reason: str | None = None
    evaluation: Evaluation | None = None  # of the one episode

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status.value}

    @classmethod
    def from_untrusted(cls, data: object) -> PlayResult:
        if not isinstance(data, Mapping) or data.get("status") != JobStatus.OK:
            reason = data.get("reason") or data.get("error") if isinstance(data, Mapping) else None
            return cls(JobStatus.FAILED, str(reason or "no result"))
        try:
            return cls(JobStatus.OK, None, Evaluation.from_dict(data["evaluation"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            return cls(JobStatus.FAILED, f"the episode came back malformed ({type(err).__name__}: {err})")
