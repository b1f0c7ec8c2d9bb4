"""When a replay reproduces a reward card (execute/replay.py decides; the card's README quotes the rule).

A card's result is a measurement of the reward: per training seed, the task score of each evaluation episode (the
run's confirmation from scratch where it made one, else the search's trainings). A replay trains the same reward on
fresh seeds and measures it the same way. Both are shown as confidence.py states every pick (the task score with its
hierarchical bootstrap 95% interval, the success rate with its Wilson 95% interval); the verdict compares seeds.

The rule (RULE): a two-sample t-test on the seeds' means. The replayed mean minus the card's must lie inside the 95%
interval of that difference, +- t(0.975, n + N - 2) x s x sqrt(1/n + 1/N), with n the card's seeds, N the replay's
and s the pooled standard deviation of the seeds' means; on a task with a success threshold, the same on each seed's
success rate. Why seeds and a t quantile: a reward's result varies from one training seed to the next far more than
between the episodes of one policy (cart-pole balance at 24,576 steps, one reward: seed means 0.25, 0.20, 0.25,
0.17, 0.17, each +-0.02 over its episodes), and with two or three seeds the spread itself is barely known; the
bootstrap's interval of two seeds spans only their own range, so "the intervals overlap" fails about a third of
honest replays of 2 seeds against 2 (two groups of 2 from one distribution fall apart with chance 2/6). Two-sided
on purpose: a replay far better than the card also means the card's numbers are not what this reward does here.
s is at least the episodes' standard error of one seed's mean, so seeds that happen to agree exactly (every episode
a success) do not make any difference at all a failure. It needs three seeds in all (n + N >= 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.confidence import Measured

RULE = ("reproduces when the replayed mean task score minus the card's lies inside the 95% interval of that "
        "difference, +- t(0.975, n+N-2) x s x sqrt(1/n + 1/N) (n, N: the card's and the replay's training seeds; s: "
        "the pooled standard deviation of the seeds' mean scores, at least the episodes' standard error of one "
        "seed's mean), and, on a task with a success threshold, the same holds for the seeds' success rates; better "
        "than the card beyond that interval is a difference too")
INTERVAL_SEED = 0  # the bootstrap's generator seed: the same measurement always states the same interval


@dataclass(frozen=True)
class Measurement:
    """Per training seed, its evaluation episodes' task scores, and what they measure."""

    what: str  # in words: "the run's confirmation from scratch", "the search's training", "the replay"
    seeds: tuple[int, ...]
    seed_scores: tuple[tuple[float, ...], ...]  # one tuple per seed, in the order of `seeds`
    steps: tuple[int, ...]  # env steps each seed trained
    threshold: float | None  # an episode succeeds at or above it (None: the task has none)

    def _measured(self) -> Measured:
        return Measured("card", self.seed_scores, self.threshold)

    @property
    def score(self) -> float:
        return self._measured().score

    def score_interval(self) -> tuple[float, float]:
        return self._measured().score_interval(np.random.default_rng(INTERVAL_SEED))

    @property
    def success(self) -> float | None:
        return self._measured().success

    def success_interval(self) -> tuple[float, float] | None:
        return self._measured().success_interval()

    def words(self) -> str:
        """'score 0.718 [0.66, 0.77], success 1.00 [0.81, 1.00] (the replay, 3 seeds x 16 episodes)'."""
        low, high = self.score_interval()
        text = f"score {self.score:.3f} [{low:.3f}, {high:.3f}]"
        interval = self.success_interval()
        if interval is not None and self.success is not None:
            text += f", success {self.success:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"
        episodes = {len(s) for s in self.seed_scores}
        per_seed = f"{episodes.pop()} episodes" if len(episodes) == 1 else "episodes"
        return f"{text} ({self.what}, {len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''} x {per_seed})"

    def to_dict(self) -> dict[str, Any]:
        low, high = self.score_interval()
        return {"what": self.what, "seeds": list(self.seeds), "seed_scores": [list(s) for s in self.seed_scores],
                "steps": list(self.steps), "threshold": self.threshold, "score": self.score,
                "score_interval": [low, high], "success": self.success,
                "success_interval": list(self.success_interval() or ()) or None, "words": self.words()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        threshold = data.get("threshold")
        return cls(what=str(data["what"]), seeds=tuple(int(s) for s in data["seeds"]),
                   seed_scores=tuple(tuple(float(x) for x in s) for s in data["seed_scores"]),
                   steps=tuple(int(s) for s in data["steps"]),
                   threshold=None if threshold is None else float(threshold))


@dataclass(frozen=True)
class Verdict:
    reproduces: bool
    reasons: tuple[str, ...]  # why not, in words (empty when it reproduces)

    def to_dict(self) -> dict[str, Any]:
        return {"reproduces": self.reproduces, "reasons": list(self.reasons), "rule": RULE}


@dataclass(frozen=True)
class Difference:
    """One quantity's replayed mean over seeds minus the card's, and the half-width of its 95% interval."""

    name: str  # "task score" | "success rate"
    card: float
    replayed: float
    half_width: float

    @property
    def within(self) -> bool:
        return abs(self.replayed - self.card) <= self.half_width

    @property
    def weak(self) -> bool:
        """The seeds disagree so much that the interval reaches past zero or twice the larger mean: only a result
        of another kind would count as a difference (more seeds sharpen it)."""
        return 0.0 < self.half_width and max(abs(self.card), abs(self.replayed)) <= self.half_width

    def words(self) -> str:
        return (f"{self.name} {self.replayed:.3f} vs the card's {self.card:.3f}: difference "
                f"{self.replayed - self.card:+.3f}, 95% interval +-{self.half_width:.3f}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "card": self.card, "replayed": self.replayed, "half_width": self.half_width,
                "within": self.within, "weak": self.weak}


def difference(name: str, card: list[np.ndarray], replayed: list[np.ndarray]) -> Difference:
    """The t-test of RULE on per-seed arrays of per-episode values (scores, or 1/0 successes)."""
    from scipy.stats import t as student_t  # scipy comes with jax

    means_a, means_b = np.array([x.mean() for x in card]), np.array([x.mean() for x in replayed])
    n, m = len(means_a), len(means_b)
    squares = ((means_a - means_a.mean()) ** 2).sum() + ((means_b - means_b.mean()) ** 2).sum()
    pooled = float(np.sqrt(squares / (n + m - 2)))
    episode_error = float(np.sqrt(np.mean([x.var(ddof=1) / len(x) if len(x) > 1 else 0.0 for x in card + replayed])))
    spread = max(pooled, episode_error)
    half = float(student_t.ppf(0.975, n + m - 2)) * spread * float(np.sqrt(1 / n + 1 / m))
    return Difference(name, float(means_a.mean()), float(means_b.mean()), half)


def verdict(card: Measurement, replay: Measurement) -> tuple[Verdict, tuple[Difference, ...]]:
    """The rule (RULE) over the card's measurement and the replay's, with each quantity's difference."""
    if len(card.seeds) + len(replay.seeds) < 3:
        return Verdict(False, ("the card's and the replay's seeds are fewer than 3 in all: replay on more seeds",)), ()
    as_arrays = [np.asarray(s, np.float64) for s in card.seed_scores], \
        [np.asarray(s, np.float64) for s in replay.seed_scores]
    found = [difference("task score", *as_arrays)]
    if card.threshold is not None:
        threshold = card.threshold
        found.append(difference("success rate", *([(x >= threshold).astype(np.float64) for x in side]
                                                 for side in as_arrays)))
    reasons = tuple(f"{d.words()}: outside it" for d in found if not d.within)
    return Verdict(not reasons, reasons), tuple(found)
