"""Progress events: what a run tells the terminal, TensorBoard and the benchmarks while it works, one frozen record
per kind. A stage calls its `Report` with a record; a listener picks the kinds it cares about by type (cli/ui.py
renders each kind with a function of its own, cli/progress.py drives its bars, runs/tensorboard.py writes scalars).

Events only describe; nothing reads them back from disk (the run store keeps the records themselves), so a field
may change with its only readers. Records of floors above this one (a seed's result, the judge's proposal, the
reviewers' agreement) are carried as plain typed fields. Standard library and rewardsmith.records only.

Trainings in flight (TrainingEvent: TrainProgress, Placed, Retry) carry the training's key as `id`: an executor
sends the request's key (`g0c01#0`, `seed 3`), and the train stage shows a candidate's first seed as its bare id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rewardsmith.records import CurvePoint, Selection, Status, Stop


@dataclass(frozen=True)
class Event:
    """Any progress event."""


Report = Callable[[Event], None]  # where a run's progress events go (the terminal, TensorBoard, a test's list)


# ---- the generation loop ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationStarted(Event):
    """A generation begins (or is read back on a resume)."""

    gen: int  # the generation, counted from 0 (the terminal counts from 1)
    of: int  # the run's number of generations (--iterations)


@dataclass(frozen=True)
class LLMAsked(Event):
    """One model asked for programs in one sampling round."""

    gen: int
    round_index: int  # the sampling round within the generation, from 0
    n: int  # programs asked for
    model: str  # the litellm model string


@dataclass(frozen=True)
class LLMRetry(Event):
    """A failed LLM request that will be sent again."""

    model: str
    attempt: int  # the retry about to be made, from 1
    of: int  # the most retries allowed
    wait_s: float  # the back-off before it
    reason: str  # why the request failed


@dataclass(frozen=True)
class CandidateUpdate(Event):
    """A candidate checked (the check stage) or final after training (the train stage)."""

    id: str
    status: Status
    reason: str | None  # why it failed
    stop: Stop | None = None  # what ended its training (None: not trained yet, or it failed)
    steps: int | None = None  # the env steps it actually trained


@dataclass(frozen=True)
class RaceRound(Event):
    """The selection rule is not sure of a generation's pick: each contender trains one more seed (racing)."""

    round: int  # from 1
    of: int  # --race-seeds: the most rounds
    contenders: tuple[str, ...]  # the current pick first
    p_best: float  # the current pick's P(best) before this round
    raced: tuple[str, ...] = ()  # the contenders of this generation, which train again (the best so far does not)


@dataclass(frozen=True)
class RungStarted(Event):
    """A successive-halving rung begins."""

    rung: int  # from 1
    of: int  # the rungs in all
    steps: int  # the env-step budget every candidate of the rung trains to
    candidates: tuple[str, ...]  # the ids trained on this rung


@dataclass(frozen=True)
class SlicesGiven(Event):
    """Adaptive allocation (--allocation adaptive) hands out a round of training slices (execute/allocate.py)."""

    round: int  # from 1
    targets: tuple[tuple[str, int], ...]  # (candidate id, the env steps it trains to) for each slice of the round
    slice_steps: int  # the env steps of one slice
    left: int  # slices left to hand out after this round
    total: int  # the allocation's slices in all (what halving would spend for the generation's K)


@dataclass(frozen=True)
class SelectionMade(Event):
    """A generation ranked (or read back on a resume): who was selected and the best so far."""

    selection: Selection


@dataclass(frozen=True)
class FinalEvaluation(Event):
    """The run's best candidate retrained on fresh seeds."""

    id: str
    seeds: tuple[int, ...]


# ---- trainings in flight ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingEvent(Event):
    """Any event of one training in flight."""

    id: str  # the training's key (an executor's request key, or a candidate id as the train stage shows it)


@dataclass(frozen=True)
class TrainProgress(TrainingEvent):
    """A checkpoint of a training, as the sandboxed child reported it (parsed and checked at the boundary)."""

    total: int  # the env steps the training really runs (its budget rounded to whole PPO iterations)
    point: CurvePoint
    asked: int | None = None  # the budget asked for, where the trainer rounds it to a different `total`


@dataclass(frozen=True)
class Placed(TrainingEvent):
    """Where an attempt of a training runs: a Ray node (node, ip, pid), or a --parallel slot (cpus, gpu)."""

    attempt: int  # from 1
    host: str
    node: str | None = None  # the Ray node id (shortened); None on this machine
    ip: str | None = None  # the Ray node's address
    pid: int | None = None  # the Ray worker process
    cpus: tuple[int, ...] = ()  # the slot's CPUs (empty: shared with the other slots)
    gpu: str | None = None  # the slot's GPU (None: none, or whatever the machine shows)


@dataclass(frozen=True)
class Retry(TrainingEvent):
    """A training whose worker died, tried again."""

    attempt: int  # the attempt about to run, from 2
    reason: str  # what happened to the one before


@dataclass(frozen=True)
class SeedFinished(Event):
    """One seed of `train` (or of a final evaluation, or of a benchmark's retraining) trained and evaluated."""

    seed: int
    status: str  # "ok" | "failed"
    reason: str | None  # why it failed
    fitness: float | None  # the evaluation's task score
    success_rate: float | None
    return_mean: float | None
    steps: int | None  # env steps trained
    wall_s: float | None
    key: str | None = None  # its training's key where it is not "seed S" (a confirmation: "g1c03 seed 1")

    @property
    def training(self) -> str:
        """The key its training's progress events carried."""
        return self.key or f"seed {self.seed}"


# ---- films and the judge ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stressed(Event):
    """evolve --select-robust: a candidate's policies run under the stress set (evaluate/stress.py)."""

    id: str
    worst: str  # the worst condition (of its first seed's policy)
    worst_score: float | None  # the task score under it, the mean over seeds
    baseline_score: float | None  # unperturbed, on the same episodes
    seconds: float


@dataclass(frozen=True)
class Filmed(Event):
    """An evaluated candidate filmed for the review page (no line on the terminal)."""

    id: str
    seconds: float  # time spent filming


@dataclass(frozen=True)
class FilmFailed(Event):
    """An evaluated candidate that could not be filmed."""

    id: str
    reason: str  # the rendering error (the candidate stays evaluated)


@dataclass(frozen=True)
class JudgeAsked(Event):
    """The vision judge shown a generation's filmed candidates."""

    gen: int
    model: str
    images: int  # pictures sent
    image_bytes: int  # their size together


@dataclass(frozen=True)
class JudgeRetry(Event):
    """A judge reply that could not be used; the judge is asked again."""

    attempt: int  # the reply, from 1
    of: int  # the replies allowed
    errors: tuple[str, ...]  # what was wrong with it


@dataclass(frozen=True)
class JudgeFallback(Event):
    """The judge gave no valid full ranking; the rest of the order comes from the fallback."""

    gen: int
    errors: tuple[str, ...]


@dataclass(frozen=True)
class JudgeProposed(Event):
    """The hybrid ranker's proposal (feedback/hybrid.py's Proposal, the fields a listener uses)."""

    gen: int
    order: tuple[str, ...]  # the judge's full order, best first
    confident: bool  # whether it may stand alone when nobody ranks by the deadline
    why: str  # one sentence: what makes it confident or unsure
    tau: float | None  # Kendall tau between the judge's two looks (None: not comparable)


# ---- people ranking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPageOpen(Event):
    """The review page serves the run (told once per run)."""

    url: str
    token: bool  # whether the URL carries the page's token (then it is the key to share)


@dataclass(frozen=True)
class AwaitingRanking(Event):
    """A generation is ready for people to rank; the run waits."""

    gen: int
    of: int  # the run's number of generations
    run: str  # the run's directory, for `rewardsmith rank RUN`
    url: str  # the review page's address
    reviewers: int  # how many reviewers the run waits for
    deadline_s: float | None  # --review-deadline (hybrid: its default deadline)
    judge_confident: bool | None = None  # hybrid: whether the judge's order may stand alone; None: no judge


@dataclass(frozen=True)
class Reviewed(Event):
    """One more reviewer ranked a generation that waits for several."""

    gen: int
    reviewer: str
    count: int  # reviewers who ranked so far
    of: int  # reviewers needed


@dataclass(frozen=True)
class ReviewDeadlinePassed(Event):
    """The deadline passed with nobody's ranking; the run keeps waiting for the first (told once)."""

    gen: int
    deadline_s: float | None
    of: int  # reviewers needed


@dataclass(frozen=True)
class RankingDecided(Event):
    """People's rankings decided a generation (feedback/aggregate.py's decision record, the fields a listener uses)."""

    gen: int
    decided: str  # what ended the wait, in words
    reviewers: tuple[str, ...]  # who ranked
    method: str  # how their rankings were combined
    needed: int  # reviewers the run waited for
    tau_mean: float | None = None  # mean Kendall tau between the reviewers' orders (None: one reviewer, no pair)
    same_best: bool | None = None  # whether they all chose the same best (None: one reviewer)


@dataclass(frozen=True)
class RankingDueFailed(Event):
    """--on-ranking-due's command failed (the run goes on waiting)."""

    gen: int
    command: str
    reason: str


# ---- the quality benchmark --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchTask(Event):
    """The quality benchmark starts a task."""

    task: str  # env/task


@dataclass(frozen=True)
class Retraining(Event):
    """The quality benchmark retrains a reward on fresh seeds."""

    which: str  # "reference", or "evolved <id>"
    seeds: tuple[int, ...]
