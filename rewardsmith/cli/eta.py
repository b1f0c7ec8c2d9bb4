"""The whole run's time left, estimated from the run's own events as this process sees them (cli/progress.py shows
it): rich's own ETA on the generations bar measured only its last 30 seconds, so a run whose generations take minutes
never showed one.

The model: a generation is its overhead (the LLM, the checks, filming, ranking: everything but training) plus its
trainings, whose wall time is proportional to the env steps they train. Both are measured here: the overhead from the
generations this process ran (the current one's so far, until one has finished), the wall seconds per env step from
the trainings' progress (so --parallel and the population trainer's shared job are measured, not modelled). A
generation's planned steps come from its trainings' budgets, its halving rungs (the better half goes on) or its
adaptive allocation's slices, and its seeds. Generations read back by a resume trained nothing here and do not
count. The estimate exists once a training of this process has finished, and leaves out what cannot be foreseen:
racing's extra seeds, the final confirmation, a person's time to rank.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rewardsmith.events import (
    CandidateUpdate,
    Event,
    GenerationStarted,
    RungStarted,
    SelectionMade,
    SlicesGiven,
    TrainProgress,
)
from rewardsmith.records import Status

TRAINED = (Status.EVALUATED, Status.TRAIN_FAILED)  # a candidate's training is over, whichever way


@dataclass
class _Generation:
    """What this process saw of one generation."""

    started: float
    ended: float | None = None  # when it was ranked
    checked: float | None = None  # the last check-stage update: the trainings start after it
    passed: int = 0  # candidates that passed the check: the trainings to come
    training_from: float | None = None  # when its trainings began (the last check, else the first progress)
    training_to: float | None = None  # its latest training event (progress or a finished training)
    reached: dict[str, int] = field(default_factory=dict)  # training key -> env steps reached
    budget: int = 0  # a training's budget in env steps (the largest total seen)
    rungs: tuple[int, int, int] | None = None  # halving: (rungs, candidates on the first, the first rung's budget)
    allocated: int | None = None  # adaptive allocation: its env steps in all (its slices x a slice's steps)

    @property
    def trained_steps(self) -> int:
        return sum(self.reached.values())

    @property
    def training_s(self) -> float:
        if self.training_from is None or self.training_to is None:
            return 0.0
        return max(0.0, self.training_to - self.training_from)

    @property
    def overhead_s(self) -> float:
        """A ranked generation's time besides training: the LLM, the checks, filming, ranking."""
        return max(0.0, (self.ended or self.started) - self.started - self.training_s)

    def planned_steps(self, per_generation: int | None) -> int:
        """The env steps this generation will train: every candidate and seed the full budget, or under halving
        each rung's candidates (half of the last rung's, rounded up) to the rung's budget, or under adaptive
        allocation its slices."""
        seeds = 1 + max((int(key.rsplit("#", 1)[1]) for key in self.reached if "#" in key), default=0)
        if self.allocated is not None:
            return self.allocated * seeds
        if self.rungs is None:
            candidates = max(self.passed or per_generation or 0, len({key.split("#")[0] for key in self.reached}))
            return candidates * self.budget * seeds
        rungs, count, first = self.rungs
        full = max(self.budget, first * 2 ** (rungs - 1))
        planned, before = 0, 0
        for rung in range(rungs):
            budget = full // 2 ** (rungs - 1 - rung)
            planned += count * (budget - before)  # a survivor continues: only the rung's extra steps
            count, before = math.ceil(count / 2), budget
        return planned * seeds


class RunClock:
    """Fed every event of a run (call it); `seconds_left()` is the estimate, None until one can be made."""

    def __init__(self, per_generation: int | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.per_generation = per_generation
        self.now = now
        self.current: _Generation | None = None
        self.left_after = 0  # generations after the current one
        self.finished: list[_Generation] = []  # generations this process trained and ranked
        self.trainings_done = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, GenerationStarted):
            self.current = _Generation(started=self.now())
            self.left_after = max(0, event.of - event.gen - 1)
            return
        gen = self.current
        if gen is None:
            return
        if isinstance(event, SelectionMade):
            gen.ended = self.now()
            if gen.reached:  # it trained here (a generation read back on a resume did not)
                self.finished.append(gen)
            self.current = None
        elif isinstance(event, RungStarted) and event.rung == 1:
            gen.rungs = (event.of, len(event.candidates), event.steps)
        elif isinstance(event, SlicesGiven) and event.round == 1:
            gen.allocated = event.total * event.slice_steps
        elif isinstance(event, TrainProgress):
            gen.training_from = gen.training_from or gen.checked or self.now()
            gen.training_to = self.now()
            gen.reached[event.id] = max(gen.reached.get(event.id, 0), event.point.step)
            gen.budget = max(gen.budget, event.total)
        elif isinstance(event, CandidateUpdate) and event.status in TRAINED:
            gen.training_to = self.now()
            self.trainings_done += 1
        elif isinstance(event, CandidateUpdate):  # the check stage's verdict on a candidate
            gen.checked = self.now()
            gen.passed += event.status is Status.CHECKED

    def seconds_left(self) -> float | None:
        """The estimated wall seconds until the last generation is ranked; None before a training finished here
        and once no generation is left."""
        gen = self.current
        gens = self.finished + ([gen] if gen is not None else [])
        steps = sum(g.trained_steps for g in gens)
        seconds = sum(g.training_s for g in gens)
        if not self.trainings_done or not steps or not seconds or (gen is None and not self.left_after):
            return None
        per_step = seconds / steps
        overhead = self._overhead()
        plan = self._next_plan([g for g in gens if g.budget][-1])
        left = self.left_after * (overhead + plan * per_step)
        if gen is not None and gen.training_from is None:  # sampling and checking: the rest of that, its trainings
            left += max(0.0, overhead - (self.now() - gen.started)) + plan * per_step
        elif gen is not None:
            left += max(0, self._planned(gen) - gen.trained_steps) * per_step
        return left

    def _planned(self, gen: _Generation) -> int:
        return gen.planned_steps(self.per_generation)

    def _next_plan(self, latest: _Generation) -> int:
        """A coming generation's planned steps: as the latest that trained here, with K candidates (a generation
        samples until K pass the check)."""
        return dataclasses.replace(latest, passed=self.per_generation or latest.passed).planned_steps(None)

    def _overhead(self) -> float:
        """A generation's time besides training: the mean of the ranked ones, else the current one's so far."""
        if self.finished:
            return sum(g.overhead_s for g in self.finished) / len(self.finished)
        gen = self.current
        if gen is None:
            return 0.0
        return (gen.training_from or self.now()) - gen.started

    @property
    def basis(self) -> str:
        """What the estimate stands on, in words."""
        return f"{self.trainings_done} training{'s' if self.trainings_done != 1 else ''} so far"


def duration_words(seconds: float) -> str:
    """A duration as people say it: "under a minute", "about 12 min", "about 1 h 05 min"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
