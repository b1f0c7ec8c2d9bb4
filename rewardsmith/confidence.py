"""The selection rule, written once, and the confidence every pick states.

RULE (what `choose` does, in the words every pick is shown with):

    The best reward is the candidate most often best when every contender's evaluation is drawn again from what was
    measured: first by the share of successful episodes (tasks with a success threshold), then by the task score.
    Only candidates that trained their full budget or reached success are compared; candidates stopped by halving
    lost a rung and are not. Below P(best) 0.8, or with fewer than 2 training seeds per contender, the pick is
    not confident: it is a tie among the contenders.

Why this rule: a mean score over 16 episodes moves by a standard error of ~0.05 on kneel, and the old rule picked a
candidate that falls (0.760 ± 0.200, success 14/16) over one that holds the pose (0.718 ± 0.151, 16/16) on that
noise. Success first is what a person watching would choose (doing the task every time over doing it better on
average); drawing the measurements again turns "inside the noise" into a probability instead of a win.

How a measurement is drawn again (`p_best`): the success count of n episodes from its posterior predictive
(Beta(k+1, n-k+1), then Binomial(n, p)): 16 of 16 is not certainty; the task score as the mean of a hierarchical
bootstrap (seeds with replacement, then each seed's episodes with replacement), so seed-to-seed variance counts once
there are several seeds. Candidates stored before per-episode scores existed are drawn from a normal with their
mean and standard error. Intervals: Wilson 95% for a success rate (well-behaved at 0/n and n/n), the bootstrap's
2.5-97.5% for a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardsmith.records import Candidate, Status, Stop

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval
CONFIDENT = 0.8  # P(best) a pick needs to be stated as confident
CONTENDER = 0.05  # P(best) from which a candidate is a contender: it could well be the best
MIN_SEEDS = 2  # training seeds each contender needs before a confident claim (seed-to-seed variance)
DRAWS = 4000  # redraws of the measurements behind P(best) and the score intervals


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a success rate."""
    if n <= 0:
        return 0.0, 1.0
    rate = successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Measured:
    """What is known of one candidate's quality: per seed, its episodes' task scores (or, for a candidate stored
    before those existed, its mean and standard deviation), and its successful episodes out of all."""

    id: str
    seed_scores: tuple[tuple[float, ...], ...]  # per training seed, each episode's task score
    successes: int | None  # episodes at or above the success threshold, all seeds together (None: no threshold)
    episodes: int
    fallback: tuple[float, float] | None = None  # (mean, standard error) where no episode scores were stored

    @property
    def seeds(self) -> int:
        return max(1, len(self.seed_scores))

    @property
    def score(self) -> float:
        if self.fallback is not None:
            return self.fallback[0]
        return float(np.mean([np.mean(s) for s in self.seed_scores]))

    @property
    def success(self) -> float | None:
        return None if self.successes is None or not self.episodes else self.successes / self.episodes

    def success_interval(self) -> tuple[float, float] | None:
        return None if self.successes is None else wilson(self.successes, self.episodes)

    def draw_scores(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """`draws` redraws of the mean task score (hierarchical bootstrap; normal for a stored mean)."""
        if self.fallback is not None:
            mean, error = self.fallback
            return rng.normal(mean, error, draws)
        seeds = [np.asarray(s, np.float64) for s in self.seed_scores]
        picks = rng.integers(0, len(seeds), (draws, len(seeds)))
        means = np.empty((draws, len(seeds)))
        for j, scores in enumerate(seeds):  # each seed's episodes resampled, then seeds resampled
            episode_means = scores[rng.integers(0, len(scores), (draws, len(scores)))].mean(axis=1)
            means[:, j] = episode_means
        return np.take_along_axis(means, picks, axis=1).mean(axis=1)

    def draw_successes(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """`draws` redraws of the success rate from its posterior predictive (zeros where there is no threshold)."""
        if self.successes is None:
            return np.zeros(draws)
        rates = rng.beta(self.successes + 1, self.episodes - self.successes + 1, draws)
        return rng.binomial(self.episodes, rates) / self.episodes

    def score_interval(self, rng: np.random.Generator, draws: int = DRAWS) -> tuple[float, float]:
        low, high = np.percentile(self.draw_scores(rng, draws), [2.5, 97.5])
        return float(low), float(high)


def measured(cand: Candidate, threshold: float | None) -> Measured | None:
    """A candidate's measurement, or None when it has no task score to compare (failed, unevaluated, NaN)."""
    ev = cand.evaluation
    if cand.status is not Status.EVALUATED or ev is None or cand.fitness is None:
        return None
    per_seed = [s.episode_scores for s in cand.seeds] if cand.seeds else [ev.episode_scores]
    episodes = sum(len(s) for s in per_seed)
    if all(s and all(x is not None for x in s) for s in per_seed):
        scores = tuple(tuple(float(x) for x in s if x is not None) for s in per_seed)
        successes = None if threshold is None else sum(x >= threshold for s in scores for x in s)
        return Measured(cand.id, scores, successes, episodes)
    # stored before per-episode scores: the mean, its standard error, the rate times the episodes
    n = max(1, ev.episodes * max(1, len(cand.seeds)))
    error = (ev.fitness_std or 0.0) / math.sqrt(n)
    rate = cand.success_rate
    successes = None if threshold is None or rate is None else round(rate * n)
    return Measured(cand.id, (), successes, n, fallback=(cand.fitness, error))


def comparable(cand: Candidate) -> bool:
    """Compared for best: trained its full budget or reached success (halving's losers lost on a smaller budget)."""
    return cand.status is Status.EVALUATED and cand.stop is not Stop.HALVING and cand.fitness is not None


def p_best(items: Sequence[Measured], rng: np.random.Generator, draws: int = DRAWS) -> dict[str, float]:
    """How often each candidate comes out best when every measurement is drawn again: by success rate first, then
    by task score (a lexicographic winner per draw)."""
    if not items:
        return {}
    success = np.stack([m.draw_successes(rng, draws) for m in items])  # [K, draws]
    score = np.stack([m.draw_scores(rng, draws) for m in items])
    top = success.max(axis=0)
    score_among_top = np.where(success >= top - 1e-12, score, -np.inf)
    winners = np.argmax(score_among_top, axis=0)
    counts = np.bincount(winners, minlength=len(items))
    return {m.id: float(c) / draws for m, c in zip(items, counts, strict=True)}


@dataclass(frozen=True)
class Choice:
    """A pick and how sure it is."""

    best: str | None
    order: tuple[str, ...]  # every compared candidate, most likely best first
    p_best: dict[str, float]
    contenders: tuple[str, ...]  # P(best) >= CONTENDER, the pick first
    seeds: dict[str, int]  # training seeds behind each contender's measurement
    confident: bool
    lines: dict[str, str]  # id -> its measurement in words ("success 1.00 [0.81, 1.00], score 0.718 [...]")

    def statement(self) -> str:
        """The pick's confidence in one line, as `show`, the end of a run, the page and the export header say it."""
        if self.best is None:
            return "no candidate to compare"
        seeds = sum(self.seeds.get(c, 1) for c in self.contenders)
        sure = "" if self.confident else (" — not confident: a tie" if len(self.contenders) > 1 else
                                          f" — not confident: fewer than {MIN_SEEDS} seeds")
        return (f"best {self.best}: {self.lines[self.best]}, P(best) {self.p_best[self.best]:.2f} among "
                f"{len(self.contenders)} contender{'s' if len(self.contenders) != 1 else ''} ({seeds} seed"
                f"{'s' if seeds != 1 else ''}){sure}")

    def to_dict(self) -> dict[str, object]:
        return {"best": self.best, "order": list(self.order), "p_best": self.p_best,
                "contenders": list(self.contenders), "seeds": self.seeds, "confident": self.confident,
                "statement": self.statement(), "measurements": self.lines, "rule": RULE}


RULE = ("the candidate most often best when every contender's evaluation is drawn again: first by the share of "
        "successful episodes (where the task has a success threshold), then by the task score; only candidates "
        "that trained their full budget or reached success are compared; below P(best) 0.8, or with fewer than 2 "
        "seeds per contender, the pick is a tie among the contenders")


def choose(candidates: Sequence[Candidate], threshold: float | None, seed: int = 0) -> Choice:
    """The selection rule over `candidates` (only the comparable ones count); deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    items = [m for c in candidates if comparable(c) and (m := measured(c, threshold)) is not None]
    chances = p_best(items, rng)
    # most likely best first; equal chances fall back to the point estimates (success, then score)
    ranked = sorted(items, key=lambda m: (chances[m.id], m.success or 0.0, m.score), reverse=True)
    order = tuple(m.id for m in ranked)
    contenders = tuple(m.id for m in ranked if chances[m.id] >= CONTENDER) or order[:1]
    seeds = {m.id: m.seeds for m in ranked}
    confident = bool(order) and chances[order[0]] >= CONFIDENT and all(seeds[c] >= MIN_SEEDS for c in contenders)
    lines = {m.id: describe(m, rng) for m in ranked}
    return Choice(order[0] if order else None, order, chances, contenders, seeds, confident, lines)


def describe(m: Measured, rng: np.random.Generator) -> str:
    low, high = m.score_interval(rng)
    score = f"score {m.score:.3f} [{low:.3f}, {high:.3f}]"
    interval = m.success_interval()
    if interval is None or m.success is None:
        return score
    return f"success {m.success:.2f} [{interval[0]:.2f}, {interval[1]:.2f}], {score}"
