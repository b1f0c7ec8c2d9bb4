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
  hybrid     the judge ranks first (two looks: feedback/hybrid.py says when it is confident); the review page shows
             its order and reasons and a person confirms or reorders; at the review deadline a confident judge's
             ranking stands, an unsure one keeps the run waiting for a person.

Whatever the ranker, the result is one Selection record (gen_XX/selection.json), which says who decided
(`decided_by`); failed or NaN candidates never win.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rewardsmith.confidence import choose
from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.errors import UserError
from rewardsmith.events import AwaitingRanking, JudgeProposed, RankingDecided, ReviewPageOpen
from rewardsmith.feedback.ranking import (
    Ranking,
    RankingError,
    clear_awaiting,
    load_ranking,
    mark_awaiting,
    submit_ranking,
    wait_for_ranking,
)
from rewardsmith.llm.prompting import RANKING, SCORES
from rewardsmith.records import Candidate, Choice, DecidedBy, Decider, Selection, Status
from rewardsmith.registry import Registry

if TYPE_CHECKING:
    from rewardsmith.feedback.hybrid import Proposal
    from rewardsmith.feedback.judge import Verdict


class Ranker(Protocol):
    """A ranker at work for one run (made by its plug); its traits are on the plug (RankerPlug)."""

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
    successive halving or adaptive allocation stopped earlier (a score at a smaller budget is not the same
    measurement)."""
    scored = [(not c.cut_short, score(c, version) + (noise * rng.standard_normal() if noise and rng else 0), c)
              for c in candidates if score(c, version) > -math.inf]
    return [c for *_, c in sorted(scored, key=lambda item: (item[0], item[1]), reverse=True)]


def selection(gen: int, mode: str, order: list[str], best: Candidate | None, ranking: Ranking | None,
              candidates: list[Candidate], decided_by: DecidedBy, choice: Choice | None = None) -> Selection:
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
        decided_by=decided_by,
        choice=choice,
    )


def _from_ranking(gen: int, mode: str, ranking: Ranking, candidates: list[Candidate],
                  decided_by: DecidedBy) -> Selection:
    by_id = {c.id: c for c in candidates}
    order = list(ranking.order) if ranking.order else [ranking.best, ranking.worst]
    return selection(gen, mode, order, by_id[ranking.best], ranking, candidates, decided_by)


def people(ranking: Ranking, kept_judge_order: bool | None = None, judge_fallback: bool = False) -> DecidedBy:
    """Who decided a people's ranking: the reviewers whose rankings were combined (feedback/aggregate.py), or the
    one reviewer; `kept_judge_order`: on a hybrid run, whether the person kept the judge's proposed order;
    `judge_fallback`: that proposal was (partly) the fallback order, not the judge's."""
    info = ranking.aggregate or {}
    names = tuple(str(name) for name in info.get("reviewers") or ())
    if len(names) > 1:
        agreed = info.get("agreement") or {}
        return DecidedBy(Decider.PEOPLE, reviewers=names, how=str(info.get("decided") or ""),
                         agreement_tau=agreed.get("kendall_tau_mean"), same_best=agreed.get("same_best"),
                         kept_judge_order=kept_judge_order, judge_fallback=judge_fallback)
    return DecidedBy(Decider.PEOPLE, reviewers=(ranking.reviewer,), kept_judge_order=kept_judge_order,
                     judge_fallback=judge_fallback)


NOTHING_TO_COMPARE = DecidedBy(Decider.NOBODY)


def _unranked(gen: int, mode: str, candidates: list[Candidate], parent: Candidate | None) -> Selection:
    ranked = [c for c in candidates if c.status is Status.EVALUATED]
    return selection(gen, mode, [c.id for c in ranked], ranked[0] if ranked else parent, None, candidates,
                     NOTHING_TO_COMPARE)


class MetricsRanker:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        """The selection rule (confidence.choose) over this generation and the parent: the pick is the parent of the
        next generation (elitist, as Eureka's); the generation's own ranking follows the rule, then the candidates
        halving stopped (by their score at the budget they reached)."""
        version = self.ctx.task.fitness_version
        scored = [c for c in candidates if score(c, version) > -math.inf]
        pool = scored + ([parent] if parent is not None and score(parent, version) > -math.inf else [])
        choice = choose(pool, self.ctx.task.success_threshold, seed=self.ctx.cfg.seed * 7919 + gen,
                        incumbent=parent.id if parent is not None else None, robust=self.ctx.cfg.select_robust)
        ids = {c.id for c in candidates}
        order = [cid for cid in choice.order if cid in ids]
        order += [c.id for c in _by_fitness(scored, version) if c.id not in set(order)]
        by_id = {c.id: c for c in pool}
        best = by_id[choice.best] if choice.best is not None else parent
        return selection(gen, "metrics", order, best, None, candidates, DecidedBy(Decider.SCORE), choice)

    def close(self) -> None:
        pass


class SyntheticRanker:
    """Ranks by fitness; an evaluated candidate without a finite fitness goes last (a ranking lists every evaluated
    candidate, as a person's does) and never wins."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        cfg, store = self.ctx.cfg, self.ctx.store
        version = self.ctx.task.fitness_version
        scored = _by_fitness(candidates, version, cfg.synthetic_noise, np.random.default_rng(cfg.seed * 7919 + gen))
        unscored = [c for c in candidates if c.status is Status.EVALUATED and score(c, version) == -math.inf]
        if not scored or len(scored) + len(unscored) < 2:  # nothing to compare, or nothing measured that could win
            return selection(gen, "synthetic", [c.id for c in scored], scored[0] if scored else parent, None,
                             candidates, DecidedBy(Decider.SCORE))
        ranked = scored + unscored
        ranking = load_ranking(store, gen) or submit_ranking(
            store, gen, {"best": ranked[0].id, "worst": ranked[-1].id, "order": [c.id for c in ranked],
                         "source": "synthetic"}, require_waiting=False)
        return _from_ranking(gen, "synthetic", ranking, candidates, DecidedBy(Decider.SYNTHETIC))

    def close(self) -> None:
        pass


class HumanRanker:
    """Serves the review page for the whole run and waits (blocking, no busy loop) for the people's rankings of each
    generation (--reviewers, --review-deadline); a resumed run that already has the decision does not wait. When a
    generation starts waiting, --on-ranking-due's command runs beside the wait (review/access.py)."""

    def __init__(self, ctx: RunContext, stop_event: threading.Event | None = None) -> None:
        from rewardsmith.feedback.review.server import serve

        self.ctx = ctx
        self.stop_event = stop_event
        self.server = serve(ctx.store, port=ctx.cfg.review_port, host=ctx.cfg.review_host, port_flag="--review-port",
                            proposes=ranker(ctx.cfg.feedback).proposes)
        ctx.report(ReviewPageOpen(self.server.url, bool(self.server.token)))  # the one time

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        ranking = self._ranking(gen, self.ctx.cfg.review_deadline_s)
        if ranking is None:
            return _unranked(gen, "human", candidates, parent)
        return _from_ranking(gen, "human", ranking, candidates, people(ranking))

    def _ranking(self, gen: int, deadline_s: float | None, standing: Callable[[], Ranking | None] | None = None,
                 judge_confident: bool | None = None) -> Ranking | None:
        """The decision of generation `gen`: the recorded one, else marks it awaiting and waits for the people (and,
        past `deadline_s` with nobody, for what `standing` gives). None: fewer than two candidates to rank.
        `judge_confident`: the hybrid judge's confidence, for the waiting line (None: no judge)."""
        from rewardsmith.feedback.review.access import ranking_due

        store = self.ctx.store
        ranking = load_ranking(store, gen)
        if ranking is None:
            try:
                mark_awaiting(store, gen)
            except RankingError:  # fewer than two rankable candidates: nothing to compare
                return None
            cfg = self.ctx.cfg
            self.ctx.report(AwaitingRanking(gen, cfg.iterations, str(store.root), self.server.address, cfg.reviewers,
                                            deadline_s, judge_confident))
            if cfg.on_ranking_due:
                ranking_due(cfg.on_ranking_due, store.root, gen, self.server.url, self.ctx.report)
            ranking = wait_for_ranking(store, gen, self.stop_event, deadline_s=deadline_s, report=self.ctx.report,
                                       standing=standing)
            if ranking.aggregate:
                self.ctx.report(decided_event(gen, ranking.aggregate))
        clear_awaiting(store, gen)
        return ranking

    def close(self) -> None:
        self.server.close()


def decided_event(gen: int, info: dict[str, Any]) -> RankingDecided:
    """The event of a decision from a Ranking's `aggregate` record (feedback/aggregate.py's decision)."""
    agreed = info.get("agreement") or {}  # one reviewer: no agreement to measure
    reviewers = tuple(info["reviewers"])
    return RankingDecided(gen, str(info["decided"]), reviewers, str(info.get("method") or ""),
                          int(info.get("needed") or len(reviewers)), agreed.get("kendall_tau_mean"),
                          agreed.get("same_best"))


class JudgeRanker:
    """Asks the vision judge (feedback/judge.py) once per generation; a resumed run reuses its recorded verdict.
    Every candidate trains to the full budget: halving needs a fitness (execute/train_stage.halving_default)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        from rewardsmith.feedback.judge import run_judge

        rankable = [c for c in candidates if c.status is Status.EVALUATED]
        if len(rankable) < 2:  # nothing to compare
            return _unranked(gen, "judge", candidates, parent)
        verdict = run_judge(self.ctx, gen, rankable)
        ranking, fallback = judged(self.ctx, gen, rankable, verdict)
        return _from_ranking(gen, "judge", ranking, candidates,
                             DecidedBy(Decider.JUDGE, judge_model=verdict.model, judge_fallback=bool(fallback)))

    def close(self) -> None:
        pass


def judged(ctx: RunContext, gen: int, rankable: list[Candidate], verdict: Verdict) -> tuple[Ranking, str]:
    """The judge's ranking of the `rankable` candidates: its order, then those it did not place (in task-score order
    where the task has a score, else candidate order), its reasons as the comments; and the note that says what of
    the order came from that fallback ("": none of it)."""
    from rewardsmith.feedback.judge import complete

    scored = _by_fitness(rankable, ctx.task.fitness_version) if ctx.task.has_fitness else []
    fallback = [c.id for c in scored] + [c.id for c in rankable if c.id not in {s.id for s in scored}]
    order, note = complete(verdict, fallback, "task-score order" if scored else "candidate order")
    comment = " ".join(part for part in (verdict.summary, f"({note})" if note else "") if part)
    return Ranking(generation=gen, best=order[0], worst=order[-1], order=tuple(order), comments=dict(verdict.reasons),
                   generation_comment=comment, source="judge"), note


class HybridRanker(HumanRanker):
    """--feedback hybrid (feedback/hybrid.py): the judge looks twice and proposes; the page shows its proposal; a
    person's ranking decides; with nobody by the deadline (DEFAULT_DEADLINE_S without --review-deadline) a confident
    judge's ranking stands and an unsure one keeps the run waiting. Trains every candidate fully (no fitness)."""

    def rank(self, gen: int, candidates: list[Candidate], parent: Candidate | None) -> Selection:
        from rewardsmith.feedback import hybrid

        rankable = [c for c in candidates if c.status is Status.EVALUATED]
        if len(rankable) < 2:
            return _unranked(gen, "hybrid", candidates, parent)
        made, judge_ranking = self._propose(gen, rankable)
        deadline = self.ctx.cfg.review_deadline_s or hybrid.DEFAULT_DEADLINE_S
        ranking = self._ranking(gen, deadline, (lambda: judge_ranking) if made.confident else None,
                                judge_confident=made.confident)
        assert ranking is not None, "two evaluated candidates are rankable"
        if ranking.source == "judge":
            stood = DecidedBy(Decider.JUDGE, judge_model=self.ctx.cfg.judge_model, confident_why=made.why,
                              deadline_s=deadline)
            return _from_ranking(gen, "hybrid", ranking, candidates, stood)
        kept = hybrid.kept_judge_order(ranking.order, ranking.best, ranking.worst, made)
        if kept:  # the judge's reasons stand where the person kept its order and wrote none
            ranking = dataclasses.replace(ranking, comments={**{c: f"(judge) {r}" for c, r in made.reasons.items()},
                                                             **ranking.comments})
        return _from_ranking(gen, "hybrid", ranking, candidates, people(ranking, kept, bool(made.fallback)))

    def _propose(self, gen: int, rankable: list[Candidate]) -> tuple[Proposal, Ranking]:
        """The judge's proposal (asked for once; a resumed run reads it back) and its ranking as it would stand."""
        from rewardsmith.feedback import hybrid
        from rewardsmith.feedback.judge import load_verdict, run_judge

        first = run_judge(self.ctx, gen, rankable)
        made = hybrid.load_proposal(self.ctx.store, gen)
        ranking, fallback = judged(self.ctx, gen, rankable, first)
        if made is None:
            second = load_verdict(self.ctx.store.gen_dir(gen), hybrid.SECOND_LOOK) or \
                run_judge(self.ctx, gen, rankable, name=hybrid.SECOND_LOOK, reverse=True)
            made = hybrid.proposal(first, second, ranking.order or (), [c.id for c in rankable],
                                   self.ctx.cfg.judge_min_tau, fallback)
            hybrid.save_proposal(self.ctx.store, gen, made)
        self.ctx.report(JudgeProposed(gen, made.order, made.confident, made.why, made.tau))
        stood = f"the judge's ranking stood: confident, {made.why}; no reviewer answered by the deadline"
        return made, dataclasses.replace(ranking, generation_comment=" ".join(
            p for p in (ranking.generation_comment, f"({stood})") if p))


@dataclass(frozen=True)
class RankerPlug:
    """A --feedback mode: how to make its ranker, and what the rest of the code needs to know about it."""

    name: str
    make: Callable[[RunContext], Ranker]
    needs_fitness: bool  # ranks by the task score: a task without one cannot use it; halving can cut on it
    needs_videos: bool  # ranks what it sees: the generation is filmed before it ranks (else filming runs aside)
    reviewed: bool  # serves the review page and waits for people (--reviewers, --review-*, --blind)
    judged: bool  # asks the vision judge (feedback/judge.py): needs --judge-model and films
    # picks by the selection rule (confidence.py): racing and the final confirmation from scratch apply
    by_rule: bool
    # what the follow-up prompt shows (llm/prompting.py): SCORES (Eureka: every candidate's task score and the best's
    # reflection) or RANKING (ICPL: best and worst, the reviewers' words, no score anywhere)
    follow_up: str

    @property
    def proposes(self) -> bool:
        """The judge proposes and people decide; a confident judge's ranking may stand alone (--judge-min-tau)."""
        return self.judged and self.reviewed


RANKERS: Registry[RankerPlug] = Registry("--feedback")
for _plug in (
    RankerPlug("metrics", MetricsRanker, needs_fitness=True, needs_videos=False, reviewed=False, judged=False,
               by_rule=True, follow_up=SCORES),
    RankerPlug("synthetic", SyntheticRanker, needs_fitness=True, needs_videos=False, reviewed=False, judged=False,
               by_rule=False, follow_up=RANKING),
    RankerPlug("human", HumanRanker, needs_fitness=False, needs_videos=True, reviewed=True, judged=False,
               by_rule=False, follow_up=RANKING),
    RankerPlug("judge", JudgeRanker, needs_fitness=False, needs_videos=True, reviewed=False, judged=True,
               by_rule=False, follow_up=RANKING),
    RankerPlug("hybrid", HybridRanker, needs_fitness=False, needs_videos=True, reviewed=True, judged=True,
               by_rule=False, follow_up=RANKING),
):
    RANKERS.register_entry(_plug.name, _plug)


def ranker(name: str) -> RankerPlug:
    """The plug of --feedback `name` (UnknownNameError listing the modes for a name that is none)."""
    return RANKERS.get(name)


def rankers_that(trait: Callable[[RankerPlug], bool]) -> list[str]:
    return [name for name in RANKERS.names() if trait(RANKERS.get(name))]


def check_feedback(cfg: RunConfig) -> None:
    """A run's feedback settings against its ranker's traits; UserError (one line) before anything is written."""
    plug = ranker(cfg.feedback)
    if plug.judged and not cfg.judge_model:
        raise UserError(f"--feedback {cfg.feedback} needs --judge-model M, a vision model (a litellm model "
                        "string such as openai/gpt-4o, or openai/<name> with --judge-api-base for a local server)")
    if plug.judged and not cfg.video:
        raise UserError(f"--feedback {cfg.feedback} ranks the filmed episodes, so it cannot run with --no-video")
    if cfg.judge_min_tau != RunConfig.judge_min_tau and not plug.proposes:
        raise UserError(f"--judge-min-tau only applies to --feedback {' or '.join(rankers_that(_proposes))} (when "
                        f"the judge's ranking may stand alone), not --feedback {cfg.feedback}; leave it out")
    given = [flag for flag, on in (("--reviewers", cfg.reviewers != 1), ("--review-deadline", cfg.review_deadline_s),
                                   ("--review-host", cfg.review_host != "127.0.0.1"),
                                   ("--review-port", cfg.review_port != RunConfig.review_port),
                                   ("--blind", cfg.blind), ("--on-ranking-due", cfg.on_ranking_due)) if on]
    if given and not plug.reviewed:
        raise UserError(f"{', '.join(given)} only {'apply' if len(given) > 1 else 'applies'} to the review page, "
                        f"which --feedback {cfg.feedback} does not serve; use --feedback "
                        f"{' or '.join(rankers_that(_reviewed))}, or leave {'them' if len(given) > 1 else 'it'} out")


def check_review_live(cfg: RunConfig) -> None:
    """Pre-flight of a reviewed run, against this machine: the page can listen where asked and --on-ranking-due's
    program exists; UserError (one line) before anything is written."""
    if not ranker(cfg.feedback).reviewed:
        return
    from rewardsmith.feedback.review.access import check_command, check_listen

    check_listen(cfg.review_host, cfg.review_port)
    if cfg.on_ranking_due:
        check_command(cfg.on_ranking_due)


def _proposes(plug: RankerPlug) -> bool:
    return plug.proposes


def _reviewed(plug: RankerPlug) -> bool:
    return plug.reviewed
