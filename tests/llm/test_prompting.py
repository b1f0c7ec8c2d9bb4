"""The prompts (issue 15): the facts of the first prompt come from the env, the task and the training setup; the
follow-up shows every candidate of the last generation in a table before the chosen program's reflection; the task's
fitness never reaches the LLM; the humanoid follow-up stays under its token budget.

Snapshots of the humanoid kneel prompts live in tests/fixtures/prompts/. After an intended change of a prompt,
regenerate them and read the diff:

    REWARDSMITH_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q tests/llm/test_prompting.py
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from pathlib import Path

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import env_names, get_env, resolve_task
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.llm import facts, prompting, reflect
from rewardsmith.llm.prompting import (
    FOLLOW_UP_BUDGET,
    FOLLOW_UPS,
    RANKING,
    SCORES,
    count_tokens,
    first_prompt,
    messages_for,
    success_rule,
    user_prompt,
)
from rewardsmith.llm.prompts import chat, render
from rewardsmith.program.check import constant_warning
from rewardsmith.program.extract import extract_program
from rewardsmith.records import (
    Candidate,
    CheckReport,
    CurvePoint,
    Evaluation,
    Selection,
    Status,
    Stop,
    TermStats,
    TrainResult,
)
from rewardsmith.runs.show import generation_rows
from rewardsmith.runs.store import RunStore
from rewardsmith.train.trainers import TRAINERS

SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "prompts"
UPDATE = os.environ.get("REWARDSMITH_UPDATE_SNAPSHOTS") == "1"

# A reward of the size and style strong LLMs write for humanoid kneel (ten terms, comments), for realistic prompts.
KNEEL_PROGRAM = '''"""Kneel: knees down, torso upright, head at kneeling height; {marker}."""

SCALES = {{"knees_down": 2.0, "knees_low": 0.5, "torso_upright": 1.0, "head_band": 1.0, "shins_down": 0.3,
          "not_lying": 0.3, "hands_off_floor": 0.2, "still": -0.05, "effort": -0.01, "alive": 0.1}}


def reward_terms(s, action, xp):
    knee_z = 0.5 * (s["left_knee_pos"][..., 2] + s["right_knee_pos"][..., 2])
    head_z = s["head_pos"][..., 2]
    # 1 between 0.95 and 1.2 m (upright kneeling), falling to 0 at 0.7 m and at 1.5 m (standing)
    head_band = xp.clip(xp.minimum((head_z - 0.7) / 0.25, (1.5 - head_z) / 0.3), 0.0, 1.0)
    knees = 0.5 * (s["left_knee_on_floor"] + s["right_knee_on_floor"])
    shins = 0.5 * (s["left_shin_on_floor"] + s["right_shin_on_floor"])
    body_down = xp.maximum(xp.maximum(s["torso_on_floor"], s["head_on_floor"]), s["pelvis_on_floor"])
    hands = xp.maximum(s["left_hand_on_floor"], s["right_hand_on_floor"])
    upright = xp.clip(s["torso_up"], 0.0, 1.0)
    speed = xp.linalg.norm(s["com_velocity"], axis=-1)
    return {{
        "knees_down": knees * upright,  # the pose itself: both kneecaps down with the torso up
        "knees_low": xp.exp(-((knee_z / 0.15) ** 2)),  # a smooth pull of the knees toward the floor
        "torso_upright": upright,
        "head_band": head_band,
        "shins_down": shins,  # a stable base, not balancing on two kneecaps
        "not_lying": 1.0 - body_down,
        "hands_off_floor": 1.0 - hands,  # kneeling upright, not on all fours
        "still": xp.minimum(speed, 2.0) * knees,  # hold the pose once there
        "effort": xp.sum(action ** 2, axis=-1),
        "alive": xp.ones_like(head_z),
    }}
'''
SCALES = extract_program(f"```python\n{KNEEL_PROGRAM.format(marker='x')}```").scales
CHECKPOINTS = 10  # TrainConfig.checkpoints: the curve a real training records
FULL_BUDGET = 4_997_120  # kneel's 5,000,000 steps as the native trainer trains them: 610 iterations of 256 x 32
# what the check really says of KNEEL_PROGRAM on humanoid kneel (its only warning)
ALIVE_WARNING = constant_warning("alive", 1.0, SCALES["alive"], 256)


def _kneel_program(cid: str) -> str:
    return KNEEL_PROGRAM.format(marker=f"program {cid}")


def _term_course(term: str, scale: float, i: int, length: float) -> float:
    """A term's scaled contribution per episode at checkpoint i, as real trainings go: most grow, knees_down pays 0 at
    first, still is learned away (-17 to 0: issue 24's live run), alive pays the same per step (1 x its scale)."""
    if term == "knees_down":
        return round(scale * 15.0 * i, 4)
    if term == "still":
        return round(-17.0 * (CHECKPOINTS - 1 - i) / (CHECKPOINTS - 1), 4)
    if term == "alive":
        return round(scale * length, 4)
    return round(scale * (3.0 + 7.1 * i), 4)


def _humanoid(cand: Candidate, fitness: float | None, success: float, length: float, stop: Stop = Stop.BUDGET,
              steps: int = FULL_BUDGET) -> Candidate:
    """A builders.evaluated candidate made a humanoid kneel one: its program, terms, a full training curve up to the
    steps it trained, what stopped it and the pre-flight check's warning about its constant alive term."""
    lengths = [min(200.0, 60.0 + 15 * i) for i in range(CHECKPOINTS)]
    curve = tuple(
        CurvePoint(step=steps * (i + 1) // CHECKPOINTS, episode_return=40.0 * (i + 1), episode_length=lengths[i],
                   fitness=None if fitness is None else fitness * (i + 1) / CHECKPOINTS,
                   terms={k: _term_course(k, v, i, lengths[i]) for k, v in SCALES.items()}, wall_s=100.0 * (i + 1),
                   episodes=300 + 10 * i)
        for i in range(CHECKPOINTS))
    terms = {k: TermStats(scale=v, episode_sum=round(v * (100 + 25 * cand.index) * (1 + 0.1 * j), 3),
                          per_step_mean=round(0.9 - 0.05 * j, 3), per_step_std=0.21)
             for j, (k, v) in enumerate(SCALES.items())}
    terms["still"] = TermStats(scale=SCALES["still"], episode_sum=0.0, per_step_mean=0.0, per_step_std=0.0)
    terms["alive"] = TermStats(scale=SCALES["alive"], episode_sum=round(SCALES["alive"] * length, 3),
                               per_step_mean=1.0, per_step_std=0.0)
    assert cand.evaluation is not None
    evaluation = dataclasses.replace(cand.evaluation, fitness_mean=fitness, success_rate=success,
                                     episode_length_mean=length, terms=terms,
                                     fitness_version=get_env("humanoid").task("kneel").fitness_version)
    check = CheckReport(passed=True, errors=(), warnings=(ALIVE_WARNING,), terms=tuple(SCALES), seconds=5.5,
                        per_call_ms=1.0)
    return cand.replace(source=_kneel_program(cand.id), scales=SCALES, evaluation=evaluation, check=check, stop=stop,
                        train=TrainResult(steps=steps, wall_s=1000.0, steps_per_s=10_000.0, curve=curve,
                                          reached_success=stop is Stop.SUCCESS))


# (status, task score, success rate, episode length) of a generation's candidates, in index order
ROWS = [
    (Status.EVALUATED, 0.62, 0.75, 200.0),
    (Status.CHECK_FAILED, None, None, None),
    (Status.EVALUATED, 0.81, 0.94, 200.0),
    (Status.EVALUATED, 0.0, 0.0, 41.5),
    (Status.TRAIN_FAILED, None, None, None),
    (Status.EVALUATED, 0.33, 0.25, 187.0),
    (Status.LLM_FAILED, None, None, None),
    (Status.EXTRACT_FAILED, None, None, None),
]
# what ended the evaluated candidates' training and the env steps they trained (kneel's budget is 610 PPO iterations
# of 8,192 steps; halving's first rung a quarter of them; g0c02 reached success at a checkpoint)
STOPS = {0: (Stop.BUDGET, FULL_BUDGET), 2: (Stop.SUCCESS, 2_998_272), 3: (Stop.HALVING, 1_245_184),
         5: (Stop.HALVING, 1_245_184)}
REASONS = {
    Status.CHECK_FAILED: "term 'still' has shape (21,) but the batch shape is (8,): reduce with axis=-1",
    Status.TRAIN_FAILED: "reward term 'knees_low' returned NaN/Inf in 3 of 256 envs at step 1234944",
    Status.LLM_FAILED: "APIConnectionError: connection refused",
    Status.EXTRACT_FAILED: "the reply holds no ```python code block",
}


def _ctx(tmp_path: Path, feedback: str = "metrics", task: str = "kneel", env: str = "humanoid",
         **overrides) -> RunContext:
    cfg = RunConfig(env=env, task=task, feedback=feedback, models=("openai/fake",), review_port=0, **overrides)
    store = RunStore.create(tmp_path, f"run-{feedback}", cfg)
    spec = get_env(env)
    return RunContext(store, cfg, spec, resolve_task(spec, task), lambda event: None)


def _generation(ctx: RunContext, k: int, gen: int = 0) -> tuple[list[Candidate], Selection]:
    """Generation `gen` of K humanoid kneel candidates (failed ones included), stored and ranked by the run's
    ranker."""
    cands = []
    for index, (status, fitness, success, length) in enumerate(ROWS[:k]):
        if status is Status.EVALUATED:
            assert length is not None and success is not None
            cand = _humanoid(evaluated(gen, index, fitness), fitness, success, length, *STOPS[index])
        else:
            cand = failed(gen, index, status, REASONS[status]).replace(
                source=_kneel_program(Candidate.make_id(gen, index)), scales=SCALES)
        ctx.store.save_candidate(cand)
        cands.append(cand)
    ranker = RANKERS.get(ctx.cfg.feedback).make(ctx)
    try:
        selection = ranker.rank(gen, cands, None)
    finally:
        ranker.close()
    ctx.store.save_selection(selection)
    return cands, selection


def _follow_up(tmp_path: Path, feedback: str, k: int) -> tuple[str, list[Candidate], Selection]:
    ctx = _ctx(tmp_path, feedback)
    cands, selection = _generation(ctx, k)
    assert selection.best_overall is not None
    return user_prompt(ctx, 1, ctx.store.find_candidate(selection.best_overall), RANKERS.get(ctx.cfg.feedback).follow_up), cands, selection


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no snapshot {path}; create it with REWARDSMITH_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} changed; if intended, regenerate (see this module's docstring)"


# ---- snapshots ----------------------------------------------------------------------------------------------------

def test_humanoid_kneel_first_prompt_snapshot(tmp_path):
    _snapshot("humanoid_kneel_first.md", first_prompt(_ctx(tmp_path)))


@pytest.mark.parametrize("feedback", ["metrics", "synthetic"])
def test_humanoid_kneel_follow_up_snapshot(tmp_path, feedback):
    prompt, _, _ = _follow_up(tmp_path, feedback, 6)
    _snapshot(f"humanoid_kneel_follow_up_{feedback}.md", prompt)


# ---- the first prompt's facts -------------------------------------------------------------------------------------

def test_first_prompt_carries_the_facts_of_env_task_and_training(tmp_path):
    prompt = first_prompt(_ctx(tmp_path))
    task = get_env("humanoid").task("kneel")
    assert task.description in prompt and task.termination_doc in prompt
    assert f"{task.train_steps:,} env steps" in prompt and "256 envs in parallel" in prompt and "gamma 0.99" in prompt
    assert "clipped to [-1, 1]" in prompt and "`s` is the state AFTER the step" in prompt
    assert "Not in the observation: root x, root y." in prompt
    assert "- [6] right_knee: -160 to 2 deg, motor up to 80 N m" in prompt  # the action order and the range
    assert "Total mass 41.0 kg" in prompt and "highest point of the body is about 1.57 m" in prompt
    flags = re.search(r"exactly 0\.0 or 1\.0 .*?: (.*)\.", prompt)
    assert flags and set(flags[1].split(", ")) >= {"left_knee_on_floor", "right_knee_on_floor", "head_on_floor"}


def test_training_facts_follow_the_configured_trainer(tmp_path):
    native = facts.training_text(_ctx(tmp_path / "a"))
    assert "return" in native and "clipped to [-1, 1]" in native and "tanh" not in native
    mjx = facts.training_text(_ctx(tmp_path / "b", trainer="mjx"))
    settings = get_env("humanoid").ppo_mjx  # Brax's settings of this env: its own envs and discount
    assert f"{settings['num_envs']} envs in parallel" in mjx and f"gamma {settings['discounting']:g}" in mjx
    assert "tanh" in mjx and "not normalised" in mjx and "clipped" not in mjx
    population = facts.training_text(_ctx(tmp_path / "c", trainer="population"))  # the GPU default: its own facts
    assert "on MJX" in population and "256 envs in parallel" in population and "clipped to [-1, 1]" in population
    assert "Every candidate reward of a generation is trained at the same time" in population
    assert population != native and "Trained by the" not in population  # not the generic one-liner of before


def test_every_plug_states_the_traits_the_rest_of_the_code_asks(tmp_path):
    """Trainers and rankers carry their traits; each ranker's follow-up is one the prompt knows how to write."""
    assert all(RANKERS.get(name).follow_up in FOLLOW_UPS for name in RANKERS.names())
    assert [n for n in TRAINERS.names() if TRAINERS.get(n).together] == ["population"]
    assert {TRAINERS.get(n).default_on for n in TRAINERS.names()} == {"cpu", "gpu", None}
    for name in TRAINERS.names():  # every trainer tells the LLM how it trains
        assert "env steps in total" in facts.training_text(_ctx(tmp_path / name, trainer=name))


def test_episodes_that_cannot_end_early_say_so_and_free_text_tasks_keep_the_termination_words(tmp_path):
    reacher = get_env("reacher")
    assert "never end early" in facts.termination_text(reacher, reacher.task("reach"))
    humanoid = get_env("humanoid")
    custom = resolve_task(humanoid, "kneel on one knee and wave")  # inherits the first task's terminate
    assert custom.terminate is humanoid.tasks[0].terminate
    assert humanoid.tasks[0].termination_doc in facts.termination_text(humanoid, custom)


def test_observation_facts_come_from_the_observation_function():
    reacher = get_env("reacher")  # the target is seen through its sensor, not through qpos
    text = facts.observation_text(reacher, facts.load_model(reacher))
    assert "Not in the observation: target_x velocity, target_y velocity." in text
    assert "Sensors in the observation: fingertip_pos, target_pos." in text
    cartpole = get_env("cartpole")
    assert "Every position and velocity" in facts.observation_text(cartpole, facts.load_model(cartpole))


def test_every_task_with_a_termination_or_a_fitness_explains_it_to_the_llm():
    for name in env_names():
        for task in get_env(name).tasks:
            assert bool(task.termination_doc) == (task.terminate is not None), (name, task.name)
            assert bool(task.score_doc) == task.has_fitness, (name, task.name)
            assert task.score_doc != task.fitness_doc


# ---- the fitness stays hidden -------------------------------------------------------------------------------------

def _fitness_fragments(task) -> list[str]:
    """The fitness_doc and every substantial line of the fitness function's source."""
    lines = [line.strip() for line in inspect.getsource(task.fitness).splitlines()[1:]]
    return [task.fitness_doc, *(line for line in lines if len(line) > 20 and not line.startswith("#"))]


def test_no_prompt_shows_the_fitness(tmp_path):
    for name in env_names():
        for task in get_env(name).tasks:
            ctx = _ctx(tmp_path / f"{name}-{task.name}", task=task.name, env=name)
            prompt = render("system") + first_prompt(ctx)
            for fragment in _fitness_fragments(task):
                assert fragment not in prompt, (name, task.name, fragment)
    kneel = get_env("humanoid").task("kneel")
    for feedback in ("metrics", "synthetic"):
        prompt, _, _ = _follow_up(tmp_path / feedback, feedback, 8)
        for fragment in _fitness_fragments(kneel):
            assert fragment not in prompt, (feedback, fragment)


# ---- the follow-up ------------------------------------------------------------------------------------------------

def _table(prompt: str) -> list[str]:
    return [line for line in prompt.splitlines() if line.startswith("| g")]


@pytest.mark.parametrize("feedback", ["metrics", "synthetic"])
def test_follow_up_table_lists_every_candidate_failed_ones_too(tmp_path, feedback):
    prompt, cands, _ = _follow_up(tmp_path, feedback, 8)
    rows = _table(prompt)
    statuses = [[f"| {c.id}", reflect.status_words(c, feedback == "metrics")] for c in cands]
    assert [row.split(" | ")[0:2] for row in rows] == statuses
    assert prompt.index("| id | status |") < prompt.index("```python\n\"\"\"Kneel")  # before the chosen program


def test_metrics_follow_up_shows_scores_steps_and_what_they_measure(tmp_path):
    prompt, _, selection = _follow_up(tmp_path, "metrics", 6)
    rows = dict((row.split(" | ")[0][2:], row) for row in _table(prompt))
    assert ("| g0c02 | reached success at 2,998,272 steps | 2,998,272 | 0.81 | 94% | 200 | knees_down +300, "
            "head_band +195, torso_upright +180 |") in prompt
    assert rows["g0c00"].startswith("| g0c00 | evaluated | 4,997,120 | 0.62 | 75% |")  # the full budget, as trained
    assert rows["g0c03"].startswith("| g0c03 | stopped by halving at 1,245,184 steps | 1,245,184 | 0 | 0% |")
    assert rows["g0c01"].startswith("| g0c01 | check_failed | — | — | — | — | — |")
    task = get_env("humanoid").task("kneel")
    assert f"An episode's task score: {task.score_doc}; the steps after an early end count nothing." in prompt
    assert 'The task score and success are as "How a trained policy is judged" above says' in prompt
    assert f"## The program to improve: {selection.best_overall}, the best of that generation" in prompt


def test_ranked_follow_up_shows_the_reviewers_order_and_no_scores(tmp_path):
    prompt, cands, selection = _follow_up(tmp_path, "synthetic", 8)
    by_id = {c.id: c for c in cands}
    for rank, cid in enumerate(selection.ranking, start=1):
        steps = by_id[cid].train.steps  # type: ignore[union-attr]
        assert f"| {cid} | {reflect.status_words(by_id[cid], False)} | {steps:,} | {rank} of 4 |" in prompt
    assert "| g0c02 | finished early at 2,998,272 steps |" in prompt  # not "reached success": no metric verdict
    assert "Task score" not in prompt and "success" not in prompt.lower()
    assert "How a trained policy is judged" not in prompt and reflect.TRAINING_VS_EVALUATION not in prompt
    for value in ("0.62", "0.81", "0.33", "75%", "94%"):
        assert value not in prompt


# ---- what a follow-up teaches (issue 24) --------------------------------------------------------------------------

def test_the_success_rule_with_its_thresholds_is_in_the_first_prompt_and_the_follow_up(tmp_path):
    task = get_env("humanoid").task("kneel")
    first = first_prompt(_ctx(tmp_path / "a"))
    rule = f"Success: an episode counts as doing the task when {task.success_doc}."
    assert "## How a trained policy is judged" in first and rule in first
    assert "at least 100 of its 200 steps" in first and "s['torso_up'] > 0.7" in first and "16 evaluation" in first
    follow_up, _, _ = _follow_up(tmp_path / "b", "metrics", 4)
    assert follow_up.count(rule) == 1 and follow_up.index(rule) < follow_up.index("## What your programs did")
    ranked = first_prompt(_ctx(tmp_path / "c", "synthetic"), RANKING)  # ICPL: the reviewer's judgement is the measure
    assert "How a trained policy is judged" not in ranked and task.success_doc not in ranked


def test_a_free_text_task_has_no_success_rule(tmp_path):
    ctx = _ctx(tmp_path / "a", task="kneel on one knee and wave")
    assert "How a trained policy is judged" not in first_prompt(ctx) and success_rule(ctx.task) == ""


def test_the_follow_up_shows_the_code_of_the_two_best_programs(tmp_path):
    prompt, _, selection = _follow_up(tmp_path, "metrics", 6)
    best, second = selection.ranking[:2]
    assert (best, second) == ("g0c02", "g0c00")
    assert f"## Also in full: {second}, the second best of that generation" in prompt
    for cid in (best, second):
        assert _kneel_program(cid).strip() in prompt
    assert prompt.count("Task score of the trained policy") == 2  # each with its own reflection
    assert prompt.count(reflect.TRAINING_VS_EVALUATION) == 1  # said once, with the program to improve


def test_the_runner_up_of_a_parent_from_an_older_generation_is_the_last_generations_best(tmp_path):
    ctx = _ctx(tmp_path)
    older, _ = _generation(ctx, 3)
    _, selection = _generation(ctx, 6, gen=1)
    prompt = user_prompt(ctx, 2, older[2], SCORES)  # generation 0's best, still the best so far
    assert "## The program to improve: g0c02, from generation 0, still the best so far" in prompt
    assert f"## Also in full: {selection.ranking[0]}, the best of that generation" in prompt
    assert _kneel_program(selection.ranking[0]).strip() in prompt
    alone = _ctx(tmp_path / "alone")
    lone, _ = _generation(alone, 1)  # nothing to compare: no second program
    assert "## Also in full" not in user_prompt(alone, 1, lone[0], SCORES)


def test_the_runner_up_gives_way_to_the_token_budget(tmp_path, monkeypatch):
    """Long programs: the runner-up's statistics go first, then its code; the program to improve always stays."""
    full, _, _ = _follow_up(tmp_path / "full", "metrics", 4)
    tokens = count_tokens(chat(render("system"), full))
    monkeypatch.setattr(prompting, "FOLLOW_UP_BUDGET", tokens - 1)
    code_only, _, _ = _follow_up(tmp_path / "code", "metrics", 4)
    assert "## Also in full: g0c00" in code_only and _kneel_program("g0c00").strip() in code_only
    assert "its training statistics are left out: the prompt's token budget has no room for them" in code_only
    assert count_tokens(chat(render("system"), code_only)) <= tokens - 1
    monkeypatch.setattr(prompting, "FOLLOW_UP_BUDGET", 1000)
    none, _, _ = _follow_up(tmp_path / "none", "metrics", 4)
    assert "## Also in full" not in none and _kneel_program("g0c02").strip() in none


@pytest.mark.parametrize("feedback", ["metrics", "synthetic"])
def test_the_checks_warnings_reach_the_llm_once_per_warning(tmp_path, feedback):
    prompt, cands, _ = _follow_up(tmp_path, feedback, 6)
    evaluated_ids = ", ".join(c.id for c in cands if c.check is not None)
    assert f"- {evaluated_ids}: {ALIVE_WARNING}" in prompt and prompt.count(ALIVE_WARNING) == 1
    assert "It sees only states of random motion" in prompt
    assert "can only act as a per-step bonus" not in prompt and "constant per step: it can only" not in prompt


def test_terms_are_described_by_their_course_not_as_constant(tmp_path):
    lines = _follow_up(tmp_path, "metrics", 4)[0].splitlines()
    for start, course in (("- still (scale -0.05)", "per step -0.283 → 0: the policy learned to avoid it; raw per "
                           "step 0 ± 0"), ("- knees_down (scale 2)", "per step 0 → +1.38: the policy learned to collect "
                           "it"), ("- alive (scale 0.1)", "the same +0.1 per step all through training: it pays only")):
        assert course in next(line for line in lines if line.startswith(start)), start


@pytest.mark.parametrize("feedback", ["metrics", "synthetic"])
@pytest.mark.parametrize("k", [4, 8])
def test_humanoid_follow_up_stays_within_the_token_budget(tmp_path, feedback, k):
    prompt, _, _ = _follow_up(tmp_path, feedback, k)
    tokens = count_tokens(chat(render("system"), prompt))
    print(f"humanoid kneel follow-up, {feedback}, K={k}: {tokens} tokens")
    assert tokens <= FOLLOW_UP_BUDGET


def test_prompt_tokens_are_recorded_per_generation_and_shown(tmp_path):
    ctx = _ctx(tmp_path)
    messages = messages_for(ctx, 0, None, RANKERS.get(ctx.cfg.feedback).follow_up)
    assert ctx.store.prompt_tokens_path(0).is_file()
    (row,) = generation_rows(ctx.store)
    assert row.prompt_tokens == count_tokens(messages) > 1000


def test_top_terms_are_the_largest_contributions_signed():
    cand = _humanoid(evaluated(0, 0, 0.5), 0.5, 0.5, 200.0)
    assert reflect.top_terms(cand, 2) == "knees_down +200, head_band +130"
    sums = {k: TermStats(scale=1.0, episode_sum=v, per_step_mean=None, per_step_std=None)
            for k, v in {"a": 2.0, "b": -30.0, "c": None}.items()}
    assert cand.evaluation is not None
    small = cand.replace(evaluation=dataclasses.replace(cand.evaluation, terms=sums))
    assert reflect.top_terms(small) == "b -30, a +2"
    assert isinstance(small.evaluation, Evaluation)


def test_the_training_facts_say_why_a_candidate_trains_less_than_the_budget(tmp_path):
    """--stop-at-success and --inherit change how many steps a candidate trains; the LLM that reads "reached success
    at 737,280 steps" against a budget of 5,000,000 is told why (a relay LLM asked, measuring issue 26)."""
    ctx = _ctx(tmp_path / "a", train={"stop_at_success": True}, inherit=True)
    text = facts.training_text(ctx)
    assert "stops early once a deterministic evaluation" in text and "success rate of 0.8" in text
    assert "starts from the parent's trained policy and runs half the budget" in text
    assert "answer is decided on trainings from scratch" in text  # what a reward is ranked on in the end
    unconfirmed = facts.training_text(_ctx(tmp_path / "d", train={"stop_at_success": True}, inherit=True,
                                           final_seeds=0))
    assert "trained policy" in unconfirmed and "from scratch" not in unconfirmed
    plain = facts.training_text(_ctx(tmp_path / "b", inherit=False))
    assert "stops early" not in plain and "trained policy" not in plain
    # a budget too short for a child to inherit (4 whole episodes per env): the prompt does not promise it
    short = facts.training_text(_ctx(tmp_path / "c", inherit=True, train_steps=32_768, env="cartpole", task="balance"))
    assert "trained policy" not in short
    ranked = facts.training_text(ctx, scored=False)  # where people rank, no fact speaks of success
    assert "finished early" in ranked and "success" not in ranked.lower()
