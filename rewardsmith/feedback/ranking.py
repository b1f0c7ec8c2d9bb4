"""The Ranking record (ICPL's feedback: best and worst of a generation, optionally a full order, comments),
its validation, and the waiting protocol between the evolve loop and the people who rank.

Files (inside the run store):
  gen_XX/awaiting_ranking.json   written by evolve (`mark_awaiting`) while it waits for rankings of generation XX
  gen_XX/rankings/<name>.json    each reviewer's own ranking; re-submitting replaces it while the generation waits
  gen_XX/ranking.json            the decision, written once (atomically, never overwritten): with one reviewer per
                                 generation (the default) that reviewer's ranking; with --reviewers N > 1 the
                                 Bradley–Terry aggregate of every reviewer's ranking (feedback/aggregate.py), whose
                                 `aggregate` field says who decided, how, and how much the reviewers agreed

The decision is written by whoever sees it due: the submit that brings the N-th reviewer (in any process), or the
waiting loop (the N-th reviewer, or the review deadline passed with at least one ranking). A ranking can come from
the review web page (same process as evolve: a Condition wakes the waiting loop at once) or from `rewardsmith rank`
in another process (the waiting loop polls the files every `poll_s` seconds).

Reviewer names: 1 to 40 letters, digits, spaces, . ' - _; two names are the same reviewer when they differ only in
case or in spaces versus hyphens (the file name is the lowercased name, spaces as hyphens). A run with one reviewer
per generation accepts a ranking without a name (reviewer "anonymous").
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rewardsmith.errors import RewardsmithError, UserError
from rewardsmith.events import Report, ReviewDeadlinePassed, Reviewed
from rewardsmith.feedback.aggregate import decision
from rewardsmith.records import SCHEMA_VERSION, Status
from rewardsmith.runs.store import RunStore, read_json, write_record

SOURCES = ("human", "synthetic", "metrics")  # of a submitted ranking; a decision may also be the "judge"'s
MAX_COMMENT_CHARS = 10_000
DEFAULT_REVIEWER = "anonymous"
_NAME = re.compile(r"[^\W_][\w .'-]{0,39}")


class RankingError(UserError):
    """A ranking that cannot be accepted; the message is one sentence saying what to change."""


class RankingWaitStopped(RewardsmithError, RuntimeError):
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
    reviewer: str = ""  # who ranked: a reviewer's own ranking, or the one reviewer whose ranking decided
    aggregate: dict | None = None  # a decision from several reviewers: how, by whom, their agreement

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
                   submitted_at=data.get("submitted_at") or "", reviewer=data.get("reviewer") or "",
                   aggregate=data.get("aggregate"))

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
    """Evolve: announce that generation `gen` waits for a ranking. Needs two evaluated candidates (best != worst).
    A generation that already waited (a resumed run) keeps the time it began waiting (the review deadline's start)."""
    rankable = rankable_ids(store, gen)
    if len(rankable) < 2:
        raise RankingError(f"generation {gen} has {len(rankable)} evaluated candidate(s); a ranking needs at least 2")
    path = awaiting_path(store, gen)
    before = read_json(path) if path.is_file() else {}
    record = {"generation": gen, "candidates": rankable, "since": before.get("since") or _now("milliseconds")}
    write_record(path, record)
    _notify()
    return record


def waiting_since(store: RunStore, gen: int) -> float:
    """When generation `gen` began waiting (Unix time; now when it does not wait or the record is unreadable)."""
    try:
        return datetime.fromisoformat(read_json(awaiting_path(store, gen))["since"]).timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return time.time()


# ---- reviewers --------------------------------------------------------------------------------------------------

def reviewer_name(value, needed: int = 1) -> str:
    """The reviewer's name, tidied (inner spaces collapsed), or RankingError. No name: "anonymous" where one
    reviewer ranks each generation; refused where `needed` > 1 (their rankings must be told apart)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if needed > 1:
            raise RankingError(f"give your reviewer name: this run waits for {needed} reviewers per generation "
                               "(the name box on the page; rewardsmith rank --reviewer NAME)")
        return DEFAULT_REVIEWER
    if not isinstance(value, str):
        raise RankingError(f"the reviewer name must be text, got {type(value).__name__}")
    name = " ".join(value.split())
    if not _NAME.fullmatch(name):
        raise RankingError(f"reviewer name {value[:60]!r} is not usable: 1 to 40 letters, digits, spaces, . ' - or _,"
                           " starting with a letter or a digit")
    return name


def reviewer_key(name: str) -> str:
    """The file name of a reviewer's ranking (without .json): the same for names that differ in case or spacing."""
    return name.lower().replace(" ", "-")


def reviews_dir(store: RunStore, gen: int) -> Path:
    return store.gen_dir(gen) / "rankings"


def review_path(store: RunStore, gen: int, name: str) -> Path:
    return reviews_dir(store, gen) / f"{reviewer_key(name)}.json"


def load_reviews(store: RunStore, gen: int) -> list[Ranking]:
    """Every reviewer's own ranking of generation `gen`, by reviewer name."""
    folder = reviews_dir(store, gen)
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    return [Ranking.from_dict(read_json(p)) for p in paths]


def reviewers_needed(store: RunStore) -> int:
    return store.config().reviewers


def clear_awaiting(store: RunStore, gen: int) -> None:
    awaiting_path(store, gen).unlink(missing_ok=True)
    _notify()


def _now(timespec: str = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)


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
    fields = [f.name for f in dataclasses.fields(Ranking) if f.name != "aggregate"]  # a decision's own
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RankingError(f"unknown ranking field(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
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
    reviewer = data.get("reviewer") or ""
    if not isinstance(reviewer, str):
        raise RankingError(f"the reviewer name must be text, got {type(reviewer).__name__}")
    return Ranking(generation=gen, best=best.strip(), worst=worst.strip(), order=order,
                   comments={k: v for k, v in comments.items() if v},
                   generation_comment=_text(data.get("generation_comment"), "the generation comment"),
                   source=source, submitted_at=submitted_at, reviewer=" ".join(reviewer.split()))


def not_waiting_hint(store: RunStore) -> str:
    """What to do with a run that awaits no ranking: a reviewed run asks again when resumed; any other never asks,
    and its ranker cannot change on a resume."""
    feedback = store.config().feedback
    if feedback in ("human", "hybrid"):
        return (f"a --feedback {feedback} run asks while it runs: continue it with rewardsmith evolve --resume "
                f"{store.root} and rank when it asks")
    return (f"it ranks with --feedback {feedback}, which asks no person (a resume keeps that); start a new run with "
            "--feedback human to rank by hand")


def _check_waiting(store: RunStore, gen: int) -> None:
    awaiting = awaiting_generation(store)
    if awaiting is None:
        raise RankingError(f"run {store.root.name} is not waiting for a ranking; {not_waiting_hint(store)}")
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


# ---- submit, decide and wait ------------------------------------------------------------------------------------

_changed = threading.Condition()
_submit_lock = threading.Lock()


def _notify() -> None:
    with _changed:
        _changed.notify_all()


def submit_ranking(store: RunStore, gen: int, data, require_waiting: bool = True) -> Ranking:
    """Validates and saves a ranking of generation `gen` and returns it as saved. A person's (`require_waiting`)
    is their own (gen_XX/rankings/<name>.json, replacing their earlier one while the generation waits) and decides
    the generation when it brings the number of reviewers the run waits for; an automatic ranker's
    (`require_waiting=False`) is the decision itself. Submitting the same ranking again returns the saved one; a
    different ranking for a decided generation is refused and nothing is overwritten."""
    with _submit_lock:
        parsed = _parse(gen, data) if isinstance(gen, int) else None
        existing = load_ranking(store, gen) if isinstance(gen, int) and gen >= 0 else None
        if not require_waiting:
            if existing is not None:
                return _same_or_refuse(existing, [parsed], gen)
            return _write_decision(store, gen, _stamped(validate_ranking(store, gen, data, require_waiting=False)))
        needed = reviewers_needed(store)
        if parsed is not None and existing is not None:
            named = dataclasses.replace(parsed, reviewer=reviewer_name(parsed.reviewer, needed))
            own = _own(store, gen, named.reviewer)
            if own is not None and own.same_content(named):
                return own
            return _same_or_refuse(existing, [parsed, named], gen)
        ranking = validate_ranking(store, gen, data)
        ranking = dataclasses.replace(ranking, reviewer=reviewer_name(ranking.reviewer, needed))
        own = _own(store, gen, ranking.reviewer)
        if own is not None and own.same_content(ranking):
            return own
        ranking = _stamped(ranking)
        write_record(review_path(store, gen, ranking.reviewer), ranking.to_dict())
        reviews = load_reviews(store, gen)
        if len(reviews) >= needed:
            decide(store, gen, reviews, needed)
    _notify()
    return ranking


def _own(store: RunStore, gen: int, name: str) -> Ranking | None:
    path = review_path(store, gen, name)
    return Ranking.from_dict(read_json(path)) if path.is_file() else None


def _stamped(ranking: Ranking) -> Ranking:
    return ranking if ranking.submitted_at else dataclasses.replace(ranking, submitted_at=_now())


def _write_decision(store: RunStore, gen: int, ranking: Ranking) -> Ranking:
    """Writes the decision once; when another process decided first, theirs stands and is returned."""
    if _write_once(ranking_path(store, gen), {"schema": SCHEMA_VERSION, **ranking.to_dict()}):
        return ranking
    winner = load_ranking(store, gen)
    assert winner is not None, "the file that refused the write holds the other process's ranking"
    return winner if winner.aggregate or ranking.aggregate else _same_or_refuse(winner, [ranking], gen)


def _same_or_refuse(existing: Ranking, new: list[Ranking | None], gen: int) -> Ranking:
    for ranking in new:
        if ranking is not None and existing.same_content(dataclasses.replace(ranking, generation=existing.generation)):
            return existing
    who = f"{existing.source}{f', {existing.reviewer}' if existing.reviewer else ''}"
    raise RankingError(f"generation {gen} is already ranked (best {existing.best}, worst {existing.worst}, "
                       f"{who}, {existing.submitted_at}); a ranking is never overwritten")


def decide(store: RunStore, gen: int, reviews: list[Ranking], needed: int) -> Ranking:
    """Writes the decision of generation `gen` from its reviewers' rankings (see `combined`); returns the decision
    that stands (another process may have decided first)."""
    return _write_decision(store, gen, combined(store, gen, reviews, needed))


def combined(store: RunStore, gen: int, reviews: list[Ranking], needed: int) -> Ranking:
    """One reviewer where one is needed: their ranking. Otherwise the reviewers' combined decision
    (aggregate.decision: the Bradley–Terry order, named comments, who ranked and how far they agreed)."""
    assert reviews, "a decision needs at least one ranking"
    if needed == 1 and len(reviews) == 1:
        return reviews[0]
    return Ranking(generation=gen, source="human", submitted_at=_now(),
                   **decision(reviews, rankable_ids(store, gen), needed))


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
                     timeout_s: float | None = None, deadline_s: float | None = None,
                     report: Report | None = None,
                     standing: Callable[[], Ranking | None] | None = None) -> Ranking:
    """Blocks until generation `gen` is decided and returns the decision: when the run's number of reviewers
    (config `reviewers`) have ranked it, or, with `deadline_s`, once that many seconds passed since it began
    waiting and at least one reviewer ranked (with none it keeps waiting, and `report`s that once). Wakes at once
    when this process submits (the review server) and re-reads the files every `poll_s` seconds for rankings
    written by another process. `report` also hears of each new reviewer where several are needed. Raises
    RankingWaitStopped when `stop_event` is set (noticed within poll_s) or after `timeout_s`. `standing` (the hybrid
    ranker's confident judge) gives the ranking that stands when the deadline passes with no reviewer, or None."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    needed = reviewers_needed(store)
    due = None if deadline_s is None else waiting_since(store, gen) + deadline_s
    seen: set[str] = set()
    told = False
    with _changed:
        while True:
            ranking = load_ranking(store, gen)
            if ranking is not None:
                return ranking
            reviews = load_reviews(store, gen)
            for review in reviews:
                if review.reviewer not in seen and needed > 1 and report is not None:
                    report(Reviewed(gen, review.reviewer, len(reviews), needed))
                seen.add(review.reviewer)
            late = due is not None and time.time() >= due
            if reviews and (len(reviews) >= needed or late):
                with _submit_lock:
                    return load_ranking(store, gen) or decide(store, gen, reviews, needed)
            fallback = standing() if late and not reviews and standing is not None else None
            if fallback is not None:
                with _submit_lock:
                    return load_ranking(store, gen) or _write_decision(store, gen, _stamped(fallback))
            if late and not told and report is not None:
                report(ReviewDeadlinePassed(gen, deadline_s, needed))
            told = told or late
            if stop_event is not None and stop_event.is_set():
                raise RankingWaitStopped(f"stopped waiting for a ranking of generation {gen}")
            wait = poll_s if due is None or late else min(poll_s, max(due - time.time(), 0.01))
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RankingWaitStopped(f"no ranking of generation {gen} after {timeout_s:g} s")
                wait = min(wait, left)
            _changed.wait(timeout=wait)
