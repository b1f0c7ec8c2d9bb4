"""Adaptive allocation of a generation's training budget (--allocation adaptive): the budget follows the learning
curves, as ORSO (ICLR 2025) allocates training across reward candidates as a bandit over their curves.

The budget: what successive halving would spend for the same K (execute/train_stage.py: K = 4 costs 2 B of env
steps, K = 8 4 B), in slices the size of halving's first rung (B/4 for K >= 3, B/2 for K = 2; never smaller: a B/8
cut ranked hoppers by noise). Every candidate first trains one slice; then each further slice goes to the candidate
whose curve promises most, and continues its training from its checkpoint (the trainer's checkpoint carries its
curve, its training time adds up over its slices, as over halving's rungs). No candidate trains past the full
budget B: one that reaches it is final (Stop.BUDGET), one that reaches success (--stop-at-success) or fails is out
at once. The allocation ends when the budget is spent or nobody is left; a candidate still short of B then stops
there (Stop.ALLOCATION: the budget went to others; like halving's, its score is at a smaller budget and it is not
compared for best).

THE RULE (`next_round`, a pure function of each candidate's task scores after its slices and the slices it holds):

    promise  = latest score + LOOK_AHEAD x slope, the slope being the score's change per slice over its last (up to)
               two slices (0 after one slice)
    index    = promise + EXPLORE x spread x sqrt(ln(slices handed out so far) / slices it holds),
               spread = the highest minus the lowest latest score of the candidates still in play
    a slice goes to the highest index; ties go to the candidate holding fewer slices, then to the earlier one
    reserve  until one candidate reached B (or success), the slices left never drop below what the front-runner (the
             highest promise among those the budget can still finish; ties: more slices held, then the earlier one)
             needs to reach B: then it gets them. So a generation ends with a candidate trained to the full budget
             (comparable for best), as halving's does, unless the front-runner's training fails when too little is
             left for another to get there.

Why these constants: LOOK_AHEAD = 1 slice projects the gain of the very slice being decided; a slope is the
difference of two 16-episode evaluations, and projecting it further multiplies its noise. EXPLORE = 0.5 in units of
the spread: UCB1's sqrt(2) assumes rewards spanning [0, 1] and would give the worst candidate a second slice before
the leader's third; with 0.5 a one-slice candidate gets its second look before the leader's third only when it is
within about a fifth of the spread of the leader's promise (0.5 x (sqrt(ln 5) - sqrt(ln 5 / 2)) = 0.19 at K = 4),
the noise of a first-slice ranking, while the bottom half is left alone (the cut halving makes, graded by the gap
instead of at the median). Where every score is equal (a hard task, all still 0) the spread and the bonus are 0
and ties hand slices to whoever holds fewest, so nobody is dropped at random.

Rounds: with --parallel N on the local executor (or a Ray cluster of N CPUs; N / --train-seeds candidates, at least
one) a round hands out N slices, picked one after another by the rule (one per candidate), so the slots stay busy;
sequentially (N = 1) every slice is decided on the latest evaluations. A trainer that trains a round together (the
population trainer) gets one job per round: its members continue in step from one iteration to one target, so a
round holds candidates that hold the same slices, at most half the generation (halving's second rung).

A resumed run (killed mid-allocation) restarts this generation's allocation for the candidates not yet final, from
their checkpoints: each is asked for one slice; a trainer never trains backwards, so one whose checkpoint is further
along comes back at its checkpoint's steps and holds the slices those steps make. Its earlier scores are not known
(its slope starts again), the budget counts the slices the final candidates hold, and its time of the killed
process is lost, as with halving. With the population trainer that first job continues every member from the
furthest one's iteration (members train in step), so a fresh member may come back untrained: it is scored there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rewardsmith.context import RunContext
from rewardsmith.events import SlicesGiven
from rewardsmith.records import Candidate, Status, Stop

LOOK_AHEAD = 1.0  # slices a candidate's slope is projected ahead (see the module's docstring)
EXPLORE = 0.5  # the exploration bonus's weight, in units of the spread of the latest scores

# trains a round: the candidates, each one's target in env steps, and a callback for each candidate when done
TrainRound = Callable[[list[Candidate], Mapping[str, int], Callable[[Candidate], None]], object]


@dataclass(frozen=True)
class Plan:
    """The allocation's budget for K candidates: slices of `slice_steps`, `cap` of them make the full budget."""

    full: int  # B, env steps
    slice_steps: int
    cap: int  # slices that make B
    total: int  # slices in all: what halving spends for K

    @classmethod
    def of(cls, budgets: Sequence[int], count: int) -> Plan:
        """From halving's rung budgets for `count` candidates (train_stage.rung_budgets): rung r is 2^r slices, and
        halving trains ceil(n/2) of the n candidates of a rung on to the next."""
        alive, before, total = count, 0, 0
        for rung in range(len(budgets)):
            total += alive * (2 ** rung - before)
            before, alive = 2 ** rung, math.ceil(alive / 2)
        return cls(full=budgets[-1], slice_steps=budgets[0], cap=2 ** (len(budgets) - 1), total=total)

    def steps_at(self, slices: int) -> int:
        """The env steps a candidate holding `slices` slices has trained (the full budget at the cap)."""
        return self.full if slices >= self.cap else slices * self.slice_steps

    def held(self, steps: int) -> int:
        """The slices a training that reached `steps` env steps holds (whole PPO iterations round a slice down a
        little), at least one, at most the cap."""
        return min(self.cap, max(1, round(steps / self.slice_steps)))


@dataclass(frozen=True)
class Arm:
    """A candidate as the rule sees it."""

    scores: tuple[float, ...]  # its task score after each slice it trained, oldest first (-inf: none)
    slices: int  # slices it holds (0: it has not trained yet)


def slope(scores: Sequence[float]) -> float:
    """The score's change per slice over the last (up to) two slices; 0 with fewer than two finite scores."""
    recent = [s for s in scores[-3:] if math.isfinite(s)]
    return (recent[-1] - recent[0]) / (len(recent) - 1) if len(recent) > 1 else 0.0


def promise(arm: Arm) -> float:
    """Where its curve points one look-ahead on: -inf without a score (a NaN or no fitness never leads)."""
    latest = arm.scores[-1] if arm.scores else -math.inf
    return latest + LOOK_AHEAD * slope(arm.scores) if math.isfinite(latest) else -math.inf


def index(arm: Arm, handed_out: int, spread: float) -> float:
    """The optimistic estimate a slice goes by: the promise plus the exploration bonus."""
    bonus = EXPLORE * spread * math.sqrt(math.log(max(handed_out, 1)) / max(arm.slices, 1))
    return promise(arm) + bonus


def next_round(arms: Sequence[Arm], cap: int, left: int, handed_out: int, width: int = 1, reserve: bool = True,
               together: bool = False) -> list[int]:
    """The arms (by position) that get a slice this round, in the order picked; [] when the allocation is over.

    `arms`: the candidates still in play; `cap`: the slices that make the full budget; `left`: slices left to hand
    out; `handed_out`: slices handed out so far (the bonus's clock); `width`: the most slices in the round;
    `reserve`: nobody has reached the full budget or success yet (keep enough for the front-runner to finish);
    `together`: the round trains in one job, so its arms must hold the same slices. Arms that have not trained yet
    all get their first slice, whatever is left (every candidate trains at least one)."""
    fresh = [i for i, arm in enumerate(arms) if arm.slices == 0]
    if fresh:
        return fresh
    finite = [p for arm in arms if math.isfinite(p := arm.scores[-1] if arm.scores else -math.inf)]
    spread = max(finite) - min(finite) if finite else 0.0
    picks: list[int] = []
    while len(picks) < width and left - len(picks) > 0:
        after = left - len(picks)  # slices left before this pick

        def need(i: int) -> int:
            return cap - arms[i].slices - (i in picks)

        open_ = [i for i, arm in enumerate(arms) if i not in picks and arm.slices < cap and
                 (not together or not picks or arm.slices == arms[picks[0]].slices)]
        if not open_:
            break
        choice = max(open_, key=lambda i: (index(arms[i], handed_out + len(picks), spread), -arms[i].slices, -i))
        finishable = [i for i in range(len(arms)) if 0 < need(i) <= after]
        if reserve and finishable:
            front = max(finishable, key=lambda i: (promise(arms[i]), arms[i].slices, -i))
            if choice != front and after - 1 < need(front):  # another pick would leave it unable to finish
                if front not in open_:
                    break  # it is in this round already (or cannot join it): the rest waits
                choice = front
        picks.append(choice)
    return picks


def slots(executor: object) -> int:
    """Trainings an executor runs at once (its `slots()` where it says; else one)."""
    count = getattr(executor, "slots", None)
    return max(1, int(count())) if callable(count) else 1


def allocate(ctx: RunContext, candidates: list[Candidate], todo: list[Candidate], budgets: Sequence[int],
             train: TrainRound, final: Callable[[Candidate], None], score: Callable[[Candidate], float],
             width: int, together: bool) -> None:
    """Shares the generation's budget out among `todo` (its CHECKED candidates; `candidates`: the whole
    generation, whose already-final candidates hold part of it on a resume), slice by slice by `next_round`.
    `budgets`: halving's rungs for the generation; `train` trains a round; `final` takes each candidate whose
    training is final; `score` is what the rule reads (the task score, -inf for none)."""
    before = [c for c in candidates if c.status.passed_check and c.status is not Status.CHECKED]
    plan = Plan.of(budgets, len(todo) + len(before))
    prior = sum(plan.held(c.train.steps) if c.status is Status.EVALUATED and c.train else 1 for c in before)
    reserve = not any(c.status is Status.EVALUATED and c.stop in (Stop.BUDGET, Stop.SUCCESS) for c in before)
    pool = {c.id: c for c in todo}  # in play, by id, in the generation's order
    held = {c.id: 0 for c in todo}
    scores: dict[str, list[float]] = {c.id: [] for c in todo}
    rounds = 0
    while pool:
        ids = list(pool)
        left = plan.total - prior - sum(held.values())
        picks = [ids[k] for k in next_round([Arm(tuple(scores[i]), held[i]) for i in ids], plan.cap, left,
                                            plan.total - left, width, reserve, together)]
        if not picks:
            break
        rounds += 1
        targets = {cid: plan.steps_at(held[cid] + 1) for cid in picks}
        ctx.report(SlicesGiven(rounds, tuple(targets.items()), plan.slice_steps, max(0, left - len(picks)),
                               plan.total))
        for cid in picks:  # handed out: held even if the training never reports (so the loop always ends)
            held[cid] += 1

        def done(cand: Candidate) -> None:
            nonlocal reserve
            trained = cand.status is Status.EVALUATED and cand.train is not None
            if trained:  # a checkpoint further along (a resume) holds more than it was given
                held[cand.id] = max(held[cand.id], plan.held(cand.train.steps if cand.train else 0))
            if not trained or cand.stop is Stop.SUCCESS or held[cand.id] >= plan.cap:
                reserve = reserve and not trained  # one trained to the full budget (or success): comparable
                del pool[cand.id]
                final(cand)
                return
            scores[cand.id].append(score(cand))
            pool[cand.id] = cand  # evaluated: its next slice continues it and adds up its time

        train([pool[cid] for cid in picks], targets, done)
    for cand in pool.values():  # the budget is spent: the rest stop where they are
        if cand.status is Status.EVALUATED:
            final(cand.replace(stop=Stop.ALLOCATION))
