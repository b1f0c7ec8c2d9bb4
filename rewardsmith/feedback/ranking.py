"""The Ranking record (ICPL's feedback: best and worst of a generation, optionally a full order, comments),
its validation, and the waiting protocol between the evolve loop and whoever ranks.

Files (inside the run store):
  gen_XX/awaiting_ranking.json   written by evolve (`mark_awaiting`) while it waits for a ranking of generation XX
  gen_XX/ranking.json            the ranking, written once (atomically, never overwritten) by `submit_ranking`

A ranking can come from the review web page (same process as evolve: a Condition wakes the waiting loop at once)
or from `rewardsmith rank` in another process (the waiting loop polls the file every `poll_s` seconds).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rewardsmith.records import SCHEMA_VERSION, Status
from rewardsmith.runs.store import RunStore, read_json, write_record

SOURCES = ("human", "synthetic", "metrics")
MAX_COMMENT_CHARS = 10_000
_ID = re.compile(r"g(\d+)c(\d+)")


class RankingError(ValueError):
    """A ranking that cannot be accepted; the message is one sentence saying what to change."""


class RankingWaitStopped(RuntimeError):
    """wait_for_ranking gave up: its stop_event was set or its timeout passed."""


@dataclass(frozen=True)
class Ranking:
    generation: int
    best: str
    worst: str
    order: tuple[str, ...] | None = None  # every rankable candidate, best -> worst
    comments: dict = field(default_factory=dict)  # candidate id -> text
    generation_comment: str = ""
    source: str = "human"
    submitted_at: str = ""

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["order"] = list(self.order) if self.order is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Ranking:
        order = data.get("order")
        return cls(generation=int(data["generation"]), best=data["best"], worst=data["worst"],
                   order=tuple(order) if order is not None else None, comments=dict(data.get("comments") or {}),
                   generation_comment=data.get("generation_comment") or "", source=data.get("source") or "human",
                   submitted_at=data.get("submitted_at") or "")

    def same_content(self, other: Ranking) -> bool:
        """Equal apart from when it was submitted (what makes a resubmission idempotent)."""
        return dataclasses.replace(self, submitted_at="") == dataclasses.replace(other, submitted_at="")


# ---- paths and files --------------------------------------------------------------------------------------------

def ranking_path(store: RunStore, gen: int) -> Path:
    return store.ranking_path(gen)


def awaiting_path(store: RunStore, gen: int) -> Path:
    return store.awaiting_path(gen)


def load_ranking(store: RunStore, gen: int) -> Ranking | None:
    path = ranking_path(store, gen)
    return Ranking.from_dict(read_json(path)) if path.is_file() else None


def awaiting_generation(store: RunStore) -> int | None:
    """The generation evolve waits on (marked awaiting and not ranked yet), or None."""
    waiting = [g for g in store.generations()
               if awaiting_path(store, g).is_file() and not ranking_path(store, g).is_file()]
    return max(waiting) if waiting else None


def rankable_ids(store: RunStore, gen: int) -> list[str]:
    return [c.id for c in store.candidates(gen) if c.status is Status.EVALUATED]


def mark_awaiting(store: RunStore, gen: int) -> dict:
    """Evolve: announce that generation `gen` waits for a ranking. Needs two evaluated candidates (best != worst)."""
    rankable = rankable_ids(store, gen)
    if len(rankable) < 2:
        raise RankingError(f"generation {gen} has {len(rankable)} evaluated candidate(s); a ranking needs at least 2")
    record = {"generation": gen, "candidates": rankable, "since": _now()}
    write_record(awaiting_path(store, gen), record)
    _notify()
    return record


def clear_awaiting(store: RunStore, gen: int) -> None:
    awaiting_path(store, gen).unlink(missing_ok=True)
    _notify()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- validation -------------------------------------------------------------------------------------------------

def _text(value, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RankingError(f"{what} must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > MAX_COMMENT_CHARS:
        raise RankingError(f"{what} is {len(value)} characters long; keep it under {MAX_COMMENT_CHARS}")
    return value


def _parse(gen: int, data) -> Ranking:
    """The shape of a submission (types, required fields), before it is checked against the run."""
    if not isinstance(data, dict):
        raise RankingError("a ranking must be a JSON object with best, worst and optional order and comments")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(Ranking)})
    if unknown:
        raise RankingError(f"unknown ranking field(s) {', '.join(unknown)}; valid: "
                           f"{', '.join(f.name for f in dataclasses.fields(Ranking))}")
    if data.get("generation") is not None and data["generation"] != gen:
        raise RankingError(f"this ranking says generation {data['generation']} but was submitted for generation {gen}")
    order = data.get("order")
    if order is not None:
        if not isinstance(order, (list, tuple)) or not all(isinstance(i, str) for i in order):
            raise RankingError("order must be a list of candidate ids, best first")
        order = tuple(order) or None
    best, worst = data.get("best") or (order[0] if order else None), data.get("worst") or (order[-1] if order else None)
    for name, value in (("best", best), ("worst", worst)):
        if not isinstance(value, str) or not value:
            raise RankingError(f"{name} is missing: pick the {name} candidate (an id like g{gen}c00)")
    assert isinstance(best, str) and isinstance(worst, str)
    comments = data.get("comments") or {}
    if not isinstance(comments, dict):
        raise RankingError("comments must be an object mapping candidate ids to text")
    comments = {str(k): _text(v, f"the comment on {k}") for k, v in comments.items()}
    source = data.get("source") or "human"
    if source not in SOURCES:
        raise RankingError(f"unknown ranking source {source!r}; valid: {', '.join(SOURCES)}")
    submitted_at = data.get("submitted_at") or ""
    if not isinstance(submitted_at, str):
        raise RankingError("submitted_at must be an ISO time string")
    return Ranking(generation=gen, best=best.strip(), worst=worst.strip(), order=order,
                   comments={k: v for k, v in comments.items() if v},
                   generation_comment=_text(data.get("generation_comment"), "the generation comment"),
                   source=source, submitted_at=submitted_at)


def _check_waiting(store: RunStore, gen: int) -> None:
    awaiting = awaiting_generation(store)
    if awaiting is None:
        raise RankingError(f"run {store.root.name} is not waiting for a ranking (no generation is marked awaiting; "
                           "start or resume it with --feedback human)")
    if gen != awaiting:
        raise RankingError(f"generation {gen} is not the one awaiting a ranking (generation {awaiting} is); "
                           "reload the page or pass --generation " + str(awaiting))


def validate_ranking(store: RunStore, gen: int, data, require_waiting: bool = True) -> Ranking:
    """A checked Ranking of generation `gen`, or RankingError saying what is wrong. `require_waiting=False` lets
    automatic rankers (metrics, synthetic) record a ranking without the waiting protocol."""
    if not isinstance(gen, int) or gen < 0 or gen not in store.generations():
        raise RankingError(f"run {store.root.name} has no generation {gen}; generations: "
                           f"{', '.join(map(str, store.generations())) or 'none'}")
    ranking = _parse(gen, data)
    if require_waiting:
        _check_waiting(store, gen)
    cands = {c.id: c for c in store.candidates(gen)}
    rankable = [i for i, c in cands.items() if c.status is Status.EVALUATED]
    named = [ranking.best, ranking.worst, *(ranking.order or ()), *ranking.comments]
    for cid in named:
        if cid not in cands:
            raise RankingError(f"unknown candidate {cid!r} in generation {gen}; its candidates: "
                               f"{', '.join(cands) or 'none'}")
    for cid in [ranking.best, ranking.worst, *(ranking.order or ())]:
        if cid not in rankable:
            raise RankingError(f"{cid} cannot be ranked: it is {cands[cid].status.value} (only evaluated candidates "
                               f"can be); rankable candidates of generation {gen}: {', '.join(rankable) or 'none'}")
    if ranking.best == ranking.worst:
        raise RankingError(f"best and worst are both {ranking.best}; pick two different candidates")
    if ranking.order is not None:
        _check_order(ranking, rankable)
    return ranking


def _check_order(ranking: Ranking, rankable: list[str]) -> None:
    order = list(ranking.order or ())
    repeated = sorted({i for i in order if order.count(i) > 1})
    if repeated:
        raise RankingError(f"the order lists {', '.join(repeated)} more than once")
    missing = [i for i in rankable if i not in order]
    if missing:
        raise RankingError(f"the order must list every evaluated candidate; missing: {', '.join(missing)}")
    if order[0] != ranking.best or order[-1] != ranking.worst:
        raise RankingError(f"the order runs {order[0]} ... {order[-1]} but best is {ranking.best} and worst is "
                           f"{ranking.worst}; the order must start with the best and end with the worst")


# ---- submit and wait --------------------------------------------------------------------------------------------

_changed = threading.Condition()
_submit_lock = threading.Lock()


def _notify() -> None:
    with _changed:
        _changed.notify_all()


def submit_ranking(store: RunStore, gen: int, data, require_waiting: bool = True) -> Ranking:
    """Validates and saves the ranking of generation `gen` (gen_XX/ranking.json, written once, atomically).
    Submitting the same ranking again returns the saved one; a different ranking for a ranked generation is
    refused and nothing is overwritten."""
    with _submit_lock:
        parsed = _parse(gen, data) if isinstance(gen, int) else None
        existing = load_ranking(store, gen) if isinstance(gen, int) and gen >= 0 else None
        if existing is not None:
            return _same_or_refuse(existing, parsed, gen)
        ranking = validate_ranking(store, gen, data, require_waiting=require_waiting)
        if not ranking.submitted_at:
            ranking = dataclasses.replace(ranking, submitted_at=_now())
        if not _write_once(ranking_path(store, gen), {"schema": SCHEMA_VERSION, **ranking.to_dict()}):  # lost a race
            winner = load_ranking(store, gen)
            assert winner is not None, "the file that refused the write holds the other process's ranking"
            return _same_or_refuse(winner, ranking, gen)
    _notify()
    return ranking


def _same_or_refuse(existing: Ranking, new: Ranking | None, gen: int) -> Ranking:
    if new is not None and existing.same_content(dataclasses.replace(new, generation=existing.generation)):
        return existing
    raise RankingError(f"generation {gen} is already ranked (best {existing.best}, worst {existing.worst}, "
                       f"{existing.source}, {existing.submitted_at}); a ranking is never overwritten")


def _write_once(path: Path, data: dict) -> bool:
    """Atomically creates `path` with `data`; False (and nothing written) when it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    try:
        os.link(tmp, path)  # fails if path exists: no overwrite, even across processes
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def wait_for_ranking(store: RunStore, gen: int, stop_event: threading.Event | None = None, poll_s: float = 1.0,
                     timeout_s: float | None = None) -> Ranking:
    """Blocks until generation `gen` has a ranking and returns it. Wakes at once when this process submits one
    (the review server), and re-reads the file every `poll_s` seconds for rankings written by another process.
    Raises RankingWaitStopped when `stop_event` is set (noticed within poll_s) or after `timeout_s`."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with _changed:
        while True:
            ranking = load_ranking(store, gen)
            if ranking is not None:
                return ranking
            if stop_event is not None and stop_event.is_set():
                raise RankingWaitStopped(f"stopped waiting for a ranking of generation {gen}")
            wait = poll_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RankingWaitStopped(f"no ranking of generation {gen} after {timeout_s:g} s")
                wait = min(wait, left)
            _changed.wait(timeout=wait)
