"""The LLM-free sampler: new reward programs by mutating the SCALES of a known-good program.

Each scale is multiplied by a log-normal factor (sign kept, so a penalty stays a penalty); now and then a term is
switched off or back on. Selection by fitness in evolve.py turns these mutations into a search.
"""

from __future__ import annotations

import numpy as np

from rewardsmith.program.extract import replace_scales


def mutate_scales(scales: dict[str, float], rng: np.random.Generator, sigma: float = 0.6,
                  reference: dict[str, float] | None = None) -> dict[str, float]:
    reference = reference or scales
    mutated = {}
    for term, value in scales.items():
        if value == 0.0:  # a switched-off term comes back at its reference scale with probability 0.3
            mutated[term] = reference.get(term, 0.0) if rng.random() < 0.3 else 0.0
        elif rng.random() < 0.1 and len(scales) > 1:
            mutated[term] = 0.0
        else:
            mutated[term] = float(value * np.exp(sigma * rng.standard_normal()))
    if all(v == 0.0 for v in mutated.values()):
        return dict(scales)
    return mutated


def mutated_programs(source: str, scales: dict[str, float], count: int, seed: int | list[int],
                     reference: dict[str, float] | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    return [replace_scales(source, mutate_scales(scales, rng, reference=reference)) for _ in range(count)]
