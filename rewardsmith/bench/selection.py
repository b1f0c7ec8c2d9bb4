"""How often a selection rule picks the true best reward: generations simulated, no training.

Each candidate has a true behaviour: in an episode it does the task (holds the kneel) with probability p, scoring
around mu_hold, and otherwise fails (falls) scoring around mu_fall; success is an episode scoring at least the
threshold (0.5), which the holding episodes do and the failing ones do not. So a candidate can have a higher mean
score than another and still fail more often — the kneel run's g1c01 (0.760 mean, falls in 2 of 16 episodes) against
g1c00 (0.718, holds in all 16). A generation of K candidates is measured on E episodes each, and each rule picks:

  old  the highest mean task score (the rule before issue 24)
  new  rewardsmith/confidence.choose: success first, then score, each drawn again from its measurement

The true best is the one a person watching would pick: the most reliable (highest true p, within 0.02 counted as
equal), then the higher true mean score. The share of generations in which each rule picks it is counted over
`replays` generations where the measured top two overlap (their score intervals, mean +- 1.96 standard errors,
intersect): where the old rule's win is inside the noise. As a check of the other reading of "best", the share
in which each picks the highest true MEAN score is printed too.

    .venv/bin/python -m rewardsmith.bench selection [--replays 1000 --samples 4 --episodes 16 --seed 0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewardsmith.confidence import choose
from rewardsmith.records import Candidate, Evaluation, Status, Stop, TrainResult

THRESHOLD = 0.5  # an episode succeeds at or above this score
SIGMA = 0.05  # episode-to-episode spread of a score within its mode


@dataclass(frozen=True)
class Truth:
    p: float  # the true chance that an episode does the task
    mu_hold: float
    mu_fall: float

    @property
    def mean(self) -> float:
        return self.p * self.mu_hold + (1 - self.p) * self.mu_fall


def draw_truth(rng: np.random.Generator) -> Truth:
    return Truth(p=float(rng.uniform(0.6, 1.0)), mu_hold=float(rng.uniform(0.6, 0.9)),
                 mu_fall=float(rng.uniform(0.05, 0.3)))


def episodes_of(truth: Truth, rng: np.random.Generator, episodes: int) -> np.ndarray:
    holds = rng.random(episodes) < truth.p
    scores = np.where(holds, rng.normal(truth.mu_hold, SIGMA, episodes), rng.normal(truth.mu_fall, SIGMA, episodes))
    return np.clip(scores, 0.0, 1.0)


def candidate(index: int, scores: np.ndarray) -> Candidate:
    """A measured candidate as the selection rule reads it (a full-budget training, one seed)."""
    evaluation = Evaluation(episodes=len(scores), fitness_mean=float(scores.mean()), fitness_std=float(scores.std()),
                            success_rate=float(np.mean(scores >= THRESHOLD)), return_mean=None,
                            episode_length_mean=0.0, terms={}, episode_scores=tuple(float(x) for x in scores))
    return Candidate(id=Candidate.make_id(0, index), generation=0, index=index, status=Status.EVALUATED,
                     train=TrainResult(steps=1, wall_s=0.0, steps_per_s=0.0, curve=()), evaluation=evaluation,
                     stop=Stop.BUDGET)


def true_best(truths: list[Truth]) -> int:
    top = max(t.p for t in truths)
    reliable = [i for i, t in enumerate(truths) if t.p >= top - 0.02]
    return max(reliable, key=lambda i: truths[i].mean)


def overlap(scores: list[np.ndarray]) -> bool:
    """Whether the measured top two by mean score have intersecting 95% intervals."""
    means = [s.mean() for s in scores]
    first, second = np.argsort(means)[::-1][:2]
    half = [1.959964 * s.std(ddof=1) / np.sqrt(len(s)) for s in scores]
    return bool(means[first] - half[first] <= means[second] + half[second])


@dataclass(frozen=True)
class Accuracy:
    replays: int
    old: float  # share of generations where the old rule picked the true best
    new: float
    old_by_mean: float  # ... the candidate with the highest true mean score
    new_by_mean: float


def simulate(replays: int = 1000, samples: int = 4, episodes: int = 16, seed: int = 0) -> Accuracy:
    rng = np.random.default_rng(seed)
    hits = np.zeros(4)
    done = 0
    while done < replays:
        truths = [draw_truth(rng) for _ in range(samples)]
        scores = [episodes_of(t, rng, episodes) for t in truths]
        if not overlap(scores):
            continue
        old = int(np.argmax([s.mean() for s in scores]))
        picked = choose([candidate(i, s) for i, s in enumerate(scores)], THRESHOLD, seed=done).best
        new = int(picked[-2:]) if picked is not None else -1
        best, by_mean = true_best(truths), int(np.argmax([t.mean for t in truths]))
        hits += [old == best, new == best, old == by_mean, new == by_mean]
        done += 1
    old_acc, new_acc, old_mean, new_mean = (float(h) / replays for h in hits)
    return Accuracy(replays, old_acc, new_acc, old_mean, new_mean)


def report(accuracy: Accuracy, samples: int, episodes: int) -> str:
    return (f"selection rules on {accuracy.replays} simulated generations (K = {samples}, {episodes} episodes each) "
            f"whose measured top two overlap:\n"
            f"  picks the true best (most reliable, then highest mean): old rule {accuracy.old:.1%}, "
            f"new rule {accuracy.new:.1%}  ({(accuracy.new - accuracy.old) * 100:+.1f} points)\n"
            f"  picks the highest true mean score:                      old rule {accuracy.old_by_mean:.1%}, "
            f"new rule {accuracy.new_by_mean:.1%}")
