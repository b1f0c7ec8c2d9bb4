"""Summaries of a stored run, as plain rows for `show` and the end-of-run table (derived, never stored)."""

from __future__ import annotations

from rewardsmith.runs.store import RunStore, read_json


def _candidates(store: RunStore, gen: int) -> list[dict]:
    return [store.load_candidate(gen, i) for i in store.candidate_indices(gen)]


def _cost(store: RunStore, gen: int) -> float:
    return sum(read_json(p).get("cost_usd", 0.0) for p in store.gen_dir(gen).glob("usage_*.json"))


def generation_rows(store: RunStore) -> list[dict]:
    rows = []
    for gen in store.generations():
        cands = _candidates(store, gen)
        selection = store.load_selection(gen) or {}
        best = selection.get("best")
        rows.append({
            "gen": gen,
            "candidates": len(cands),
            "evaluated": sum(c["status"] == "evaluated" for c in cands),
            "failed": sum(c["status"].endswith("_failed") for c in cands),
            "best": best,
            "best_fitness": selection.get("fitness", {}).get(best) if best else None,
            "cost_usd": _cost(store, gen),
        })
    return rows


def candidate_rows(store: RunStore) -> list[dict]:
    rows = []
    for gen in store.generations():
        for cand in _candidates(store, gen):
            evaluation = cand.get("evaluation") or {}
            rows.append({
                "id": cand["id"],
                "status": cand["status"],
                "fitness": evaluation.get("fitness_mean"),
                "success": evaluation.get("success_rate"),
                "return": evaluation.get("return_mean"),
                "train_s": (cand.get("train") or {}).get("wall_s"),
                "reason": cand.get("reason"),
            })
    return rows
