"""Reward composition, in one place: total = Σ SCALES[k] · terms[k], and each term's scaled contribution.

Both trainers (native numpy and MJX jax.numpy), the training statistics and the evaluation call `compose`, so a
reward means the same number everywhere. `xp` is numpy or jax.numpy; terms are broadcast to the batch shape
(a term may legitimately be a per-state constant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def compose(scales: Mapping[str, float], terms: Mapping[str, Any], xp: Any, shape: tuple[int, ...],
            dtype: Any = None) -> tuple[Any, dict[str, Any]]:
    """(total, {term: SCALES[term] * term}) over the batch `shape`, in SCALES order."""
    dtype = dtype or xp.float64
    scaled = {k: scale * xp.broadcast_to(xp.asarray(terms[k], dtype=dtype), shape) for k, scale in scales.items()}
    total = xp.zeros(shape, dtype=dtype)
    for value in scaled.values():
        total = total + value
    return total, scaled
