"""When a replay reproduces a reward card (execute/replay.py decides; the card's README quotes the rule).

A card's result is a measurement of the reward: per training seed, the task score of each evaluation episode (the
run's confirmation from scratch where it made one, else the search's trainings). A replay trains the same reward on
fresh seeds and measures it the same way. Both are summed up as confidence.py states every pick: the task score with
its hierarchical bootstrap 95% interval (seeds, then episodes) and, on a task with a success threshold, the success
rate with its Wilson 95% interval.

Why overlap of intervals: with two or three seeds a mean moves a lot between trainings (cart-pole at 40k steps:
0.40 on one seed, 1.00 on the next), so "the replayed mean inside the card's interval" would call honest seed noise a
failure; two 95% intervals that do not even overlap are a difference well beyond that noise. Two-sided on purpose: a
replay far better than the card also means the card's numbers are not what this reward does here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.confidence import Measured

RULE = ("reproduces when the replayed task score's 95% interval (hierarchical bootstrap over seeds and their "
        "evaluation episodes) overlaps the card's, and, on a task with a success threshold, the replayed success "
        "rate's Wilson 95% interval overlaps the card's; a replay far better than the card is a difference too")
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
                   steps=tuple(int(s) for s in data["steps"]), threshold=None if threshold is None else float(threshold))


@dataclass(frozen=True)
class Verdict:
    reproduces: bool
    reasons: tuple[str, ...]  # why not, in words (empty when it reproduces)

    def to_dict(self) -> dict[str, Any]:
        return {"reproduces": self.reproduces, "reasons": list(self.reasons), "rule": RULE}


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def verdict(card: Measurement, replay: Measurement) -> Verdict:
    """The rule (RULE) over the card's measurement and the replay's."""
    reasons = []
    card_score, replay_score = card.score_interval(), replay.score_interval()
    if not _overlap(card_score, replay_score):
        side = "below" if replay_score[1] < card_score[0] else "above"
        reasons.append(f"the replayed task score [{replay_score[0]:.3f}, {replay_score[1]:.3f}] lies {side} the "
                       f"card's [{card_score[0]:.3f}, {card_score[1]:.3f}]")
    card_success, replay_success = card.success_interval(), replay.success_interval()
    if card_success is not None and replay_success is not None and not _overlap(card_success, replay_success):
        side = "below" if replay_success[1] < card_success[0] else "above"
        reasons.append(f"the replayed success rate [{replay_success[0]:.2f}, {replay_success[1]:.2f}] lies {side} "
                       f"the card's [{card_success[0]:.2f}, {card_success[1]:.2f}]")
    return Verdict(not reasons, tuple(reasons))
