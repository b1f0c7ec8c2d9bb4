"""Several reviewers' rankings of one generation -> one order, and how much the reviewers agreed. Pure functions.

Each ranking stands for the pairwise preferences it implies: a full order (best -> worst) every pair of it; a
best/worst-only ranking "best beats every other candidate" and "every other candidate beats worst" (nothing about
the candidates in between). The pairs of all reviewers are fitted with a Bradley–Terry model, P(i beats j) =
p_i / (p_i + p_j), by Hunter's MM iteration (2004), written here with numpy: twenty lines, no new dependency (the
`choix` library does the same, but the run needs nothing else from it). A small symmetric prior (PRIOR pseudo-wins
each way for every pair) keeps the strengths finite when a candidate wins or loses every comparison, and unique when
the comparisons do not connect every candidate; with real preferences it never changes their order.

Agreement between two reviewers is Kendall's tau over the pairs both rankings decide: (agreeing pairs - opposite
pairs) / pairs decided by both; for two full orders that is Kendall's tau-a (1 = the same order, -1 = reversed).
The reported agreement is its mean over every pair of reviewers, with whether they all chose the same best (and
worst).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Protocol

import numpy as np

PRIOR = 0.1  # pseudo-wins each way for every pair of candidates
METHOD = f"Bradley-Terry (MM iteration, prior {PRIOR} pseudo-wins per pair and direction)"


class Review(Protocol):
    """What a reviewer's ranking gives the aggregation (a feedback.ranking.Ranking is one)."""

    @property
    def reviewer(self) -> str: ...
    @property
    def best(self) -> str: ...
    @property
    def worst(self) -> str: ...
    @property
    def order(self) -> tuple[str, ...] | None: ...
    @property
    def comments(self) -> dict: ...
    @property
    def generation_comment(self) -> str: ...


def implied_pairs(review: Review, rankable: Sequence[str]) -> list[tuple[str, str]]:
    """(winner, loser) for every preference the ranking states."""
    if review.order:
        order = list(review.order)
        return [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]
    middle = [c for c in rankable if c not in (review.best, review.worst)]
    return [(review.best, review.worst), *((review.best, c) for c in middle), *((c, review.worst) for c in middle)]


def bradley_terry(ids: Sequence[str], pairs: Sequence[tuple[str, str]], prior: float = PRIOR,
                  iterations: int = 10_000, tolerance: float = 1e-12) -> dict[str, float]:
    """Each candidate's log-strength (mean 0) fitted to the (winner, loser) pairs."""
    index = {cid: i for i, cid in enumerate(ids)}
    n = len(ids)
    wins = np.full((n, n), float(prior))
    np.fill_diagonal(wins, 0.0)
    for winner, loser in pairs:
        wins[index[winner], index[loser]] += 1.0
    games, won = wins + wins.T, wins.sum(axis=1)
    strength = np.ones(n)
    for _ in range(iterations):
        new = won / (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        new /= np.exp(np.log(new).mean())  # fix the scale: geometric mean 1
        done = np.max(np.abs(new - strength)) < tolerance
        strength = new
        if done:
            break
    return {cid: float(np.log(strength[i])) for cid, i in index.items()}


def kendall_tau(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> float | None:
    """Kendall's tau over the pairs both preference lists decide; None when they decide no pair in common."""
    first = {frozenset(p): p[0] for p in a}
    second = {frozenset(p): p[0] for p in b}
    common = first.keys() & second.keys()
    if not common:
        return None
    agree = sum(first[k] == second[k] for k in common)
    return (2 * agree - len(common)) / len(common)


@dataclass(frozen=True)
class Aggregate:
    order: tuple[str, ...]  # every rankable candidate, best first
    strengths: dict[str, float]  # log-strengths of the Bradley–Terry fit
    agreement: dict = field(default_factory=dict)


def aggregate(reviews: Sequence[Review], rankable: Sequence[str]) -> Aggregate:
    """The combined order of the reviewers' rankings and their agreement. Ties in strength (reviewers exactly
    opposed) fall back to the number of reviewers who chose the candidate as best (more first), then as worst
    (fewer first), then candidate id."""
    ids = list(dict.fromkeys([*rankable, *(c for r in reviews for c in (r.best, r.worst, *(r.order or ())))]))
    pairs = {r.reviewer: implied_pairs(r, ids) for r in reviews}
    strengths = bradley_terry(ids, [p for ps in pairs.values() for p in ps])
    best_votes = Counter(r.best for r in reviews)
    worst_votes = Counter(r.worst for r in reviews)
    order = sorted(ids, key=lambda c: (-round(strengths[c], 9), -best_votes[c], worst_votes[c], c))
    return Aggregate(tuple(order), {c: round(strengths[c], 6) for c in order},
                     agreement(reviews, pairs, best_votes, worst_votes))


def agreement(reviews: Sequence[Review], pairs: dict[str, list[tuple[str, str]]], best_votes: Counter,
              worst_votes: Counter) -> dict:
    taus = {f"{a.reviewer} ~ {b.reviewer}": kendall_tau(pairs[a.reviewer], pairs[b.reviewer])
            for a, b in combinations(reviews, 2)}
    known = [t for t in taus.values() if t is not None]
    return {
        "reviewers": len(reviews),
        "kendall_tau_mean": round(sum(known) / len(known), 4) if known else None,
        "kendall_tau": {k: None if t is None else round(t, 4) for k, t in taus.items()},
        "same_best": len(best_votes) == 1 if len(reviews) > 1 else None,
        "same_worst": len(worst_votes) == 1 if len(reviews) > 1 else None,
        "best_votes": dict(best_votes.most_common()),
        "worst_votes": dict(worst_votes.most_common()),
    }


def agreement_text(reviews: Sequence[Review], agreed: dict) -> str:
    """One sentence for the next prompt: how far the reviewers agreed."""
    if len(reviews) < 2:
        return ""
    tau = agreed.get("kendall_tau_mean")
    tau_text = (f"mean Kendall tau {tau:+.2f} between their orders (+1 = the same order, -1 = reversed)"
                if tau is not None else "their rankings share no pair to compare")
    if agreed.get("same_best"):
        best_text = f"all chose {reviews[0].best} as the best"
    else:
        best_text = "they disagreed on the best (" + "; ".join(f"{r.reviewer}: {r.best}" for r in reviews) + ")"
    return f"Agreement: {tau_text}; {best_text}."


def decision(reviews: Sequence[Review], rankable: Sequence[str], needed: int) -> dict:
    """The fields of the decision made from `reviews` where `needed` reviewers were asked for: the Bradley–Terry
    order (one ranking, when the deadline passed with one, keeps its own order, best/worst-only included), every
    comment prefixed with its reviewer's name, a generation comment that says who ranked, how far they agreed and
    why the wait ended, and the `aggregate` record (method, reviewers, strengths, agreement, what decided)."""
    names = [r.reviewer for r in reviews]
    info: dict = {"method": METHOD if len(reviews) > 1 else "one reviewer's ranking", "reviewers": names,
                  "needed": needed, "decided": f"all {needed} reviewers ranked" if len(reviews) >= needed else
                  f"the review deadline passed with {len(reviews)} of {needed} reviewers"}
    order: tuple[str, ...] | None
    if len(reviews) > 1:
        combined = aggregate(reviews, rankable)
        order = combined.order
        info.update(strengths=combined.strengths, agreement=combined.agreement)
        summary = [f"{len(reviews)} reviewers ranked this generation ({', '.join(names)}); the order combines theirs "
                   f"({METHOD}).", agreement_text(reviews, combined.agreement)]
        if len(reviews) < needed:
            summary.append(f"The wait ended because {info['decided']}.")
    else:
        order = reviews[0].order
        summary = [f"Only {names[0]} ranked this generation ({info['decided']})."]
    comments: dict[str, str] = {}
    for review in reviews:
        for cid, text in review.comments.items():
            comments[cid] = (f"{comments[cid]}\n  " if cid in comments else "") + f"{review.reviewer}: {text}"
    generation_comment = "\n".join(summary + [f"{r.reviewer}: {r.generation_comment}" for r in reviews
                                              if r.generation_comment])
    return {"best": order[0] if order else reviews[0].best, "worst": order[-1] if order else reviews[0].worst,
            "order": order, "comments": comments, "generation_comment": generation_comment, "aggregate": info}
