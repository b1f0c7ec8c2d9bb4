"""Rankers: who decides which candidate of a generation is best, and what the next generation builds on.

  metrics    Eureka: the task fitness; the best over the whole run so far is the parent (elitist).
  synthetic  ICPL's proxy person: ranks by the task fitness (plus optional noise) into a Ranking, exactly as a
             person's would be recorded; the next prompt sees no score, only best/worst and the reward traces.
  human      ICPL: a person ranks the generation's videos on the review page (or with `rewardsmith rank`); this
             ranker owns the review server for the length of the run. With --reviewers N it waits for N people
             (or --review-deadline) and the Bradley–Terry aggregate of their rankings decides (feedback/ranking.py).
  judge      a vision LLM ranks the generation's filmed episodes from pictures and the task text (feedback/judge.py);
             its reasons are the comments of the next prompt. Candidates it did not place (a reply still invalid
             after its tries, a candidate that could not be filmed) follow in task-score order (else candidate order)
             and the generation comment says so.

Whatever the ranker, the result is one Selection record (gen_XX/selection.json); failed or NaN candidates never win.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from rewardsmith.context import RunContext
from rewardsmith.feedback.ranking import (
    Ranking,
    RankingError,
    clear_awaiting,
    load_ranking,
    mark_awaiting,
    submit_ranking,
    wait_for_ranking,
)
from rewardsmith.records import Candidate, Selection, Status
from rewardsmith.registry import Registry


class Ranker(Protocol):
    needs_fitness: bool  # ranks by the task metric, so a task without one cannot use it
    needs_videos: bool  # ranks what it sees: the generation is filmed before it ranks (else filming runs aside)

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        """The Selection of generation `gen`; `parent` is the best candidate of the run so far (or None)."""
        ...

    def close(self) -> None:
        """Releases what the ranker holds (the human ranker's review server)."""
        ...


def score(cand: Candidate | None, fitness_version: int | None = None) -> float:
    """The candidate's task score for comparisons: -inf when it has none (failed, unevaluated, NaN) or, given the
    task's current `fitness_version`, when it was measured by another version of the fitness (a resumed run that
    crosses a fitness change never ranks old scores against new ones)."""
    value = cand.fitness if cand is not None else None
    if value is None or not math.isfinite(value):
        return -math.inf
    measured = (cand.evaluation.fitness_version if cand and cand.evaluation else None) or 1  # None: before versions
    return value if fitness_version is None or measured == fitness_version else -math.inf


def _by_fitness(candidates: list[Candidate], version: int, noise: float = 0.0,
                rng: np.random.Generator | None = None) -> list[Candidate]:
    """Candidates with a comparable score, best first; those trained to the full budget rank above those that
    successive halving stopped earlier (a score at a smaller budget is not the same measurement)."""
    scored = [(c.stopped_at is None, score(c, version) + (noise * rng.standard_normal() if noise and rng else 0.0), c)
              for c in candidates if score(c, version) > -math.inf]
    return [c for *_, c in sorted(scored, key=lambda item: (item[0], item[1]), reverse=True)]


def selection(gen: int, mode: str, order: list[str], best: Candidate | None, ranking: Ranking | None,
              candidates: list[Candidate]) -> Selection:
    return Selection(
        generation=gen,
        mode=mode,
        ranking=tuple(order),
        fitness={c.id: score(c) for c in candidates if score(c) > -math.inf},
        best=order[0] if order else None,
        worst=order[-1] if len(order) > 1 else None,
        comments=dict(ranking.comments) if ranking else {},
        generation_comment=ranking.generation_comment if ranking else "",
        best_overall=best.id if best else None,
        best_overall_fitness=score(best) if best and score(best) > -math.inf else None,
        failed={c.id: c.reason for c in candidates if c.status.failed},
    )


def _from_ranking(gen: int, mode: str, ranking: Ranking, candidates: list[Candidate]) -> Selection:
    by_id = {c.id: c for c in candidates}
    order = list(ranking.order) if ranking.order else [ranking.best, ranking.worst]
    return selection(gen, mode, order, by_id[ranking.best], ranking, candidates)


class MetricsRanker:
    needs_fitness = True
    needs_videos = False

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        version = self.ctx.task.fitness_version
        ranked = _by_fitness(candidates, version)
        best = ranked[0] if ranked and (parent is None or score(ranked[0], version) > score(parent, version)) \
            else parent
        return selection(gen, "metrics", [c.id for c in ranked], best, None, candidates)

    def close(self) -> None:
        pass


class SyntheticRanker:
    """Ranks by fitness; an evaluated candidate without a finite fitness goes last (a ranking lists every evaluated
    candidate, as a person's does) and never wins."""

    needs_fitness = True
    needs_videos = False

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        cfg, store = self.ctx.cfg, self.ctx.store
        version = self.ctx.task.fitness_version
        scored = _by_fitness(candidates, version, cfg.synthetic_noise, np.random.default_rng(cfg.seed * 7919 + gen))
        unscored = [c for c in candidates if c.status is Status.EVALUATED and score(c, version) == -math.inf]
        if not scored or len(scored) + len(unscored) < 2:  # nothing to compare, or nothing measured that could win
            return selection(gen, "synthetic", [c.id for c in scored], scored[0] if scored else parent, None,
                             candidates)
        ranked = scored + unscored
        ranking = load_ranking(store, gen) or submit_ranking(
            store, gen, {"best": ranked[0].id, "worst": ranked[-1].id, "order": [c.id for c in ranked],
                         "source": "synthetic"}, require_waiting=False)
        return _from_ranking(gen, "synthetic", ranking, candidates)

    def close(self) -> None:
        pass


class HumanRanker:
    """Serves the review page for the whole run and waits (blocking, no busy loop) for the people's rankings of each
    generation (--reviewers, --review-deadline); a resumed run that already has the decision does not wait. When a
    generation starts waiting, --on-ranking-due's command runs beside the wait (review/access.py)."""

    needs_fitness = False
    needs_videos = True

    def __init__(self, ctx: RunContext, stop_event: threading.Event | None = None) -> None:
        from rewardsmith.feedback.review.server import serve

        self.ctx = ctx
        self.stop_event = stop_event
        self.server = serve(ctx.store, port=ctx.cfg.review_port, host=ctx.cfg.review_host, port_flag="--review-port")
        ctx.report({"event": "review", "url": self.server.url, "token": bool(self.server.token)})  # the one time

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        from rewardsmith.feedback.review.access import ranking_due

        store = self.ctx.store
        ranking = load_ranking(store, gen)
        if ranking is None:
            try:
                mark_awaiting(store, gen)
            except RankingError:  # fewer than two rankable candidates: nothing to compare
                ranked = [c for c in candidates if c.status is Status.EVALUATED]
                return selection(gen, "human", [c.id for c in ranked], ranked[0] if ranked else parent, None,
                                 candidates)
            cfg = self.ctx.cfg
            self.ctx.report({"event": "awaiting_ranking", "gen": gen, "of": cfg.iterations, "run": str(store.root),
                             "url": self.server.address, "reviewers": cfg.reviewers,
                             "deadline_s": cfg.review_deadline_s})
            if cfg.on_ranking_due:
                ranking_due(cfg.on_ranking_due, store.root, gen, self.server.url, self.ctx.report)
            ranking = wait_for_ranking(store, gen, self.stop_event, deadline_s=cfg.review_deadline_s,
                                       report=self.ctx.report)
            if ranking.aggregate:
                self.ctx.report({"event": "decided", "gen": gen, **ranking.aggregate})
        clear_awaiting(store, gen)
        return _from_ranking(gen, "human", ranking, candidates)

    def close(self) -> None:
        self.server.close()


class JudgeRanker:
    """Asks the vision judge (feedback/judge.py) once per generation; a resumed run reuses its recorded verdict.
    Every candidate trains to the full budget: halving needs a fitness (train/stage.halving_default)."""

    needs_fitness = False
    needs_videos = True

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        from rewardsmith.feedback.judge import complete, run_judge

        rankable = [c for c in candidates if c.status is Status.EVALUATED]
        if len(rankable) < 2:  # nothing to compare
            return selection(gen, "judge", [c.id for c in rankable], rankable[0] if rankable else parent, None,
                             candidates)
        verdict = run_judge(self.ctx, gen, rankable)
        version = self.ctx.task.fitness_version
        scored = _by_fitness(rankable, version) if self.ctx.task.has_fitness else []
        fallback = [c.id for c in scored] + [c.id for c in rankable if c.id not in {s.id for s in scored}]
        basis = "task-score order" if scored else "candidate order"
        order, note = complete(verdict, fallback, basis)
        comment = " ".join(part for part in (verdict.summary, f"({note})" if note else "") if part)
        ranking = Ranking(generation=gen, best=order[0], worst=order[-1], order=tuple(order),
                          comments=dict(verdict.reasons), generation_comment=comment, source="judge")
        return _from_ranking(gen, "judge", ranking, candidates)

    def close(self) -> None:
        pass


RankerFactory = Callable[[RunContext], Ranker]
RANKERS: Registry[RankerFactory] = Registry("--feedback")
RANKERS.register("metrics", lambda: MetricsRanker)
RANKERS.register("synthetic", lambda: SyntheticRanker)
RANKERS.register("human", lambda: HumanRanker)
RANKERS.register("judge", lambda: JudgeRanker)


def needs_fitness(name: str) -> bool:
    return bool(getattr(RANKERS.get(name), "needs_fitness", False))
