"""What a follow-up teaches (issue 24, item 8), one line at a time: every task's success rule, a term's course over
training in words, the line on why the training score differs from the evaluation, episode lengths of finished
episodes only (and none for tasks whose episodes never end early), and the pre-flight check's warnings worded for
what random states can tell. Whole prompts are in test_prompting.py."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from builders import evaluated

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.llm import reflect
from rewardsmith.llm.prompting import success_rule
from rewardsmith.program.check import check_reward, constant_warning
from rewardsmith.records import CheckReport, CurvePoint, TermStats
from rewardsmith.train.stats import EpisodeStats


def _curve(values: list[float], lengths: list[float | None] | None = None,
           episodes: list[int | None] | None = None) -> tuple[CurvePoint, ...]:
    lengths = lengths or [None] * len(values)
    episodes = episodes or [10] * len(values)
    return tuple(CurvePoint(step=100_000 * (i + 1), episode_return=None, episode_length=lengths[i], fitness=None,
                            terms={"t": v}, wall_s=1.0, episodes=episodes[i]) for i, v in enumerate(values))


def _stats(scale: float, mean: float = 0.5, std: float = 0.1) -> TermStats:
    return TermStats(scale=scale, episode_sum=1.0, per_step_mean=mean, per_step_std=std)


def test_a_penalty_that_ended_at_zero_was_learned_away_not_constant():
    """The live run's case: -17 per episode early, 0 at the end, raw 0 ± 0 at the evaluation."""
    course = reflect.term_course("t", _curve([-17.0, -6.0, 0.0]), _stats(-1.0, 0.0, 0.0), True)
    assert course == "per episode -17 → 0: the policy learned to avoid it"
    lengths = [100.0, 150.0, 200.0]
    assert reflect.term_course("t", _curve([-17.0, -6.0, 0.0], lengths), _stats(-1.0, 0.0, 0.0), True) == \
        "per step -0.17 → 0: the policy learned to avoid it"


def test_the_verdict_reads_per_step_so_longer_episodes_alone_are_not_growth():
    lengths = [50.0, 200.0]
    grew_with_length = reflect.term_course("t", _curve([10.0, 40.0], lengths), _stats(1.0), True)
    assert grew_with_length == "per step +0.2 → +0.2: about the same per step all through training"
    assert "collect more of it" in reflect.term_course("t", _curve([10.0, 100.0], lengths), _stats(1.0), True)
    assert reflect.term_course("t", _curve([0.0, 30.0], lengths), _stats(1.0), True).endswith(
        ": the policy learned to collect it")
    assert "it paid less per step" in reflect.term_course("t", _curve([40.0, 40.0], lengths), _stats(1.0), True)
    assert "the policy learned to avoid most of it" in reflect.term_course("t", _curve([-10.0, -8.0], lengths),
                                                                            _stats(-1.0), True)
    assert "it cost more per step" in reflect.term_course("t", _curve([-1.0, -40.0], lengths), _stats(-1.0), True)
    assert reflect.term_course("t", _curve([-1.0, 2.0], lengths), _stats(1.0), True).endswith("it changed sign")


def test_a_term_constant_per_step_says_what_that_can_do():
    lengths = [50.0, 200.0]
    alive = _curve([5.0, 20.0], lengths)
    assert reflect.term_course("t", alive, _stats(0.1, 1.0, 0.0), True) == (
        "the same +0.1 per step all through training: it pays only for the steps an episode lasts: a reason to make "
        "episodes last")
    cost = reflect.term_course("t", _curve([-5.0, -20.0], lengths), _stats(-0.1, 1.0, 0.0), True)
    assert cost.endswith("it costs for every step an episode lasts: a reason to end episodes early")
    never_ends = reflect.term_course("t", _curve([20.0, 20.0], [200.0, 200.0]), _stats(0.1, 1.0, 0.0), False)
    assert never_ends.endswith("episodes never end early, so it adds the same to every episode and changes nothing "
                               "the policy can learn")
    varies = reflect.term_course("t", alive, _stats(0.1, 1.0, 0.3), True)  # not constant at the evaluation
    assert varies == "per step +0.1 → +0.1: about the same per step all through training"


def test_a_term_zero_at_every_checkpoint_and_short_curves():
    assert reflect.term_course("t", _curve([0.0, 0.0, 0.0]), _stats(2.0), True) == \
        "0 at every checkpoint: it never paid, the policy never reached what it rewards"
    assert reflect.term_course("t", _curve([0.0, -0.0]), _stats(-2.0), True) == \
        "0 at every checkpoint: it never cost anything, the policy never did what it penalises"
    assert reflect.term_course("t", _curve([3.0]), _stats(1.0), True) == ""  # one checkpoint: no course


def test_the_course_starts_at_the_first_checkpoint_made_of_finished_episodes():
    """A checkpoint before any episode finished holds the running episodes' partial sums: not an episode's worth."""
    curve = _curve([-1.0, -17.0, 0.0], [None, 120.0, 200.0], episodes=[0, 40, 60])
    assert reflect.term_course("t", curve, _stats(-1.0, 0.0, 0.0), True) == \
        "per step -0.142 → 0 from 200,000 steps: the policy learned to avoid it"


def test_every_task_with_a_success_threshold_states_its_rule_honestly():
    """The rule names the threshold as the task score it asks for; a rule counted in steps counts the same number of
    steps the threshold asks for (a fraction of the episode); it is never the fitness's own words."""
    for name in env_names():
        for task in get_env(name).tasks:
            assert bool(task.success_doc) == (task.success_threshold is not None), (name, task.name)
            if task.success_threshold is None:
                continue
            assert task.success_doc.startswith(f"its task score is at least {task.success_threshold:g}: "), task.name
            for needed, total in re.findall(r"at least (\d+) of its (\d+) steps", task.success_doc):
                assert int(total) == task.episode_steps, (name, task.name)
                assert int(needed) == math.ceil(task.success_threshold * task.episode_steps - 1e-9), task.name
            assert task.success_doc not in task.fitness_doc and task.fitness_doc not in task.success_doc


def test_a_task_written_without_its_success_words_gets_its_threshold():
    bare = dataclasses.replace(get_env("humanoid").task("kneel"), success_doc="")  # a user's env written before
    assert success_rule(bare) == "its task score is at least 0.5"


def _candidate(curve: tuple[CurvePoint, ...]):
    cand = evaluated(0, 0, 0.5)
    assert cand.train is not None
    return cand.replace(train=dataclasses.replace(cand.train, curve=curve))


def test_episode_lengths_only_where_episodes_can_end_early_and_only_of_finished_episodes():
    curve = tuple(CurvePoint(step=s, episode_return=1.0, episode_length=length, fitness=0.1, terms={}, wall_s=1.0,
                             episodes=n) for s, length, n in ((1000, None, 0), (2000, 55.0, 12)))
    cand = _candidate(curve)
    ends = reflect.reflection(cand, 500)
    assert "Episode length (max 500): during training n/a, 55; at the evaluation 77." in ends
    never = reflect.reflection(cand, 500, ends_early=False)
    assert "Episode length" not in never and "Total reward per episode during training" in never


def test_running_sums_from_checkpoints_without_a_finished_episode_are_marked():
    """A checkpoint before any training episode ended reports the running episodes' sums so far: marked * and
    explained once, so that a series rising by the same step (0.064, 0.128, ...) does not read as a measurement."""
    curve = tuple(CurvePoint(step=s, episode_return=r, episode_length=None if n == 0 else 400.0, fitness=f,
                             terms={"up": r}, wall_s=1.0, episodes=n)
                  for s, r, f, n in ((1000, 10.0, 0.064, 0), (2000, 20.0, 0.128, 0), (3000, 30.0, 0.9, 3)))
    text = reflect.reflection(_candidate(curve), 500)
    assert "Task score during training: 0.064*, 0.128*, 0.9." in text
    assert "Total reward per episode during training: 10*, 20*, 30." in text
    assert text.count(reflect.PARTIAL_NOTE) == 1
    finished = reflect.reflection(_candidate(_curve([1.0, 2.0])), 500)
    assert "*" not in finished and reflect.PARTIAL_NOTE not in finished


def test_why_the_training_score_differs_is_said_for_curves_of_training_episodes_only():
    counted = _candidate(_curve([1.0, 2.0]))
    assert reflect.TRAINING_VS_EVALUATION in reflect.reflection(counted, 500)
    assert reflect.TRAINING_VS_EVALUATION not in reflect.reflection(counted, 500, explain=False)
    assert reflect.TRAINING_VS_EVALUATION not in reflect.reflection(counted, 500, show_score=False)
    brax = _candidate(_curve([1.0, 2.0], episodes=[None, None]))  # Brax's curve is its own deterministic evaluation
    assert reflect.TRAINING_VS_EVALUATION not in reflect.reflection(brax, 500)
    for words in ("noisy actions", "deterministic actions for full episodes", "cut short"):
        assert words in reflect.TRAINING_VS_EVALUATION


def test_episode_stats_report_lengths_of_finished_episodes_only():
    """The native trainer's curve statistic: on a task whose episodes never end early, a checkpoint before the first
    episode ends used to report the running episodes' lengths (128, 256, 384 ...)."""
    task = get_env("cartpole").task("swingup")
    stats = EpisodeStats({"up": 1.0}, task)
    s = {"pole_upright": np.array([1.0, 0.0]), "cart_x": np.zeros(2)}
    none_end = np.zeros(2, dtype=bool)
    for _ in range(3):
        stats.add_step(s, {"up": np.ones(2)}, np.ones(2), none_end)
    running = stats.checkpoint(3 * 2, 1.0, {})
    assert running.episode_length is None and running.episodes == 0
    assert running.episode_return == 3.0  # the running episodes' sums so far, as before
    stats.add_step(s, {"up": np.ones(2)}, np.ones(2), np.array([True, False]))
    stats.add_step(s, {"up": np.ones(2)}, np.ones(2), none_end)
    finished = stats.checkpoint(5 * 2, 2.0, {})
    assert finished.episodes == 1 and finished.episode_length == 4.0 and finished.episode_return == 4.0


def test_the_checks_constant_warnings_say_what_random_states_can_and_cannot_tell():
    zero = constant_warning("knees_on_floor", 0.0, 2.0, 256)
    assert zero.startswith("term 'knees_on_floor' is constant (0) on all 256 sampled states (the start pose and "
                           "random actions for up to 100 steps, before any training)")
    assert "the check cannot tell whether it works" in zero and "a goal a policy must first learn" in zero
    assert "per-step bonus" not in zero and "pays" not in zero
    alive = constant_warning("alive", 1.0, 0.5, 64)
    assert ("it pays +0.5 for each step an episode lasts, whatever the policy does (a bonus for making episodes "
            "last: as intended for a survival bonus)") in alive and "only pays" not in alive
    assert "states a trained policy reaches that random motion did not may still change it" in alive
    assert "a push to end episodes early, where they can end: as intended for a per-step cost" in constant_warning(
        "alive", 1.0, -0.5, 64)
    source = ('SCALES = {"up": 1.0, "far": -1.0, "alive": 0.5}\n\n\ndef reward_terms(s, action, xp):\n'
              '    up = s["pole_upright"]\n'
              '    return {"up": up, "far": xp.where(xp.abs(s["cart_x"]) > 50.0, 1.0, 0.0), "alive": up * 0 + 1.0}\n')
    report = check_reward("cartpole", "balance", source, samples=64)
    assert report.passed and set(report.warnings) == {constant_warning("far", 0.0, -1.0, 64),
                                                      constant_warning("alive", 1.0, 0.5, 64)}


def test_warnings_are_listed_once_with_every_candidate_they_were_given_for():
    def with_warnings(index: int, *warnings: str):
        return evaluated(0, index, 0.5).replace(check=CheckReport(True, (), warnings, ("up",), 1.0, 1.0))

    text = reflect.check_warnings([with_warnings(2, "w2"), with_warnings(0, "w1", "w2"), evaluated(0, 1, 0.4)])
    assert text == "- g0c00: w1\n- g0c00, g0c02: w2"
    assert reflect.check_warnings([evaluated(0, 1, 0.4)]) == ""
