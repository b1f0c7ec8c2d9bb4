"""The quality benchmark's rules, as pure functions over per-seed statistics (each stated in words in every report).

- RANDOM_RULE: the random-normalised score (evolved − random) / (reference − random), with a uniform random policy as
  the floor. (Earlier reports called it Eureka's human-normalised score; it is not: the field's floor is the sparse
  reward, below.)
- HUMAN_RULE: the human-normalised score as the field defines it, (evolved − sparse) / (reference − sparse): the
  task's reference reward is "human", and the floor is the task's SPARSE reward — its success signal alone (the
  task's per-step score as the one reward term, rewardsmith/env/sparse.py), retrained on the same seeds and budget.
  Eureka divides by |human − sparse|; here a reference below the sparse reward leaves the score undefined instead
  (it says so), as a reference within noise of its floor does.
- BEATS_RULE: evolved beats the reference beyond the seed spread.
- AT_LEAST_RULE: evolved is at least the reference (the field's "≥ human" count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EPSILON = 1e-3  # absolute floor of "noise", in the task's fitness units
_UNDEFINED = "undefined when |reference − {floor}| <= max(reference seed std, {floor} seed std, {eps:g}), or when " \
             "reference < {floor}"
RANDOM_RULE = ("random-normalised score = (evolved − random) / (reference − random), random = a uniform random "
               f"policy; {_UNDEFINED.format(floor='random', eps=EPSILON)}, or when no evolved reward trained")
HUMAN_RULE = ("human-normalised score = (evolved − sparse) / (reference − sparse), human = the reference reward, "
              "sparse = the task's per-step score as the only reward term, trained on the same seeds and budget; "
              f"{_UNDEFINED.format(floor='sparse', eps=EPSILON)} (the ratio would flip sign; Eureka divides by "
              "|reference − sparse|), or when the sparse or reference reward failed to train on every seed, or when "
              "no evolved reward trained")
BEATS_RULE = "evolved beats reference when evolved mean − evolved std > reference mean + reference std (std over seeds)"
AT_LEAST_RULE = ("evolved is at least the reference when evolved mean >= reference mean (over the same seeds, no "
                 "spread asked)")
FAILED_RULE = "a task whose evolved or reference training failed on every seed counts as neither"


@dataclass(frozen=True)
class Stat:
    """Mean ± (population) std of one number over seeds, and the per-seed values it comes from."""

    mean: float
    std: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat | None:
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        array = np.asarray(finite, dtype=np.float64)
        return cls(float(array.mean()), float(array.std()), tuple(finite))


@dataclass(frozen=True)
class NormalisedScore:
    value: float | None  # None: undefined, and `reason` says why
    reason: str | None


def within_noise(reference: Stat, floor: Stat) -> bool:
    return abs(reference.mean - floor.mean) <= max(reference.std, floor.std, EPSILON)


def normalised(evolved: Stat | None, reference: Stat | None, floor: Stat, floor_name: str) -> NormalisedScore:
    """(evolved − floor) / (reference − floor), or None with the reason it is undefined (the rules above)."""
    if reference is None:
        return NormalisedScore(None, "the reference reward failed to train on every seed")
    if within_noise(reference, floor):
        return NormalisedScore(None, f"reference {reference.mean:.4g} is within noise of {floor_name} "
                                     f"{floor.mean:.4g} (noise {max(reference.std, floor.std, EPSILON):.3g}) at this "
                                     "budget")
    if reference.mean < floor.mean:
        return NormalisedScore(None, f"reference {reference.mean:.4g} is below {floor_name} {floor.mean:.4g}")
    if evolved is None:
        return NormalisedScore(None, "no evolved reward trained")
    return NormalisedScore((evolved.mean - floor.mean) / (reference.mean - floor.mean), None)


def random_normalised_score(evolved: Stat | None, reference: Stat | None, random: Stat) -> NormalisedScore:
    """RANDOM_RULE."""
    return normalised(evolved, reference, random, "random")


def human_normalised_score(evolved: Stat | None, reference: Stat | None, sparse: Stat | None) -> NormalisedScore:
    """HUMAN_RULE."""
    if sparse is None:
        return NormalisedScore(None, "the sparse reward failed to train on every seed")
    return normalised(evolved, reference, sparse, "sparse")


def beats_reference(evolved: Stat | None, reference: Stat | None) -> bool:
    """BEATS_RULE: higher fitness is better on every task."""
    if evolved is None or reference is None:
        return False
    return evolved.mean - evolved.std > reference.mean + reference.std


def at_least_reference(evolved: Stat | None, reference: Stat | None) -> bool:
    """AT_LEAST_RULE."""
    if evolved is None or reference is None:
        return False
    return evolved.mean >= reference.mean


def share(flags: Sequence[bool]) -> tuple[int, int, float | None]:
    """(how many are true, of how many, the fraction; None of none)."""
    count = sum(bool(f) for f in flags)
    return count, len(flags), count / len(flags) if flags else None
