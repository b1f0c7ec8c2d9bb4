"""What `rewardsmith review` and `rewardsmith rank` do; rewardsmith/cli/app.py wires them into typer.

Both raise ValueError subclasses (StoreError, RankingError, ReviewServerError) with one clear sentence for bad
input; the CLI turns those into exit code 2.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from rewardsmith.context import open_run
from rewardsmith.feedback.ranking import (
    Ranking,
    RankingError,
    awaiting_generation,
    load_ranking,
    not_waiting_hint,
    submit_ranking,
)
from rewardsmith.feedback.review.server import serve
from rewardsmith.runs.store import RunStore

_COMMENT = re.compile(r"\s*(g\d+c\d+)\s*=(.*)", re.DOTALL)


def review_command(run: Path, port: int = 8765, echo: Callable[[str], None] = print,
                   stop: threading.Event | None = None, blind: bool = False, host: str = "127.0.0.1") -> None:
    """Serves the review page of `run` on `host`:`port` until Ctrl-C (or until `stop` is set); `blind` hides
    task scores and success rates (a run made with --blind is always reviewed blind); a host that is not loopback
    needs the secret token of the URL it prints (access.py)."""
    store = open_run(run)
    from rewardsmith.feedback.rankers import ranker

    server = serve(store, port, host=host, blind=blind, host_flag="--host",
                   proposes=ranker(store.config().feedback).proposes)
    try:
        awaiting = awaiting_generation(store)
        echo(f"review {store.root.name} at {server.url}")
        if server.blind:
            echo("blind review: the page shows no task score or success rate")
        echo(f"generation {awaiting} is waiting for a ranking" if awaiting is not None
             else "no generation is waiting for a ranking (browse and read earlier ones)")
        echo("press Ctrl-C to stop")
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def parse_comments(comments: list[str] | None) -> tuple[dict[str, str], str]:
    """["g0c01=too jittery", "faster next time"] -> ({"g0c01": "too jittery"}, "faster next time")."""
    per_candidate: dict[str, str] = {}
    general: list[str] = []
    for item in comments or []:
        match = _COMMENT.fullmatch(item)
        if match:
            text = match[2].strip()
            per_candidate[match[1]] = f"{per_candidate[match[1]]}\n{text}" if match[1] in per_candidate else text
        elif item.strip():
            general.append(item.strip())
    return per_candidate, "\n".join(general)


def _ids(values: list[str] | None) -> list[str] | None:
    """--order accepts repeated ids and/or comma- or space-separated lists."""
    if not values:
        return None
    return [part for value in values for part in re.split(r"[,\s]+", value) if part]


def rank_command(run: Path, best: str | None, worst: str | None, order: list[str] | None = None,
                 comment: list[str] | None = None, generation: int | None = None, reviewer: str | None = None,
                 judge: bool = False) -> Ranking:
    """Submits `reviewer`'s ranking (source "human") for the generation the run awaits (or `generation`, which must
    be it); a run with several reviewers per generation needs the name, and their earlier ranking is replaced.
    With `judge` (a hybrid run) the person takes the judge's proposed order as theirs, as the page's button does."""
    store = open_run(run)
    awaiting = awaiting_generation(store)
    gen = generation if generation is not None else awaiting
    if gen is None:
        ranked = [g for g in store.generations() if load_ranking(store, g) is not None]
        hint = f" (ranked generations: {', '.join(map(str, ranked))})" if ranked else ""
        raise RankingError(f"run {store.root.name} is not waiting for a ranking{hint}; {not_waiting_hint(store)}")
    if judge and (best or worst or order):
        raise RankingError("--judge takes the judge's whole order: give it without --best, --worst and --order")
    if judge:
        best, worst, order = _judges_order(store, gen)
    elif not best or not worst:
        raise RankingError("--best and --worst are required (or --judge, on a --feedback hybrid run, to take the "
                           "judge's proposed order)")
    comments, generation_comment = parse_comments(comment)
    data = {"best": best.strip(), "worst": worst.strip(), "order": _ids(order), "comments": comments,
            "generation_comment": generation_comment, "source": "human", "reviewer": reviewer}
    return submit_ranking(store, gen, data)


def _judges_order(store: RunStore, gen: int) -> tuple[str, str, list[str]]:
    """(best, worst, full order) of the judge's proposal for generation `gen`, which a person takes as theirs."""
    from rewardsmith.feedback.hybrid import load_proposal

    made = load_proposal(store, gen)
    if made is None or not made.order:
        raise RankingError(f"generation {gen} of run {store.root.name} has no judge's proposal to take (only a "
                           "--feedback hybrid run asks the judge first); rank it with --best and --worst")
    return made.order[0], made.order[-1], list(made.order)
