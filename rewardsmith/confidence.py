"""The selection rule, written once, and the confidence every pick states.

RULE (what `choose` does, in the words every pick is shown with):

    Success first, then score. Each evaluation episode is worth 1 if it does the task (its score reaches the
    task's success threshold) plus a tenth of its score measured in thresholds; the best reward is the candidate
    most often ahead on that worth when every contender's episodes and seeds are drawn again (P(best)). Only
    candidates that trained their full budget or reached success are compared; candidates stopped by halving (or
    by adaptive allocation) short of it are not. The run's best so far stays unless another is more likely best
    by more than 0.05. Below P(best) 0.8, or with fewer than 2 training seeds per contender, the pick is not
    confident: a tie among the contenders (those with P(best) >= 0.05). Tasks without a threshold: the score
    alone.

    evolve --select-robust: the same rule, each candidate's episodes being those of its worst case under stress
    (the perturbation of its policy with the lowest mean task score, evaluate/stress.py) per training seed; a
    candidate without that measurement is not compared. Its line starts "worst case under stress: ".

Why this rule: a mean score over 16 episodes moves by a standard error of ~0.05 on kneel, and the old rule picked a
candidate that falls (0.760 ± 0.200, success 14/16) over one that holds the pose (0.718 ± 0.151, 16/16) on that
noise. Success first is what a person watching would choose (doing the task every time over doing it better on
average); the tenth of a score keeps quality deciding among equally reliable candidates (one failed episode in 16
outweighs a score gain under 0.6 thresholds); drawing the measurements again turns "inside the noise" into a
probability instead of a win. `python -m rewardsmith.bench selection` measures the rule against the old one.

How measurements are drawn again (`p_best`): the mean worth of a hierarchical bootstrap (seeds with replacement, then
each seed's episodes with replacement), so seed-to-seed variance counts once there are several seeds. Candidates
stored before per-episode scores existed are drawn from a normal with their mean worth and its standard error.
Intervals shown: Wilson 95% for a success rate (well-behaved at 0/n and n/n: 16 of 16 is not certainty), the
bootstrap's 2.5-97.5% for a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardsmith.records import MIN_SEEDS, Candidate, Choice, Status

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval
CONFIDENT = 0.8  # P(best) a pick needs to be stated as confident
SCORE_WEIGHT = 0.1  # an episode's worth: success (0 or 1) + SCORE_WEIGHT x its score in units of the threshold
CONTENDER = 0.05  # P(best) from which a candidate is a contender: it could well be the best
TIE = 0.05  # P(best) by which a newcomer must beat the incumbent to replace it
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
    before those existed, its mean and standard error), and the task's success threshold."""

    id: str
    seed_scores: tuple[tuple[float, ...], ...]  # per training seed, each episode's task score
    threshold: float | None  # an episode succeeds at or above it (None: the task has none)
    fallback: tuple[float, float, float | None, int] | None = None  # (mean, std, success rate, episodes) if no scores

    @property
    def seeds(self) -> int:
        return max(1, len(self.seed_scores))

    @property
    def episodes(self) -> int:
        return self.fallback[3] if self.fallback is not None else sum(len(s) for s in self.seed_scores)

    @property
    def score(self) -> float:
        if self.fallback is not None:
            return self.fallback[0]
        return float(np.mean([np.mean(s) for s in self.seed_scores]))

    @property
    def successes(self) -> int | None:
        if self.threshold is None:
            return None
        if self.fallback is not None:
            rate = self.fallback[2]
            return None if rate is None else round(rate * self.episodes)
        return sum(x >= self.threshold for s in self.seed_scores for x in s)

    @property
    def success(self) -> float | None:
        count = self.successes
        return None if count is None or not self.episodes else count / self.episodes

    def success_interval(self) -> tuple[float, float] | None:
        count = self.successes
        return None if count is None else wilson(count, self.episodes)

    def worth(self, scores: np.ndarray) -> np.ndarray:
        """Each episode's worth: 1 if it succeeds, plus SCORE_WEIGHT x its score in units of the threshold."""
        if self.threshold is None:
            return scores
        unit = abs(self.threshold) or 1.0
        return (scores >= self.threshold) + SCORE_WEIGHT * scores / unit

    def draw_worth(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """`draws` redraws of the mean worth (hierarchical bootstrap; a normal for a stored mean)."""
        if self.fallback is not None:
            mean, std, rate, n = self.fallback
            unit = abs(self.threshold or 1.0) or 1.0
            centre = mean if self.threshold is None else (rate or 0.0) + SCORE_WEIGHT * mean / unit
            spread = std if self.threshold is None else math.hypot(
                math.sqrt(max(rate or 0.0, 0.0) * (1 - (rate or 0.0))), SCORE_WEIGHT * std / unit)
            return rng.normal(centre, spread / math.sqrt(max(n, 1)), draws)
        return _bootstrap(rng, [self.worth(np.asarray(s, np.float64)) for s in self.seed_scores], draws)

    def score_interval(self, rng: np.random.Generator, draws: int = DRAWS) -> tuple[float, float]:
        if self.fallback is not None:
            mean, std, _, n = self.fallback
            half = Z95 * std / math.sqrt(max(n, 1))
            return mean - half, mean + half
        means = _bootstrap(rng, [np.asarray(s, np.float64) for s in self.seed_scores], draws)
        low, high = np.percentile(means, [2.5, 97.5])
        return float(low), float(high)


def _seed_means(rng: np.random.Generator, seeds: Sequence[np.ndarray], draws: int) -> np.ndarray:
    """[draws, seeds]: each seed's mean over its values drawn again with replacement."""
    per_seed = np.empty((draws, len(seeds)))
    for j, values in enumerate(seeds):
        per_seed[:, j] = values[rng.integers(0, len(values), (draws, len(values)))].mean(axis=1)
    return per_seed


def _bootstrap(rng: np.random.Generator, seeds: list[np.ndarray], draws: int) -> np.ndarray:
    """Means of a hierarchical bootstrap: seeds with replacement, each seed's values with replacement."""
    per_seed = _seed_means(rng, seeds, draws)
    picks = rng.integers(0, len(seeds), (draws, len(seeds)))
    return np.take_along_axis(per_seed, picks, axis=1).mean(axis=1)


def paired_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], rng: np.random.Generator,
                      draws: int = DRAWS) -> tuple[float, float, float]:
    """(mean of a - mean of b, and its 95% interval) for two rewards trained on the same seeds and evaluated on the
    same episodes (a[j][i] and b[j][i]: seed j's evaluation episode i, whose start the seed fixes): a hierarchical
    bootstrap of the per-episode differences, seeds with replacement, then each seed's episodes, the same draws for
    both, so what a seed and an episode's start do to both count once. Seeds whose episode counts differ are
    drawn on each side separately."""
    if len(a) != len(b) or not a:
        raise ValueError("a paired difference needs the same seeds, at least one, on both sides")
    per_seed = np.empty((draws, len(a)))
    for j, (mine, theirs) in enumerate(zip(a, b, strict=True)):
        first, second = np.asarray(mine, np.float64), np.asarray(theirs, np.float64)
        if first.size == second.size:
            per_seed[:, j] = (first - second)[rng.integers(0, first.size, (draws, first.size))].mean(axis=1)
        else:
            per_seed[:, j] = (_seed_means(rng, [first], draws) - _seed_means(rng, [second], draws))[:, 0]
    picks = rng.integers(0, len(a), (draws, len(a)))
    diffs = np.take_along_axis(per_seed, picks, axis=1).mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    point = float(np.mean([np.mean(s) for s in a]) - np.mean([np.mean(s) for s in b]))
    return point, float(low), float(high)


def measured(cand: Candidate, threshold: float | None, robust: bool = False) -> Measured | None:
    """A candidate's measurement, or None when it has no task score to compare (failed, unevaluated, NaN).
    `robust` (evolve --select-robust): its episodes under its worst case under stress stand in for its evaluation's
    (None where it has no such measurement)."""
    ev = cand.evaluation
    if cand.status is not Status.EVALUATED or ev is None or cand.fitness is None:
        return None
    if robust:
        worst = cand.stress.worst_scores if cand.stress is not None else ()
        if not worst or not all(s and all(x is not None for x in s) for s in worst):
            return None
        return Measured(cand.id, tuple(tuple(float(x) for x in s if x is not None) for s in worst), threshold)
    per_seed = [s.episode_scores for s in cand.seeds] if cand.seeds else [ev.episode_scores]
    if all(s and all(x is not None for x in s) for s in per_seed):
        return Measured(cand.id, tuple(tuple(float(x) for x in s if x is not None) for s in per_seed), threshold)
    # stored before per-episode scores: the mean, the spread, the success rate and the episodes behind them
    episodes = ev.episodes * max(1, len(cand.seeds))
    return Measured(cand.id, (), threshold, fallback=(cand.fitness, ev.fitness_std or 0.0, cand.success_rate,
                                                      episodes))


def comparable(cand: Candidate) -> bool:
    """Compared for best: trained its full budget or reached success (halving's losers and those adaptive allocation
    stopped were measured on a smaller budget)."""
    return cand.status is Status.EVALUATED and not cand.cut_short and cand.fitness is not None


def p_best(items: Sequence[Measured], rng: np.random.Generator, draws: int = DRAWS) -> dict[str, float]:
    """How often each candidate comes out ahead on the mean worth of its episodes when every measurement is drawn
    again (ties in a draw go to the earlier candidate: they are measure-zero with continuous scores)."""
    if not items:
        return {}
    worth = np.stack([m.draw_worth(rng, draws) for m in items])  # [K, draws]
    counts = np.bincount(np.argmax(worth, axis=0), minlength=len(items))
    return {m.id: float(c) / draws for m, c in zip(items, counts, strict=True)}


# --select-robust compares the candidates that do the task unperturbed, where any do: on hopper hop, where every hopping
# policy fell under friction x1.2, the worst case alone preferred a policy that never hopped (it had less to lose)
DOES_TASK = 0.5
RULE = ("success first, then score: each evaluation episode is worth 1 if it does the task plus a tenth of its "
        "score in units of the success threshold (the score alone where the task has none); the best reward is the "
        "candidate most often ahead on that worth when every contender's episodes and seeds are drawn again "
        "(P(best)); only candidates that trained their full budget or reached success are compared; the best so far "
        "stays unless another is more likely best by more than 0.05; below P(best) 0.8, or with fewer than 2 seeds "
        "per contender, the pick is a tie among the contenders")
ROBUST = ("; --select-robust: each candidate's episodes are those of its worst case under stress (the perturbation "
          "with the lowest mean task score, evaluate/stress.py), not its evaluation's; where some candidates do the "
          f"task unperturbed (at least {DOES_TASK:.0%} of their evaluation episodes succeed), only those are compared")
WORST_CASE = "worst case under stress: "  # how a pick by the worst case says so in its line


def choose(candidates: Sequence[Candidate], threshold: float | None, seed: int = 0,
           incumbent: str | None = None, robust: bool = False) -> Choice:
    """The selection rule over `candidates` (only the comparable ones count); deterministic for a given seed. The
    `incumbent` (the run's best so far) keeps first place unless another is more likely best by more than TIE.
    `robust`: by each candidate's worst case under stress instead of its evaluation (measured's)."""
    rng = np.random.default_rng(seed)
    items = [m for c in candidates if comparable(c) and (m := measured(c, threshold, robust)) is not None]
    if robust and threshold is not None:
        unperturbed = {c.id: c.success_rate for c in candidates}
        doers = [m for m in items if (unperturbed.get(m.id) or 0.0) >= DOES_TASK]
        items = doers or items
    chances = p_best(items, rng)
    # most likely best first; equal chances fall back to the point estimates (success, then score)
    ranked = sorted(items, key=lambda m: (chances[m.id], m.success or 0.0, m.score), reverse=True)
    held = [m for m in ranked if m.id == incumbent]
    if held and chances[ranked[0].id] - chances[held[0].id] <= TIE:  # a coin flip does not replace the best so far
        ranked = held + [m for m in ranked if m.id != incumbent]
    order = tuple(m.id for m in ranked)
    contenders = tuple(m.id for m in ranked if chances[m.id] >= CONTENDER) or order[:1]
    seeds = {m.id: m.seeds for m in ranked}
    confident = bool(order) and chances[order[0]] >= CONFIDENT and all(seeds[c] >= MIN_SEEDS for c in contenders)
    lines = {m.id: (WORST_CASE if robust else "") + describe(m, rng) for m in ranked}
    return Choice(order[0] if order else None, order, chances, contenders, seeds, confident, lines,
                  RULE + (ROBUST if robust else ""))


def intervals(cand: Candidate, threshold: float | None, seed: int = 0) -> tuple[str, str]:
    """A candidate's score and success rate with their 95% intervals, as `show` prints them ("" where unmeasured)."""
    m = measured(cand, threshold)
    if m is None:
        return "", ""
    low, high = m.score_interval(np.random.default_rng(seed))
    success = m.success_interval()
    rate = m.success
    return (f"{m.score:.3f} [{low:.3f}, {high:.3f}]",
            "" if success is None or rate is None else f"{rate:.2f} [{success[0]:.2f}, {success[1]:.2f}]")


def describe(m: Measured, rng: np.random.Generator) -> str:
    low, high = m.score_interval(rng)
    score = f"score {m.score:.3f} [{low:.3f}, {high:.3f}]"
    interval = m.success_interval()
    if interval is None or m.success is None:
        return score
    return f"success {m.success:.2f} [{interval[0]:.2f}, {interval[1]:.2f}], {score}"
