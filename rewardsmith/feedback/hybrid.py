"""Hybrid feedback (--feedback hybrid): the vision judge ranks first, a person confirms or reorders on the review page,
and the judge's ranking stands alone only where it is confident and nobody answered by the review deadline.

How sure is the judge? A vision LLM's own statement of confidence says little (they are poorly calibrated), and its
rankings lean on where a picture sits in the request (position bias). So the judge looks twice at the same
pictures: once in candidate order (gen_XX/judge.json, the proposal the page shows) and once in reverse order
(gen_XX/judge_reversed.json). Its margin is how far the two looks agree. The judge is CONFIDENT when

  - both replies were complete and every evaluated candidate could be shown, and
  - both looks pick the same best and the same worst, and
  - the Kendall tau between the two full orders is at least the minimum (--judge-min-tau, 0.6 by default: with 4
    candidates, at most one adjacent pair swapped in the middle; with 3 or fewer, the same order; 1.0 asks for the
    same order every time, -1 for nothing beyond the same best and worst).

Otherwise it is UNSURE and the generation waits for a person however long it takes. The margin (tau, same best,
same worst) and the reason are recorded in gen_XX/judge_proposal.json, which the page shows with the proposal.

Who decided is recorded in the Selection (`decided_by`, a DecidedBy record), in words a person ("reviewer NAME
confirmed the judge's order" or "... changed the judge's order") or the judge ("the judge (MODEL): confident, ...;
no reviewer by the N s deadline"). Where the judge's replies were unusable (or a candidate could not be shown), the
proposal is (partly) the fallback order, task score where the task has one, else candidate order: its `fallback`
says so, the page calls it the fallback order, and a person who takes it "confirmed the fallback order", never the
judge's.
Without --review-deadline a hybrid run uses DEFAULT_DEADLINE_S; plain --feedback human never lets a generation go on
without a person's ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardsmith.config import RunConfig
from rewardsmith.feedback.aggregate import kendall_tau
from rewardsmith.feedback.judge import Verdict
from rewardsmith.runs.store import RunStore, read_json, write_record

MIN_TAU = RunConfig.judge_min_tau  # the default minimum Kendall tau between the judge's two looks
DEFAULT_DEADLINE_S = 600.0
PROPOSAL_NAME = "judge_proposal.json"
SECOND_LOOK = "judge_reversed"  # gen_XX/judge_reversed.json: the look with the pictures in reverse order


@dataclass(frozen=True)
class Proposal:
    """The judge's ranking that a person confirms or changes, and whether it may stand on its own."""

    order: tuple[str, ...]  # the judge's full order (its own placements, then the fallback's), best first
    reasons: dict[str, str]
    summary: str
    confident: bool
    why: str  # one sentence: what makes it confident or unsure
    tau: float | None  # Kendall tau between the two looks (None: not comparable)
    same_best: bool
    same_worst: bool
    min_tau: float = MIN_TAU  # the minimum tau this proposal was judged by
    # what of `order` is not the judge's own ranking, in words (judge.complete's note); "": all of it is
    fallback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"order": list(self.order), "reasons": self.reasons, "summary": self.summary,
                "confident": self.confident, "why": self.why, "tau": self.tau, "same_best": self.same_best,
                "same_worst": self.same_worst, "min_tau": self.min_tau, "fallback": self.fallback}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proposal:
        return cls(order=tuple(data["order"]), reasons=dict(data.get("reasons") or {}),
                   summary=str(data.get("summary") or ""), confident=bool(data["confident"]), why=str(data["why"]),
                   tau=data.get("tau"), same_best=bool(data.get("same_best")), same_worst=bool(data.get("same_worst")),
                   min_tau=float(data.get("min_tau", MIN_TAU)), fallback=str(data.get("fallback") or ""))


def _pairs(order: Sequence[str]) -> list[tuple[str, str]]:
    """Every (better, worse) pair an order implies."""
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]


def margin(first: Verdict, second: Verdict, rankable: Sequence[str],
           min_tau: float = MIN_TAU) -> tuple[bool, str, float | None, bool, bool]:
    """(confident, why, tau, same best, same worst) of the judge's two looks at the same `rankable` candidates."""
    a, b = list(first.order), list(second.order)
    same_best = bool(a and b and a[0] == b[0])
    same_worst = bool(a and b and a[-1] == b[-1])
    tau = kendall_tau(_pairs(a), _pairs(b)) if len(a) >= 2 and set(a) == set(b) else None
    if first.unseen or second.unseen:
        return False, f"{', '.join(first.unseen or second.unseen)} could not be shown to the judge", tau, \
            same_best, same_worst
    if not (first.complete and second.complete) or set(a) != set(rankable):
        return False, "the judge did not give two complete rankings", tau, same_best, same_worst
    if not (same_best and same_worst):
        what = " and ".join(w for w, same in (("best", same_best), ("worst", same_worst)) if not same)
        return False, f"its two looks (pictures in candidate order, then reversed) picked a different {what}", tau, \
            same_best, same_worst
    if tau is None or tau < min_tau:
        return False, f"its two looks agree too little (Kendall tau {tau:+.2f} < {min_tau:g})", tau, same_best, \
            same_worst
    return True, f"its two looks agree (same best and worst, Kendall tau {tau:+.2f} >= {min_tau:g})", tau, \
        same_best, same_worst


def proposal(first: Verdict, second: Verdict, order: Sequence[str], rankable: Sequence[str],
             min_tau: float = MIN_TAU, fallback: str = "") -> Proposal:
    """The Proposal from the judge's two looks; `order` is the first look completed with the fallback order,
    `fallback` the note saying what of it the fallback gave ("": nothing)."""
    confident, why, tau, same_best, same_worst = margin(first, second, rankable, min_tau)
    return Proposal(order=tuple(order), reasons=dict(first.reasons), summary=first.summary, confident=confident,
                    why=why, tau=tau, same_best=same_best, same_worst=same_worst, min_tau=min_tau, fallback=fallback)


def save_proposal(store: RunStore, gen: int, made: Proposal) -> None:
    write_record(store.gen_dir(gen) / PROPOSAL_NAME, made.to_dict())


def load_proposal(store: RunStore, gen: int) -> Proposal | None:
    path = store.gen_dir(gen) / PROPOSAL_NAME
    return Proposal.from_dict(read_json(path)) if path.is_file() else None


def kept_judge_order(ranking_order: Sequence[str] | None, best: str, worst: str, made: Proposal) -> bool:
    """Whether a person's ranking of a hybrid generation kept the judge's proposed order (the same full order; a
    best/worst-only ranking: the judge's best and worst)."""
    if ranking_order:
        return list(ranking_order) == list(made.order)
    return best == made.order[0] and worst == made.order[-1]
