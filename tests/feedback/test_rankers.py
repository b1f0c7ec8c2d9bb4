"""ICPL's pieces without training: the rankers (synthetic rankings recorded like a person's, a person's ranking
awaited and reused on resume), reflect.py's comments and history text, and the ranked prompt (best and worst
programs, the reviewer's words, no task score)."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.events import AwaitingRanking
from rewardsmith.feedback.rankers import RANKERS, HumanRanker, MetricsRanker, SyntheticRanker, score
from rewardsmith.feedback.ranking import awaiting_path, load_ranking, ranking_path, submit_ranking
from rewardsmith.llm import reflect
from rewardsmith.llm.prompting import user_prompt
from rewardsmith.records import Candidate, Selection, Status
from rewardsmith.registry import UnknownNameError
from rewardsmith.runs.store import RunStore

FITNESS = {0: 0.4, 1: 0.9, 2: None, 3: 0.1, 4: float("nan")}  # c02 failed the check, c04 scored NaN


def _candidate(gen: int, index: int, fitness, scales: dict | None = None, marker: str | None = None) -> Candidate:
    if index == 2:
        return failed(gen, index)
    return evaluated(gen, index, fitness, scales, marker)


def _ctx(tmp_path, feedback_mode: str, events: list | None = None, **overrides) -> RunContext:
    cfg = RunConfig(env="cartpole", task="balance", feedback=feedback_mode, models=("openai/fake",), review_port=0,
                    **overrides)
    store = RunStore.create(tmp_path, "run", cfg)
    env = get_env("cartpole")
    report = events.append if events is not None else (lambda event: None)
    return RunContext(store, cfg, env, resolve_task(env, "balance"), report)


def _store(ctx: RunContext, generations: int = 1) -> dict[str, Candidate]:
    cands = {}
    for gen in range(generations):
        for index, fitness in FITNESS.items():
            cand = _candidate(gen, index, fitness)
            ctx.store.save_candidate(cand)
            cands[cand.id] = ctx.store.load_candidate(gen, index)  # NaN -> stored the way the store stores it
    return cands


def _gen(cands: dict, gen: int) -> list[Candidate]:
    return [c for c in cands.values() if c.generation == gen]


def _synthetic(ctx: RunContext, gen: int, candidates: list[Candidate], parent=None, noise=0.0, seed=0) -> Selection:
    ctx = dataclasses.replace(ctx, cfg=dataclasses.replace(ctx.cfg, synthetic_noise=noise, seed=seed))
    return SyntheticRanker(ctx).rank(gen, candidates, parent)


def test_registry_lists_the_rankers_and_refuses_unknown_names():
    assert RANKERS.names() == ("metrics", "synthetic", "human", "judge", "hybrid")
    with pytest.raises(UnknownNameError, match="unknown --feedback 'vibes'; valid: metrics, synthetic, human, judge"):
        RANKERS.get("vibes")


# ---- the rankers ------------------------------------------------------------------------------------------------

def test_synthetic_ranking_is_recorded_like_a_person_would_and_follows_fitness(tmp_path):
    ctx = _ctx(tmp_path, "synthetic")
    store, cands = ctx.store, _store(ctx)
    selection = _synthetic(ctx, 0, _gen(cands, 0))
    ranking = load_ranking(store, 0)
    assert ranking.source == "synthetic" and ranking.submitted_at
    # every evaluated candidate is ranked, as in a person's ranking; the one without a finite fitness goes last
    assert ranking.order == ("g0c01", "g0c00", "g0c03", "g0c04")
    assert (ranking.best, ranking.worst) == ("g0c01", "g0c04")
    assert selection.mode == "synthetic" and selection.ranking == ranking.order
    assert (selection.best, selection.worst, selection.best_overall) == ("g0c01", "g0c04", "g0c01")
    assert selection.best_overall_fitness == 0.9 and selection.fitness == {"g0c00": 0.4, "g0c01": 0.9, "g0c03": 0.1}
    assert selection.failed == {"g0c02": cands["g0c02"].reason}
    assert not awaiting_path(store, 0).exists()  # no waiting protocol for an automatic ranker

    # a resumed run reuses the recorded ranking, even if a different noise would order differently now
    before = ranking_path(store, 0).read_bytes()
    again = _synthetic(ctx, 0, _gen(cands, 0), noise=100.0, seed=7)
    assert again == selection and ranking_path(store, 0).read_bytes() == before


def test_synthetic_noise_is_seeded_and_can_reorder(tmp_path):
    orders = set()
    for seed in range(8):
        ctx = _ctx(tmp_path / str(seed), "synthetic")
        cands = _store(ctx)
        first = _synthetic(ctx, 0, _gen(cands, 0), noise=1.0, seed=seed)
        ranking_path(ctx.store, 0).unlink()
        assert _synthetic(ctx, 0, _gen(cands, 0), noise=1.0, seed=seed) == first
        orders.add(first.ranking)
    assert len(orders) > 1


def test_a_nan_fitness_never_wins_a_synthetic_ranking(tmp_path):
    ctx = _ctx(tmp_path, "synthetic")
    store = ctx.store
    nan, scored, parent = _candidate(0, 0, float("nan")), _candidate(0, 1, 0.2), _candidate(0, 3, 0.5)
    for cand in (nan, scored):
        store.save_candidate(cand)
    selection = _synthetic(ctx, 0, [nan, scored], parent)
    assert (selection.best, selection.worst, selection.best_overall) == ("g0c01", "g0c00", "g0c01")
    assert load_ranking(store, 0).order == ("g0c01", "g0c00")
    ranking_path(store, 0).unlink()
    only_nan = _synthetic(ctx, 0, [nan], parent)  # nothing measured: the parent stays
    assert (only_nan.best, only_nan.worst, only_nan.best_overall) == (None, None, "g0c03")
    assert load_ranking(store, 0) is None


def test_a_generation_with_fewer_than_two_rankable_candidates_is_not_ranked(tmp_path):
    events: list = []
    ctx = _ctx(tmp_path, "human", events)
    store = ctx.store
    lone, broken = _candidate(0, 0, 0.5), _candidate(0, 2, None)
    for cand in (lone, broken):
        store.save_candidate(cand)
    human = HumanRanker(ctx)
    try:
        for ranker in (SyntheticRanker(ctx), human):
            selection = ranker.rank(0, [lone, broken], None)
            assert (selection.best, selection.worst, selection.best_overall) == ("g0c00", None, "g0c00")
            assert load_ranking(store, 0) is None and not awaiting_path(store, 0).exists()
    finally:
        human.close()
    assert not any(isinstance(e, AwaitingRanking) for e in events)


def test_the_human_ranker_waits_for_the_ranking_and_does_not_wait_on_resume(tmp_path):
    announced = threading.Event()
    person = {"best": "g0c03", "worst": "g0c01", "comments": {"g0c03": "smooth"}, "generation_comment": "calmer"}

    def on_event(event):
        if isinstance(event, AwaitingRanking):
            assert event.gen == 0 and awaiting_path(store, 0).is_file()
            announced.set()

    ctx = dataclasses.replace(_ctx(tmp_path, "human"), report=on_event)
    store, cands = ctx.store, _store(ctx)

    def rank_when_announced():
        announced.wait(timeout=30)
        submit_ranking(store, 0, person)

    person_thread = threading.Thread(target=rank_when_announced)
    person_thread.start()
    human = HumanRanker(ctx)
    try:
        selection = human.rank(0, _gen(cands, 0), None)
        person_thread.join(timeout=30)
        # the person's choice wins even against the fitness, and their words are kept for the next prompt
        assert (selection.best, selection.worst, selection.best_overall) == ("g0c03", "g0c01", "g0c03")
        assert selection.ranking == ("g0c03", "g0c01") and selection.mode == "human"
        assert selection.comments == {"g0c03": "smooth"} and selection.generation_comment == "calmer"
        assert not awaiting_path(store, 0).exists()
        announced.clear()
        resumed = human.rank(0, _gen(cands, 0), None)
        assert resumed == selection and not announced.is_set()
    finally:
        human.close()


def test_fitness_of_failed_and_nan_candidates_never_wins():
    assert score(None) == -math.inf
    assert score(evaluated(0, 0, float("nan"))) == -math.inf
    assert score(failed(0, 1)) == -math.inf
    assert score(evaluated(0, 0, 0.25).replace(status=Status.TRAIN_FAILED)) == -math.inf
    assert score(evaluated(0, 0, 0.25)) == 0.25


# ---- reflect.py -------------------------------------------------------------------------------------------------

def test_comments_text():
    def selection(comments: dict, generation_comment: str = "") -> Selection:
        return Selection(generation=0, mode="human", ranking=(), fitness={}, best=None, worst=None, best_overall=None,
                         best_overall_fitness=None, failed={}, comments=comments,
                         generation_comment=generation_comment)

    assert reflect.comments_text(selection({})) == "(none)"
    assert reflect.comments_text(selection({"g0c01": ""})) == "(none)"
    text = reflect.comments_text(selection({"g0c01": "steady", "g0c03": "falls at once"}, "less cart motion"))
    assert text.splitlines() == ["- about g0c01: steady", "- about g0c03: falls at once",
                                 "- about the whole generation: less cart motion"]


def test_history_text_names_each_chosen_program_and_what_changed():
    assert reflect.history_text([]) == "(none yet)"
    a = _candidate(0, 1, 0.5, {"upright": 1.0, "alive": 0.5})
    b = _candidate(1, 0, 0.5, {"upright": 2.0, "alive": 0.5, "effort": -0.01})
    c = _candidate(2, 3, 0.5, {"upright": 2.0, "effort": -0.01})
    d = _candidate(3, 0, 0.5, {"upright": 2.0, "effort": -0.01}, marker="rewritten")
    e = d.replace(id="g4c00", generation=4)
    assert reflect.history_text([a, b, c, d, e]).splitlines() == [
        "- generation 0: g0c01 with upright=1, alive=0.5",
        "- generation 1: g1c00 with upright=2, alive=0.5, effort=-0.01 — added effort; rescaled upright 1 -> 2",
        "- generation 2: g2c03 with upright=2, effort=-0.01 — removed alive",
        "- generation 3: g3c00 with upright=2, effort=-0.01 — same terms and scales, rewritten term code",
        "- generation 4: g4c00 with upright=2, effort=-0.01 — unchanged",
    ]


def test_reflection_hides_the_task_score_when_people_rank():
    cand = _candidate(0, 1, 0.9)
    shown = reflect.reflection(cand, 500)
    assert "Task score of the trained policy" in shown and "0.123" in shown and "success rate 75%" in shown
    hidden = reflect.reflection(cand, 500, show_score=False)
    assert "Task score" not in hidden and "0.9" not in hidden and "0.123" not in hidden and "75%" not in hidden
    assert "- upright (scale 2)" in hidden and "Episode length (max 500)" in hidden


# ---- the ranked prompt (ICPL) -----------------------------------------------------------------------------------

def _prompt(tmp_path, mode: str) -> tuple[str, dict]:
    ctx = _ctx(tmp_path, mode)
    store, cands = ctx.store, _store(ctx, generations=2)
    gen0, gen1 = _gen(cands, 0), _gen(cands, 1)
    person = {"best": "g0c00", "worst": "g0c01", "comments": {"g0c00": "calm but drifts"},
              "generation_comment": "keep the cart centred"}
    if mode == "human":  # the person ranked both generations before this (resumed) run asks
        submit_ranking(store, 0, person, require_waiting=False)
        submit_ranking(store, 1, {**person, "best": "g1c03", "worst": "g1c00", "comments": {}}, require_waiting=False)
    ranker = RANKERS.get(mode).make(ctx)
    try:
        sel0 = ranker.rank(0, gen0, None)
        store.save_selection(sel0)
        sel1 = ranker.rank(1, gen1, cands[sel0.best_overall] if mode == "metrics" else None)
        store.save_selection(sel1)
    finally:
        ranker.close()
    best = store.find_candidate(sel1.best_overall)
    return user_prompt(ctx, 2, best, RANKERS.get(ctx.cfg.feedback).follow_up), cands


@pytest.mark.parametrize("mode", ["synthetic", "human"])
def test_ranked_prompt_carries_best_and_worst_but_no_score(tmp_path, mode):
    prompt, cands = _prompt(tmp_path, mode)
    best, worst = ("g1c01", "g1c04") if mode == "synthetic" else ("g1c03", "g1c00")
    assert cands[best].source.strip() in prompt and cands[worst].source.strip() in prompt
    # the headers name the ids, so the LLM can tell which program the reviewer's comments are about
    assert prompt.index(f"judged BEST ({best}):") < prompt.index(f"program {best}") \
        < prompt.index(f"judged WORST ({worst}):") < prompt.index(f"program {worst}")
    feedback = prompt.split("## What your programs did")[1]  # the first prompt's facts hold numbers such as gamma 0.99
    assert "Task score" not in prompt and "success rate" not in prompt and "0.9" not in feedback
    assert cands["g1c02"].reason in prompt  # the failures still reach the LLM
    first = "- generation 0: g0c01" if mode == "synthetic" else "- generation 0: g0c00"
    assert first in prompt and f"- generation 1: {best}" in prompt  # the history of chosen programs
    if mode == "human":  # the reviewer's comments of the last ranking (this run's generation 1 had none)
        assert "The reviewer's comments:\n- about the whole generation: keep the cart centred" in prompt
        assert "calm but drifts" not in prompt
    else:
        assert "The reviewer's comments:\n(none)" in prompt


def test_metrics_prompt_shows_the_task_score(tmp_path):
    prompt, cands = _prompt(tmp_path, "metrics")
    assert "Task score of the trained policy (higher is better): 0.9" in prompt
    # elitist: generation 1's best only ties generation 0's, so g0c01 stays the parent
    assert cands["g0c01"].source.strip() in prompt and "judged WORST" not in prompt


def test_ranked_prompt_without_a_second_program(tmp_path):
    ctx = _ctx(tmp_path, "synthetic")
    store = ctx.store
    lone, broken = _candidate(0, 0, 0.5), _candidate(0, 2, None)
    for cand in (lone, broken):
        store.save_candidate(cand)
    store.save_selection(SyntheticRanker(ctx).rank(0, [lone, broken], None))
    prompt = user_prompt(ctx, 1, lone, RANKERS.get(ctx.cfg.feedback).follow_up)
    assert "judged BEST (g0c00)" in prompt and "judged WORST (none)" in prompt
    assert "# (no second program could be compared)" in prompt and broken.reason in prompt
    assert "Task score" not in prompt


def test_scores_of_another_fitness_version_are_never_compared(tmp_path):
    """A run resumed across a change of the task's fitness: the old generation's scores were measured by version 1;
    the metrics ranker ranks only scores of the task's current version, so the old parent does not stay best."""
    ctx = _ctx(tmp_path, "metrics")
    version = ctx.task.fitness_version
    old = evaluated(0, 0, 0.99)
    old = old.replace(evaluation=dataclasses.replace(old.evaluation, fitness_version=version + 1))
    new = evaluated(1, 0, 0.2)
    new = new.replace(evaluation=dataclasses.replace(new.evaluation, fitness_version=version))
    assert score(old) == 0.99 and score(old, version) == -math.inf and score(new, version) == 0.2
    selection = MetricsRanker(ctx).rank(1, [new], old)
    assert selection.best_overall == "g1c00" and selection.best_overall_fitness == 0.2
