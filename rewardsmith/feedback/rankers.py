"""Rankers: who decides which candidate of a generation is best, and what the next generation builds on.

  metrics    Eureka: the task fitness; the best over the whole run so far is the parent (elitist).
  synthetic  ICPL's proxy person: ranks by the task fitness (plus optional noise) into a Ranking, exactly as a
             person's would be recorded; the next prompt sees no score, only best/worst and the reward traces.
  human      ICPL: a person ranks the generation's videos on the review page (or with `rewardsmith rank`).

Whatever the mode, the result is one selection record (gen_XX/selection.json); failed or NaN candidates never win.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import numpy as np

from rewardsmith.feedback.ranking import (
    Ranking,
    RankingError,
    clear_awaiting,
    load_ranking,
    mark_awaiting,
    submit_ranking,
    wait_for_ranking,
)
from rewardsmith.runs.store import RunStore

MODES = ("metrics", "synthetic", "human")


def fitness(cand: dict | None) -> float:
    value = ((cand or {}).get("evaluation") or {}).get("fitness_mean")
    return value if value is not None and math.isfinite(value) else -math.inf


def _by_fitness(candidates: list[dict], noise: float = 0.0, rng: np.random.Generator | None = None) -> list[dict]:
    scored = [(fitness(c) + (noise * rng.standard_normal() if noise else 0.0), c)
              for c in candidates if c["status"] == "evaluated" and fitness(c) > -math.inf]
    return [c for _, c in sorted(scored, key=lambda pair: pair[0], reverse=True)]


def _selection(gen: int, mode: str, order: list[str], best: dict | None, ranking: Ranking | None,
               candidates: list[dict]) -> dict:
    return {
        "generation": gen,
        "mode": mode,
        "ranking": order,
        "fitness": {c["id"]: fitness(c) for c in candidates if fitness(c) > -math.inf},
        "best": order[0] if order else None,
        "worst": order[-1] if len(order) > 1 else None,
        "comments": dict(ranking.comments) if ranking else {},
        "generation_comment": ranking.generation_comment if ranking else "",
        "best_overall": best["id"] if best else None,
        "best_overall_fitness": fitness(best) if best and fitness(best) > -math.inf else None,
        "failed": {c["id"]: c["reason"] for c in candidates if c["status"].endswith("_failed")},
    }


def select_by_metrics(gen: int, candidates: list[dict], best_so_far: dict | None) -> dict:
    ranked = _by_fitness(candidates)
    best = ranked[0] if ranked and (best_so_far is None or fitness(ranked[0]) > fitness(best_so_far)) else best_so_far
    return _selection(gen, "metrics", [c["id"] for c in ranked], best, None, candidates)


def _from_ranking(gen: int, mode: str, ranking: Ranking, candidates: list[dict]) -> dict:
    by_id = {c["id"]: c for c in candidates}
    order = list(ranking.order) if ranking.order else [ranking.best, ranking.worst]
    return _selection(gen, mode, order, by_id[ranking.best], ranking, candidates)


def _single_or_none(gen: int, mode: str, candidates: list[dict], best_so_far: dict | None) -> dict:
    """Fewer than two rankable candidates: nothing to compare, the only one (if any) goes on."""
    ranked = [c for c in candidates if c["status"] == "evaluated"]
    best = ranked[0] if ranked else best_so_far
    return _selection(gen, mode, [c["id"] for c in ranked], best, None, candidates)


def select_synthetic(store: RunStore, gen: int, candidates: list[dict], best_so_far: dict | None,
                     noise: float, seed: int) -> dict:
    """Ranks by fitness; an evaluated candidate without a finite fitness goes last (a ranking lists every evaluated
    candidate, as a person's does) and never wins."""
    scored = _by_fitness(candidates, noise, np.random.default_rng(seed * 7919 + gen))
    unscored = [c for c in candidates if c["status"] == "evaluated" and fitness(c) == -math.inf]
    if not scored or len(scored) + len(unscored) < 2:  # nothing to compare, or nothing measured that could win
        return _selection(gen, "synthetic", [c["id"] for c in scored], scored[0] if scored else best_so_far, None,
                          candidates)
    ranked = scored + unscored
    ranking = load_ranking(store, gen) or submit_ranking(
        store, gen, {"best": ranked[0]["id"], "worst": ranked[-1]["id"], "order": [c["id"] for c in ranked],
                     "source": "synthetic"}, require_waiting=False)
    return _from_ranking(gen, "synthetic", ranking, candidates)


def select_by_person(store: RunStore, gen: int, candidates: list[dict], best_so_far: dict | None,
                     announce: Callable[[int], None], stop_event: threading.Event | None = None) -> dict:
    """Waits (blocking, no busy loop) until a person ranks the generation; a resumed run that already has the
    ranking does not wait."""
    ranking = load_ranking(store, gen)
    if ranking is None:
        try:
            mark_awaiting(store, gen)
        except RankingError:
            return _single_or_none(gen, "human", candidates, best_so_far)
        announce(gen)
        ranking = wait_for_ranking(store, gen, stop_event)
    clear_awaiting(store, gen)
    return _from_ranking(gen, "human", ranking, candidates)
