"""Summaries of a stored run, as plain rows for `show` and the end-of-run table (derived, never stored)."""

from __future__ import annotations

from typing import Any

from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore, read_json


def _cost(store: RunStore, gen: int) -> float:
    return sum(float(read_json(p).get("cost_usd", 0.0)) for p in store.usage_paths(gen))


def generation_rows(store: RunStore) -> list[dict[str, Any]]:
    rows = []
    for gen in store.generations():
        cands = store.candidates(gen)
        selection = store.load_selection(gen)
        best = selection.best if selection else None
        rows.append({
            "gen": gen,
            "candidates": len(cands),
            "evaluated": sum(c.status is Status.EVALUATED for c in cands),
            "failed": sum(c.status.failed for c in cands),
            "best": best,
            "best_fitness": selection.fitness.get(best) if selection and best else None,
            "cost_usd": _cost(store, gen),
        })
    return rows


def candidate_rows(store: RunStore) -> list[dict[str, Any]]:
    rows = []
    for gen in store.generations():
        for cand in store.candidates(gen):
            evaluation = cand.evaluation
            rows.append({
                "id": cand.id,
                "status": cand.status.value,
                "fitness": evaluation.fitness_mean if evaluation else None,
                "success": evaluation.success_rate if evaluation else None,
                "return": evaluation.return_mean if evaluation else None,
                "train_s": cand.train.wall_s if cand.train else None,
                "reason": cand.reason,
            })
    return rows
