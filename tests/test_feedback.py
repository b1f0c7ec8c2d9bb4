"""ICPL's pieces without training: the rankers of feedback.py (synthetic rankings recorded like a person's, a
person's ranking awaited and reused on resume), reflect.py's comments and history text, and the ranked prompt
(best and worst programs, the reviewer's words, no task score)."""

from __future__ import annotations

import json
import math
import threading

import pytest

from rewardsmith import evolve
from rewardsmith.feedback import rankers as feedback
from rewardsmith.feedback import reflect
from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.feedback.ranking import awaiting_path, load_ranking, ranking_path, submit_ranking
from rewardsmith.runs.store import RunStore

SOURCE = '''SCALES = {scales!r}


def reward_terms(s, action, xp):
    # {marker}
    return {{"upright": s["pole_upright"], "alive": xp.ones_like(s["cart_x"]), "effort": xp.sum(action ** 2, axis=-1)}}
'''
FITNESS = {0: 0.4, 1: 0.9, 2: None, 3: 0.1, 4: float("nan")}  # c02 failed the check, c04 scored NaN


def _candidate(gen: int, index: int, fitness, scales: dict | None = None, marker: str | None = None) -> dict:
    scales = scales or {"upright": 1.0 + index, "alive": 0.5, "effort": -0.01}
    cid = f"g{gen}c{index:02d}"
    source = SOURCE.format(scales=scales, marker=marker or f"program {cid}")
    if index == 2:
        return {"id": cid, "generation": gen, "index": index, "status": "check_failed", "source": source,
                "scales": scales, "reason": "term 'alive' has shape (3,) but the batch shape is (8,)",
                "check": None, "train": None, "evaluation": None}
    point = {"step": 1000, "episode_return": 12.5, "episode_length": 40.0, "fitness": 0.123456,
             "terms": {"upright": 9.0, "alive": 3.5, "effort": -0.25}}
    terms = {k: {"scale": v, "episode_sum": 1.0, "per_step_mean": 0.5, "per_step_std": 0.0 if k == "alive" else 0.1}
             for k, v in scales.items()}
    return {"id": cid, "generation": gen, "index": index, "status": "evaluated", "source": source, "scales": scales,
            "reason": None, "check": None, "train": {"steps": 2000, "wall_s": 1.0, "curve": [point, point]},
            "evaluation": {"episodes": 16, "fitness_mean": fitness, "fitness_std": 0.01, "success_rate": 0.75,
                           "return_mean": 20.0, "episode_length_mean": 77.0, "terms": terms}}


def _store(tmp_path, feedback_mode: str, generations: int = 1) -> tuple[RunStore, dict[str, dict]]:
    cfg = RunConfig(env="cartpole", task="balance", feedback=feedback_mode, model="openai/fake")
    store = RunStore.create(tmp_path, "run", cfg.__dict__)
    cands = {}
    for gen in range(generations):
        for index, fitness in FITNESS.items():
            cand = _candidate(gen, index, fitness)
            store.save_candidate(gen, index, cand)
            cands[cand["id"]] = json.loads(json.dumps(cand))  # NaN -> stored the way the store stores it
    return store, cands


def _gen(cands: dict, gen: int) -> list[dict]:
    return [c for cid, c in cands.items() if c["generation"] == gen]


# ---- feedback.py ------------------------------------------------------------------------------------------------

def test_synthetic_ranking_is_recorded_like_a_person_would_and_follows_fitness(tmp_path):
    store, cands = _store(tmp_path, "synthetic")
    selection = feedback.select_synthetic(store, 0, _gen(cands, 0), None, noise=0.0, seed=0)
    ranking = load_ranking(store, 0)
    assert ranking.source == "synthetic" and ranking.submitted_at
    # every evaluated candidate is ranked, as in a person's ranking; the one without a finite fitness goes last
    assert ranking.order == ("g0c01", "g0c00", "g0c03", "g0c04")
    assert (ranking.best, ranking.worst) == ("g0c01", "g0c04")
    assert selection["mode"] == "synthetic" and selection["ranking"] == list(ranking.order)
    assert (selection["best"], selection["worst"], selection["best_overall"]) == ("g0c01", "g0c04", "g0c01")
    assert selection["best_overall_fitness"] == 0.9 and selection["fitness"] == {"g0c00": 0.4, "g0c01": 0.9,
                                                                                 "g0c03": 0.1}
    assert selection["failed"] == {"g0c02": cands["g0c02"]["reason"]}
    assert not awaiting_path(store, 0).exists()  # no waiting protocol for an automatic ranker

    # a resumed run reuses the recorded ranking, even if a different noise would order differently now
    before = ranking_path(store, 0).read_bytes()
    again = feedback.select_synthetic(store, 0, _gen(cands, 0), None, noise=100.0, seed=7)
    assert again == selection and ranking_path(store, 0).read_bytes() == before


def test_synthetic_noise_is_seeded_and_can_reorder(tmp_path):
    orders = set()
    for seed in range(8):
        store, cands = _store(tmp_path / str(seed), "synthetic")
        first = feedback.select_synthetic(store, 0, _gen(cands, 0), None, noise=1.0, seed=seed)
        ranking_path(store, 0).unlink()
        assert feedback.select_synthetic(store, 0, _gen(cands, 0), None, noise=1.0, seed=seed) == first
        orders.add(tuple(first["ranking"]))
    assert len(orders) > 1


def test_a_nan_fitness_never_wins_a_synthetic_ranking(tmp_path):
    store = RunStore.create(tmp_path, "run", {"env": "cartpole", "task": "balance", "feedback": "synthetic"})
    nan, scored, parent = _candidate(0, 0, float("nan")), _candidate(0, 1, 0.2), _candidate(0, 3, 0.5)
    for cand in (nan, scored):
        store.save_candidate(0, cand["index"], cand)
    selection = feedback.select_synthetic(store, 0, [nan, scored], parent, 0.0, 0)
    assert (selection["best"], selection["worst"], selection["best_overall"]) == ("g0c01", "g0c00", "g0c01")
    assert load_ranking(store, 0).order == ("g0c01", "g0c00")
    ranking_path(store, 0).unlink()
    only_nan = feedback.select_synthetic(store, 0, [nan], parent, 0.0, 0)  # nothing measured: the parent stays
    assert (only_nan["best"], only_nan["worst"], only_nan["best_overall"]) == (None, None, "g0c03")
    assert load_ranking(store, 0) is None


def test_a_generation_with_fewer_than_two_rankable_candidates_is_not_ranked(tmp_path):
    store = RunStore.create(tmp_path, "run", {"env": "cartpole", "task": "balance", "feedback": "human"})
    lone = _candidate(0, 0, 0.5)
    failed = _candidate(0, 2, None)
    for cand in (lone, failed):
        store.save_candidate(0, cand["index"], cand)
    for select in (lambda: feedback.select_synthetic(store, 0, [lone, failed], None, 0.0, 0),
                   lambda: feedback.select_by_person(store, 0, [lone, failed], None, announce=pytest.fail)):
        selection = select()
        assert (selection["best"], selection["worst"], selection["best_overall"]) == ("g0c00", None, "g0c00")
        assert load_ranking(store, 0) is None and not awaiting_path(store, 0).exists()


def test_select_by_person_waits_for_the_ranking_and_does_not_wait_on_resume(tmp_path):
    store, cands = _store(tmp_path, "human")
    announced = threading.Event()
    person = {"best": "g0c03", "worst": "g0c01", "comments": {"g0c03": "smooth"}, "generation_comment": "calmer"}

    def announce(gen):
        assert gen == 0 and awaiting_path(store, 0).is_file()
        announced.set()

    def rank_when_announced():
        announced.wait(timeout=30)
        submit_ranking(store, 0, person)

    ranker = threading.Thread(target=rank_when_announced)
    ranker.start()
    selection = feedback.select_by_person(store, 0, _gen(cands, 0), None, announce)
    ranker.join(timeout=30)
    # the person's choice wins even against the fitness, and their words are kept for the next prompt
    assert (selection["best"], selection["worst"], selection["best_overall"]) == ("g0c03", "g0c01", "g0c03")
    assert selection["ranking"] == ["g0c03", "g0c01"] and selection["mode"] == "human"
    assert selection["comments"] == {"g0c03": "smooth"} and selection["generation_comment"] == "calmer"
    assert not awaiting_path(store, 0).exists()
    resumed = feedback.select_by_person(store, 0, _gen(cands, 0), None, announce=pytest.fail)
    assert resumed == selection


def test_fitness_of_failed_and_nan_candidates_never_wins():
    assert feedback.fitness(None) == -math.inf
    assert feedback.fitness({"evaluation": {"fitness_mean": float("nan")}}) == -math.inf
    assert feedback.fitness({"evaluation": None}) == -math.inf
    assert feedback.fitness({"evaluation": {"fitness_mean": 0.25}}) == 0.25


# ---- reflect.py -------------------------------------------------------------------------------------------------

def test_comments_text():
    assert reflect.comments_text({}) == "(none)"
    assert reflect.comments_text({"comments": {"g0c01": ""}, "generation_comment": ""}) == "(none)"
    text = reflect.comments_text({"comments": {"g0c01": "steady", "g0c03": "falls at once"},
                                  "generation_comment": "less cart motion"})
    assert text.splitlines() == ["- about g0c01: steady", "- about g0c03: falls at once",
                                 "- about the whole generation: less cart motion"]


def test_history_text_names_each_chosen_program_and_what_changed():
    assert reflect.history_text([]) == "(none yet)"
    a = _candidate(0, 1, 0.5, {"upright": 1.0, "alive": 0.5})
    b = _candidate(1, 0, 0.5, {"upright": 2.0, "alive": 0.5, "effort": -0.01})
    c = _candidate(2, 3, 0.5, {"upright": 2.0, "effort": -0.01})
    d = _candidate(3, 0, 0.5, {"upright": 2.0, "effort": -0.01}, marker="rewritten")
    e = dict(d, id="g4c00", generation=4)
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
    store, cands = _store(tmp_path, mode, generations=2)
    gen0, gen1 = _gen(cands, 0), _gen(cands, 1)
    person = {"best": "g0c00", "worst": "g0c01", "comments": {"g0c00": "calm but drifts"},
              "generation_comment": "keep the cart centred"}
    if mode == "synthetic":
        sel0 = feedback.select_synthetic(store, 0, gen0, None, 0.0, 0)
    elif mode == "human":
        submit_ranking(store, 0, person, require_waiting=False)
        sel0 = feedback.select_by_person(store, 0, gen0, None, announce=pytest.fail)
    else:
        sel0 = feedback.select_by_metrics(0, gen0, None)
    store.save_selection(0, sel0)
    if mode == "human":
        submit_ranking(store, 1, {**person, "best": "g1c03", "worst": "g1c00", "comments": {}}, require_waiting=False)
        sel1 = feedback.select_by_person(store, 1, gen1, None, announce=pytest.fail)
    else:
        sel1 = feedback.select_synthetic(store, 1, gen1, None, 0.0, 0) if mode == "synthetic" else \
            feedback.select_by_metrics(1, gen1, cands[sel0["best_overall"]])
    store.save_selection(1, sel1)
    cfg = RunConfig(**store.config())
    env = get_env("cartpole")
    ctx = evolve.Context(store, cfg, env, resolve_task(env, "balance"), lambda event: None)
    best = store.load_candidate(*store.find_candidate(sel1["best_overall"]))
    return evolve._user_prompt(ctx, 2, best), cands


@pytest.mark.parametrize("mode", ["synthetic", "human"])
def test_ranked_prompt_carries_best_and_worst_but_no_score(tmp_path, mode):
    prompt, cands = _prompt(tmp_path, mode)
    best, worst = ("g1c01", "g1c04") if mode == "synthetic" else ("g1c03", "g1c00")
    assert cands[best]["source"].strip() in prompt and cands[worst]["source"].strip() in prompt
    # the headers name the ids, so the LLM can tell which program the reviewer's comments are about
    assert prompt.index(f"judged BEST ({best}):") < prompt.index(f"program {best}") \
        < prompt.index(f"judged WORST ({worst}):") < prompt.index(f"program {worst}")
    assert "Task score" not in prompt and "success rate" not in prompt and "0.9" not in prompt
    assert cands["g1c02"]["reason"] in prompt  # the failures still reach the LLM
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
    assert cands["g0c01"]["source"].strip() in prompt and "judged WORST" not in prompt


def test_ranked_prompt_without_a_second_program(tmp_path):
    cfg = RunConfig(env="cartpole", task="balance", feedback="synthetic", model="openai/fake")
    store = RunStore.create(tmp_path, "run", cfg.__dict__)
    lone, failed = _candidate(0, 0, 0.5), _candidate(0, 2, None)
    for cand in (lone, failed):
        store.save_candidate(0, cand["index"], cand)
    store.save_selection(0, feedback.select_synthetic(store, 0, [lone, failed], None, 0.0, 0))
    env = get_env("cartpole")
    ctx = evolve.Context(store, cfg, env, resolve_task(env, "balance"), lambda event: None)
    prompt = evolve._user_prompt(ctx, 1, lone)
    assert "judged BEST (g0c00)" in prompt and "judged WORST (none)" in prompt
    assert "# (no second program could be compared)" in prompt and failed["reason"] in prompt
    assert "Task score" not in prompt
