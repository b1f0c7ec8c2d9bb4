"""The memory of verified terms: the confirmed answers of earlier runs, kept per env in a folder a person can read,
share (copy an entry's folder) and clear, and shown to the LLM in a new run's first prompt as examples from other
tasks of the same env (llm/memory_text.py writes that section).

Layout: DIR/<env>/<entry id>/entry.json (the Entry below, schema MEMORY_SCHEMA) and reward.py (the program as it was
trained); the entry id is "<run folder>-<candidate>", so adding the same run again replaces its entry. An entry is
built in a hidden folder beside its place and renamed into it whole: nothing is ever half-written.

Who goes in (ADMISSION) and who is shown (memory_text.RELEVANCE) are rules of their own, stated in words where they
are used. DIR defaults to $REWARDSMITH_MEMORY, else $XDG_DATA_HOME/rewardsmith/memory, else
~/.local/share/rewardsmith/memory (default_dir): the `rewardsmith memory` commands read it; `evolve` uses a memory
only when `--memory DIR` names one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.confidence import DOES_TASK, Measured
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.program.terms import term_sources
from rewardsmith.runs.files import read_json, write_json, write_text
from rewardsmith.runs.store import RunStore

MEMORY_SCHEMA = 1
ENTRY_NAME = "entry.json"
REWARD_NAME = "reward.py"
ENV_VAR = "REWARDSMITH_MEMORY"
ADMISSION = (f"a run's answer goes in when it was retrained from scratch (--final-seeds 1 or more), every fresh seed "
             f"trained, its task has a success threshold, and at least {DOES_TASK:.0%} of the fresh seeds' evaluation "
             "episodes succeed (it does the task, measured where the run states its answer)")
_SCORE_DRAWS_SEED = 20_261_207  # the bootstrap of the score interval: fixed, so adding a run twice writes the same


class NotAdmitted(UserError):
    """A run whose answer the memory does not take (ADMISSION), with the reason."""


@dataclass(frozen=True)
class Effect:
    """What removing a term did to its own task's score (`rewardsmith ablate`): the paired 95% interval, in words."""

    value: float
    low: float
    high: float
    verdict: str  # ablate's words: "hurts when removed", "helps when removed", "no measurable effect"


@dataclass(frozen=True)
class Term:
    name: str
    scale: float
    source: str | None  # its lines (program/terms.py); None where the program's terms cannot be told apart
    effect: Effect | None  # None: no ablation of this answer


@dataclass(frozen=True)
class Confirmed:
    """The answer's retraining from scratch, as the run measured it: per-episode scores over its fresh seeds."""

    seeds: int
    episodes: int
    score: float
    score_interval: tuple[float, float]  # bootstrap 95%, seeds then episodes (confidence.Measured)
    success: float
    success_interval: tuple[float, float]  # Wilson 95%
    statement: str  # the run's own line for it, e.g. "success 1.00 [0.81, 1.00], score 0.718 [0.66, 0.77]"


@dataclass(frozen=True)
class Entry:
    id: str
    env: str
    task: str  # the task's name (or the run's free text)
    task_description: str
    score_doc: str  # what that task's score measures, in words
    run: str  # the run's folder when it was added
    candidate: str
    added: str  # UTC, ISO 8601
    models: tuple[str, ...]  # () for an LLM-free run
    train_steps: int  # the budget each confirmation seed trained
    confirmed: Confirmed
    terms: tuple[Term, ...]
    ablation: str | None  # how the effects were measured ("3 seeds at 57,344 env steps"); None: not ablated
    rule: str = ADMISSION
    schema: int = MEMORY_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        if int(data.get("schema", 0)) > MEMORY_SCHEMA:
            raise ValueError(f"written by a newer rewardsmith (memory schema {data['schema']}; this one reads "
                             f"{MEMORY_SCHEMA})")
        confirmed = dict(data["confirmed"])
        for key in ("score_interval", "success_interval"):
            confirmed[key] = tuple(float(x) for x in confirmed[key])
        terms = tuple(Term(**{**t, "effect": Effect(**t["effect"]) if t.get("effect") else None})
                      for t in data["terms"])
        return cls(**{**data, "models": tuple(data.get("models") or ()), "confirmed": Confirmed(**confirmed),
                      "terms": terms})


def default_dir() -> Path:
    """Where the memory lives when no --memory is given: $REWARDSMITH_MEMORY, else the XDG data folder's."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "rewardsmith" / "memory"


def check_dir(value: str | Path, flag: str = "--memory") -> Path:
    """A memory folder as given (absolute): an existing folder, or one whose parent is a writable folder (it is made
    at the first entry); UserError, one line, otherwise (a typo in the path should not grow a tree of folders)."""
    path = Path(value).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder for the memory (it is made if missing, in an "
                        "existing folder)")
    parent = path if path.exists() else path.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: its parent {parent} is not an existing folder; make it, or give a folder "
                        "whose parent exists")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path} is not writable ({parent})")
    return path


def entry_for(store: RunStore, result: dict[str, Any]) -> tuple[Entry, str]:
    """The memory entry of a finished run's answer and its program; NotAdmitted (with the reason) where ADMISSION
    does not take it. `result`: the run's result.json as written (EvolveResult.to_dict)."""
    cfg = store.config()
    task = resolve_task(get_env(cfg.env), cfg.task)
    best = result.get("best")
    if not best:
        raise NotAdmitted(f"run {store.root} has no answer (no candidate was evaluated)")
    if not result.get("final"):
        raise NotAdmitted(f"run {store.root}: its answer {best} was not retrained from scratch (--final-seeds 0, or "
                          "a ranker that does not pick by the task score); the memory keeps confirmed answers only")
    if task.success_threshold is None:
        raise NotAdmitted(f"task {task.name!r} has no success threshold, so whether the answer does it is not "
                          "measured; the memory keeps answers that do their task")
    confirmed = _confirmed(result, best, task.success_threshold)
    if confirmed.success < DOES_TASK:
        raise NotAdmitted(f"run {store.root}: its answer {best} succeeded in {confirmed.success:.0%} of its "
                          f"confirmation's episodes ({confirmed.statement}); the memory takes answers from "
                          f"{DOES_TASK:.0%} on")
    cand = store.find_candidate(best)
    source = cand.source or ""
    entry = Entry(entry_id(store, best), cfg.env, task.name, task.description, task.score_doc or "",
                  str(store.root.absolute()), best, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  tuple(cfg.models), _budget(result), confirmed, _terms(store, best, source, cand.scales or {}),
                  _ablation_line(store, best))
    return entry, source


def entry_id(store: RunStore, candidate_id: str) -> str:
    """An entry's id, its folder's name: the run's folder and the candidate (adding a run again replaces it)."""
    return f"{store.root.name}-{candidate_id}"


def _confirmed(result: dict[str, Any], best: str, threshold: float) -> Confirmed:
    import numpy as np

    seeds = result["final"]["seeds"]
    if not seeds or any(s.get("status") != "ok" or not s.get("episode_scores") for s in seeds):
        failed = next((s.get("reason") or s.get("status") for s in seeds), "no seed")
        raise NotAdmitted(f"the confirmation of {best} did not train on every seed ({failed})")
    measured = Measured(best, tuple(tuple(float(x) for x in s["episode_scores"]) for s in seeds), threshold)
    low, high = measured.score_interval(np.random.default_rng(_SCORE_DRAWS_SEED))
    interval = measured.success_interval()
    assert interval is not None and measured.success is not None, "a task with a threshold has a success rate"
    line = ((result.get("choice") or {}).get("lines") or {}).get(best) or \
        f"success {measured.success:.2f} [{interval[0]:.2f}, {interval[1]:.2f}], score {measured.score:.3f} " \
        f"[{low:.3f}, {high:.3f}]"
    return Confirmed(len(seeds), measured.episodes, measured.score, (low, high), float(measured.success), interval,
                     line)


def _budget(result: dict[str, Any]) -> int:
    """The env steps the confirmation trained (the largest of its seeds': a stop at success trains fewer)."""
    return max(int(s.get("steps") or 0) for s in result["final"]["seeds"])


def _terms(store: RunStore, best: str, source: str, scales: dict[str, float]) -> tuple[Term, ...]:
    sources = term_sources(source) or {}
    effects = _effects(store, best)
    return tuple(Term(name, float(scale), sources.get(name), effects.get(name)) for name, scale in scales.items())


def _ablation(store: RunStore, best: str) -> dict[str, Any] | None:
    path = store.ablation_path(best)
    return read_json(path) if path.is_file() else None


def _effects(store: RunStore, best: str) -> dict[str, Effect]:
    """term -> its removal's effect, from `rewardsmith ablate`'s table where it ran on this answer."""
    ablation = _ablation(store, best) or {}
    effects = {}
    for row in ablation.get("rows", ()):
        if row.get("term") is not None and row.get("factor") == 0.0 and row.get("effect"):
            effect = row["effect"]
            effects[row["term"]] = Effect(effect["value"], effect["low"], effect["high"], row.get("words") or "")
    return effects


def _ablation_line(store: RunStore, best: str) -> str | None:
    ablation = _ablation(store, best)
    if ablation is None:
        return None
    return f"{len(ablation.get('seeds') or ())} seeds at {int(ablation.get('steps') or 0):,} env steps"


def write_entry(memory: Path, entry: Entry, source: str) -> Path:
    """DIR/<env>/<id>/ with entry.json and reward.py, built aside and renamed into place (an earlier entry of the
    same id is replaced only once this one is whole)."""
    final = memory / entry.env / entry.id
    work = final.with_name(f".{entry.id}.partial-{os.getpid()}")
    try:
        write_json(work / ENTRY_NAME, entry.to_dict())
        write_text(work / REWARD_NAME, source)
        old = final.with_name(f".{entry.id}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def remember(store: RunStore, memory: str | Path, result: dict[str, Any]) -> str:
    """The end of a run with --memory: its answer's entry written where ADMISSION takes it; one line either way (a
    finished run never fails over its memory)."""
    try:
        entry, source = entry_for(store, result)
        where = write_entry(Path(memory), entry, source)
    except UserError as why:  # NotAdmitted, or a record of the run that does not read
        return f"memory: not added: {why}"
    except OSError as err:
        return f"memory: not added: cannot write {err.filename or memory}: {err.strerror or err}"
    return f"memory: added {entry.candidate} ({entry.env}/{entry.task}, {entry.confirmed.statement}) as {where}"


def read_entries(memory: Path, env: str | None = None) -> tuple[list[Entry], list[str]]:
    """The entries in `memory` (of `env` only, when given), oldest first, and a note for each folder that does not
    read as one (a damaged or newer entry is skipped, never fatal: a shared memory may hold anything)."""
    entries, skipped = [], []
    pattern = f"{env}/*/{ENTRY_NAME}" if env else f"*/*/{ENTRY_NAME}"
    for path in sorted(memory.glob(pattern)):
        if path.parent.name.startswith(".") or path.parent.parent.name.startswith("."):
            continue  # an entry being written, or one being replaced
        try:
            entries.append(Entry.from_dict(read_json(path)))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            skipped.append(f"{path.parent}: skipped, {type(err).__name__}: {' '.join(str(err).split())[:160]}")
    return sorted(entries, key=lambda e: e.added), skipped


def entry_envs(memory: Path) -> list[str]:
    return sorted({e.env for e in read_entries(memory)[0]})


def clear(memory: Path, env: str | None) -> int:
    """Removes the entries of `env` (every env's with None) and returns how many; only folders that hold an
    entry.json are removed, then env folders left empty (never anything else a mistyped DIR may hold)."""
    folders = [p.parent for p in memory.glob(f"{env or '*'}/*/{ENTRY_NAME}")]
    for folder in folders:
        shutil.rmtree(folder)
    for env_dir in {f.parent for f in folders}:
        if env_dir.is_dir() and not any(env_dir.iterdir()):
            env_dir.rmdir()
    return len(folders)
