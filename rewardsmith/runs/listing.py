"""`rewardsmith runs`: one row per run in a folder (derived from its records, never stored). Only what a list needs
is read (the config, the selections, result.json, the usage files), not every candidate: a folder of big runs lists
in a moment. A folder that is not a run, or a run whose records do not read, is skipped with the reason."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.records import Choice
from rewardsmith.runs.fork import ranked_generations
from rewardsmith.runs.lock import lock_holder
from rewardsmith.runs.store import RunStore, StoreError, read_json

RUNNING, FINISHED, STOPPED = "running", "finished", "stopped"
_STARTED = re.compile(r"(\d{8}-\d{6})-")  # new_run_id's time stamp


@dataclass(frozen=True)
class RunRow:
    path: Path
    env: str
    task: str
    state: str  # RUNNING (an evolve holds its lock), FINISHED (result.json, every generation ranked), STOPPED
    pid: int | None  # the running evolve's process
    generations: int  # ranked so far
    of: int  # the run's --iterations
    best: str | None  # the run's answer when finished, else the best so far
    fitness: float | None  # its task score
    confidence: str  # the selection rule's P(best) of it, where it was recorded ("" where not)
    cost_usd: float  # the LLM's and the judge's, as the usage files of its generations record them
    started: str | None  # "2026-12-07 05:16" from the run's id (None: a folder renamed by hand)
    models: tuple[str, ...]  # () for LLM-free


@dataclass(frozen=True)
class Skipped:
    path: Path
    why: str


def list_runs(folder: Path) -> tuple[list[RunRow], list[Skipped]]:
    """The runs in `folder`, oldest first, and the folders skipped there (hidden entries and files are ignored)."""
    rows, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (path / "config.json").is_file():
            skipped.append(Skipped(path, "not a run (no config.json)"))
            continue
        try:
            rows.append(run_row(RunStore(path)))
        except StoreError as err:
            skipped.append(Skipped(path, str(err)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
            skipped.append(Skipped(path, f"unreadable ({type(err).__name__}: {' '.join(str(err).split())[:160]})"))
    rows.sort(key=lambda r: (r.started or "", r.path.name))
    return rows, skipped


def run_row(store: RunStore) -> RunRow:
    cfg = store.config()
    ranked = ranked_generations(store)
    pid = lock_holder(store.root)
    result = store.load_result()
    finished = result is not None and len(ranked) >= cfg.iterations
    if result is not None and finished:
        best, fitness = result.get("best"), result.get("fitness")
        choice = Choice.from_dict(result["choice"]) if result.get("choice") else None
    else:  # the best so far: the last ranked generation's
        selection = store.load_selection(ranked[-1]) if ranked else None
        best = selection.best_overall if selection else None
        fitness = selection.best_overall_fitness if selection else None
        choice = selection.choice if selection else None
    return RunRow(
        path=store.root, env=cfg.env, task=cfg.task, state=RUNNING if pid else FINISHED if finished else STOPPED,
        pid=pid, generations=len(ranked), of=cfg.iterations, best=best,
        fitness=None if fitness is None else float(fitness), confidence=confidence(choice, best),
        cost_usd=sum(float(read_json(p).get("cost_usd") or 0.0) for g in store.generations()
                     for p in store.usage_paths(g)),
        started=started(store.root.name), models=cfg.models)


def confidence(choice: Choice | None, best: str | None) -> str:
    """The selection rule's P(best) of the run's best, and whether it is confident ("" where none was recorded: a
    ranker that does not pick by the rule, or a run from before it)."""
    if choice is None or best is None or best not in choice.p_best:
        return ""
    return f"P(best) {choice.p_best[best]:.2f}" + ("" if choice.confident else ", not confident")


def started(run_id: str) -> str | None:
    match = _STARTED.match(run_id)
    if match is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M", time.strptime(match[1], "%Y%m%d-%H%M%S"))
