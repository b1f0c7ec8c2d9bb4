"""What the review page's API answers (server.py serves it): the run, a generation's candidates with their media
URLs, the judge's proposal or verdict, and the review deadline, as plain dicts (blind review leaves out scores)."""

from __future__ import annotations

import dataclasses
import functools
import io
import time
from pathlib import Path

from rewardsmith.feedback.ranking import (
    awaiting_generation,
    load_ranking,
    load_reviews,
    review_path,
    reviewer_name,
    waiting_since,
)
from rewardsmith.feedback.review.overview import blind_candidate, blind_selection, film_view
from rewardsmith.records import Candidate, Status
from rewardsmith.runs.store import STRIP_NAME, VIDEO_NAME, WORST_NAME, RunStore

POSTER_NAME = "poster.png"  # made from strip.png when asked for; never written into the run


# ---- data for the API -------------------------------------------------------------------------------------------

def run_summary(store: RunStore, blind: bool = False) -> dict:
    awaiting = awaiting_generation(store)
    generations = []
    for gen in store.generations():
        cands = store.candidates(gen)
        ranking = load_ranking(store, gen)
        generations.append({"generation": gen, "candidates": len(cands),
                            "evaluated": sum(c.status is Status.EVALUATED for c in cands),
                            "ranked": ranking is not None, "awaiting": gen == awaiting,
                            "reviews": len(load_reviews(store, gen))})
    cfg = store.config()
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "on_ranking_due"}  # a command line: not shown
    return {"run": store.root.name, "config": config, "generations": generations, "awaiting": awaiting,
            "blind": blind, "reviewers": cfg.reviewers, "review_deadline_s": cfg.review_deadline_s}


def _media_url(store: RunStore, gen: int, cand: Candidate, name: str) -> str | None:
    if (store.cand_dir(gen, cand.index) / name).is_file():
        return f"/media/{gen}/{cand.id}/{name}"
    return None


def generation_detail(store: RunStore, gen: int, blind: bool = False, reviewer: str | None = None,
                      proposes: bool = False) -> dict | None:
    """What the page shows of generation `gen`; `reviewer` (a name) adds that reviewer's own ranking; `proposes`:
    the run's ranker has a judge propose an order (its trait, given by whoever serves the page)."""
    if gen not in store.generations():
        return None
    awaiting = awaiting_generation(store)
    ranking = load_ranking(store, gen)
    candidates = []
    for cand in store.candidates(gen):
        evaluation = dataclasses.asdict(cand.evaluation) if cand.evaluation else {}
        train = cand.train
        detail = {
            "id": cand.id, "index": cand.index, "status": cand.status.value, "reason": cand.reason,
            "status_text": cand.status_text, "stop": cand.stop,  # what ended its training (status_text says it)
            "rankable": cand.status is Status.EVALUATED,
            "metrics": {k: evaluation.get(k) for k in ("fitness_mean", "fitness_std", "success_rate", "return_mean",
                                                       "episode_length_mean", "episodes")},
            "terms": evaluation.get("terms") or {},
            "train": {"steps": train.steps if train else None, "wall_s": train.wall_s if train else None},
            "scales": cand.scales, "source": cand.source,
            "video": _media_url(store, gen, cand, VIDEO_NAME), "strip": _media_url(store, gen, cand, STRIP_NAME),
            "poster": _poster_url(store, gen, cand),
            # the video's episode, and the worst one's video when the spread is large (evaluate/episodes.py)
            "worst_video": _media_url(store, gen, cand, WORST_NAME), "film": film_view(cand.film),
        }
        candidates.append(blind_candidate(detail, cand.status.value) if blind else detail)
    selection = store.load_selection(gen)
    # who decided, in words: the page shows it as it is
    saved = {**selection.to_dict(), "decided_by": selection.decided_by_text} if selection else None
    reviews = load_reviews(store, gen)
    mine = review_path(store, gen, reviewer_name(reviewer)) if reviewer else None
    own = next((r for r in reviews if mine is not None and review_path(store, gen, r.reviewer) == mine), None)
    return {"generation": gen, "awaiting": gen == awaiting, "awaiting_generation": awaiting,
            "ranking": ranking.to_dict() if ranking else None,
            "selection": blind_selection(saved) if blind else saved, "candidates": candidates,
            "reviewers_needed": store.config().reviewers, "reviewed_by": [r.reviewer for r in reviews],
            "reviews": [r.to_dict() for r in reviews] if ranking is not None else [],
            "my_ranking": own.to_dict() if own else None, "judge": judge_view(store, gen),
            "deadline": deadline_view(store, gen, proposes) if gen == awaiting else None}


def _poster_url(store: RunStore, gen: int, cand: Candidate) -> str | None:
    """The poster of the candidate's video: there where both the video and its strip are (the strip's frames are
    of the video's episode; the worst episode's video has no strip, so no poster)."""
    if _media_url(store, gen, cand, VIDEO_NAME) and _media_url(store, gen, cand, STRIP_NAME):
        return f"/media/{gen}/{cand.id}/{POSTER_NAME}"
    return None


@functools.lru_cache(maxsize=64)
def poster_png(strip: Path, mtime_ns: int, size: int) -> bytes:
    """The strip's first frame as a PNG (cached per strip file version: `mtime_ns`, `size`). The strip's frames
    are square tiles side by side (film.thumbnail_strip as the film stage calls it), so the first is as wide as the
    strip is high; its first frame is the video's, so the page looks the same before and after the video loads."""
    from PIL import Image

    with Image.open(strip) as image:
        frame = image.crop((0, 0, min(image.height, image.width), image.height))
        out = io.BytesIO()
        frame.save(out, format="PNG")
    return out.getvalue()


def deadline_view(store: RunStore, gen: int, proposes: bool = False) -> dict | None:
    """The review deadline of generation `gen`, which waits: seconds left (negative once passed) and what happens
    then, in words; None where nothing happens at any time (plain --feedback human without --review-deadline)."""
    from rewardsmith.feedback import hybrid

    cfg = store.config()
    deadline_s = cfg.review_deadline_s or (hybrid.DEFAULT_DEADLINE_S if proposes else None)
    if deadline_s is None:
        return None
    made = hybrid.load_proposal(store, gen) if proposes else None
    several = cfg.reviewers > 1
    if made is not None and made.confident:
        then = ("the rankings made by then decide; if nobody has ranked, the judge's order stands" if several else
                "if nobody has ranked by then, the judge's order stands")
    elif several:
        then = "the rankings made by then decide (with none, the run waits for the first)"
    else:  # one reviewer decides at once anyway; the deadline only tells
        then = "nothing is decided without a ranking: the run keeps waiting for yours"
    left = waiting_since(store, gen) + deadline_s - time.time()
    return {"deadline_s": deadline_s, "seconds_left": round(left, 3), "then": then}


def judge_view(store: RunStore, gen: int) -> dict | None:
    """The judge's ranking of generation `gen` for the page: a hybrid run's proposal (with its confidence), else a
    judge run's verdict, else None."""
    from rewardsmith.feedback.hybrid import load_proposal
    from rewardsmith.feedback.judge import complete, load_verdict

    made = load_proposal(store, gen)
    if made is not None:
        return made.to_dict()
    verdict = load_verdict(store.gen_dir(gen))
    if verdict is None:
        return None
    _, fallback = complete(verdict, verdict.order, "")  # what the judge did not rank ("": it ranked all it saw)
    return {"order": list(verdict.order), "reasons": verdict.reasons, "summary": verdict.summary, "confident": None,
            "fallback": fallback}
