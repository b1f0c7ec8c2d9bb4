"""The review page's run overview (issue 14) and what blind review takes out of every answer (issue 16).

GET /api/overview: every generation (its state, candidate counts, selected best, LLM cost) and every candidate
(status, task score, success rate, failure reason) of the run, as `rewardsmith show` derives them (runs/show.py),
the run's total LLM cost, and the fitness chart's data: each candidate's task score and the selected best per
generation (runs/plots.fitness_series, the same numbers as plots/fitness.png). The page draws the chart itself as
inline SVG from these numbers: it follows a running run at every poll, marks each point with its candidate, and
needs neither matplotlib in the serving thread (the evolve process serves the page while it trains) nor a file
written into a run that is only being read.

Blind review (--blind): the task score and the success rate never leave the server — not in the overview, not in a
generation's detail, and the chart's data is left out — so a person ranking the videos cannot see them, not even in
the browser's developer tools. Statuses and failure reasons stay, but an evaluated candidate's status says only
"evaluated": "stopped at N steps" (halving stops the lower scores) and "reached the success rate" would tell.
A candidate's film says which episodes its videos show and how each ended; blind, without their scores, successes
and the reason the worst is shown (it quotes scores). The films themselves are behaviour; a run made with --blind
films its end cards without score and success (evaluate/episodes.py), one opened with `review --blind` later
keeps the cards it was filmed with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rewardsmith.feedback.ranking import awaiting_generation
from rewardsmith.records import Film
from rewardsmith.runs.lock import lock_holder
from rewardsmith.runs.plots import fitness_series
from rewardsmith.runs.show import candidate_rows, generation_rows
from rewardsmith.runs.store import RunStore

CANDIDATE_SCORES = ("fitness", "success", "score_interval", "success_interval")  # of show.CandidateRow.to_dict()
GENERATION_SCORES = ("best_fitness", "choice")  # keys of runs/show.GenerationRow.to_dict()
METRIC_SCORES = ("fitness_mean", "fitness_std", "success_rate")  # keys of a candidate's evaluation
SELECTION_SCORES = ("fitness", "best_overall_fitness", "choice")  # keys of a Selection record with a score
FILM_SCORES = ("score", "success")  # keys of a FilmedEpisode record


def run_state(store: RunStore) -> str:
    """finished (result.json written) | running (an evolve holds the run's lock) | stopped (interrupted: resume it)."""
    if store.load_result() is not None:
        return "finished"
    return "running" if lock_holder(store.root) is not None else "stopped"


def _generation_state(store: RunStore, row: dict[str, Any], awaiting: int | None, state: str) -> str:
    if store.load_selection(row["gen"]) is not None:
        return "selected"
    if row["gen"] == awaiting:
        return "awaiting ranking"
    return "in progress" if state == "running" else "not finished"


def run_overview(store: RunStore, blind: bool) -> dict[str, Any]:
    """The data of the overview tab; in blind mode without a single task score or success rate."""
    awaiting = awaiting_generation(store)
    state = run_state(store)
    generations = [row.to_dict() for row in generation_rows(store)]
    for row in generations:
        row["state"] = _generation_state(store, row, awaiting, state)
    candidates = [row.to_dict() for row in candidate_rows(store)]
    overview = {"run": store.root.name, "state": state, "blind": blind, "awaiting": awaiting,
                "total_cost_usd": sum(row["cost_usd"] for row in generations)}
    if blind:  # no chart key at all
        return {**overview, "generations": [_without(row, GENERATION_SCORES) for row in generations],
                "candidates": [{**_without(row, CANDIDATE_SCORES), "status": row["status_code"]} for row in candidates]}
    series = fitness_series(store)
    # the chart's "selected best so far" only where a selection was made: fitness_series also gives a generation
    # still running its best point so far (for plots/fitness.png), which the page would ring as selected
    selected = {row["gen"] for row in generations if row["state"] == "selected"}
    chart = {"points": [{"gen": g, "id": cid, "fitness": f} for g, cid, f in series.points],
             "best": [{"gen": g, "fitness": f} for g, f in series.best if f is not None and g in selected]}
    return {**overview, "generations": generations, "candidates": candidates, "chart": chart}


def film_view(film: Film | None) -> dict[str, Any] | None:
    """What the page says about a candidate's videos: each filmed episode (which, its score, how it ended) and why
    the worst is shown; None for a film from before episodes were chosen (its video shows episode 0)."""
    if film is None or not film.episodes:
        return None
    return {"episodes": [dataclasses.asdict(e) for e in film.episodes], "spread": film.spread}


def blind_candidate(detail: dict[str, Any], status: str) -> dict[str, Any]:
    """A candidate of /api/generation/<g> without its task score and success rate; `status` its plain status."""
    blind = {**detail, "status_text": status, "metrics": _without(detail["metrics"], METRIC_SCORES)}
    if detail.get("film"):
        blind["film"] = {"episodes": [_without(e, FILM_SCORES) for e in detail["film"]["episodes"]], "spread": None}
    return blind


def blind_selection(selection: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if selection is None else _without(selection, SELECTION_SCORES)


def _without(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}
