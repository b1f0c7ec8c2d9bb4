"""The quality benchmark (`python -m rewardsmith.bench quality`): its pure rules (the human- and random-normalised
scores and their undefined cases, beats and at-least, shares), the sparse reward it retrains, and two tiny real
runs — LLM-free on two tasks, and through the real litellm path to the fake server with two models."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import GOOD
from fake_llm import FakeLLM

from rewardsmith.bench.quality import RandomPolicy, RetrainCost, TaskResult, parse_task, random_policy_fitness
from rewardsmith.bench.quality_report import write_report
from rewardsmith.bench.quality_rules import (
    EPSILON,
    NormalisedScore,
    Stat,
    at_least_reference,
    beats_reference,
    human_normalised_score,
    random_normalised_score,
    share,
    within_noise,
)
from rewardsmith.config import RunConfig
from rewardsmith.env.registry import env_names, get_env
from rewardsmith.env.sparse import TERM, sparse_reward_source
from rewardsmith.evaluate.exploits import ExploitShare
from rewardsmith.execute.seeds import MultiSeedSummary, SeedResult
from rewardsmith.program.check import check_reward
from rewardsmith.program.static import static_check
from rewardsmith.runs.cost import RunCost
from rewardsmith.sandbox.protocol import JobStatus


def stat(mean: float, std: float = 0.0) -> Stat:
    return Stat(mean, std, (mean - std, mean + std))


# ------------------------------------------------------------------------------------------------- pure rules


def test_random_policy_is_uniform_in_the_action_box_and_seeded():
    obs = np.zeros((4096, 7))
    actions = RandomPolicy(3).act(obs, 5)
    assert actions.shape == (4096, 5)
    assert actions.min() >= -1.0 and actions.max() <= 1.0
    assert actions.min() < -0.99 and actions.max() > 0.99 and abs(actions.mean()) < 0.03  # spans the box
    np.testing.assert_array_equal(RandomPolicy(3).act(obs, 5), actions)
    assert not np.array_equal(RandomPolicy(4).act(obs, 5), actions)
    policy = RandomPolicy(3)
    assert not np.array_equal(policy.act(obs, 5), policy.act(obs, 5)), "each step draws new actions"


def test_random_policy_is_measured_by_the_product_evaluation():
    env = get_env("cartpole")
    task = env.task("balance")
    reference = env.reference_reward_path("balance").read_text()
    first = random_policy_fitness(env, task, reference, episodes=4, seeds=[1, 2])
    assert first == random_policy_fitness(env, task, reference, episodes=4, seeds=[1, 2])
    assert len(first.values) == 2 and all(math.isfinite(v) for v in first.values)
    assert first.values[0] != first.values[1]
    assert 0.0 <= first.mean < task.success_threshold, "a random policy does not balance a pole"


def test_stat_ignores_non_finite_values():
    assert Stat.of([1.0, 3.0, float("nan")]) == Stat(2.0, 1.0, (1.0, 3.0))
    assert Stat.of([float("inf")]) is None and Stat.of([]) is None


def test_random_normalised_score_is_the_ratio_over_the_random_policy():
    score = random_normalised_score(stat(0.8, 0.05), stat(0.6, 0.05), stat(0.1, 0.01))
    assert score.reason is None and score.value == pytest.approx((0.8 - 0.1) / (0.6 - 0.1))
    assert random_normalised_score(stat(0.1), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(0.0)
    assert random_normalised_score(stat(0.6), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(1.0)
    assert random_normalised_score(stat(0.0), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(-0.2)


def test_human_normalised_score_is_the_ratio_over_the_sparse_reward():
    score = human_normalised_score(stat(0.9, 0.05), stat(0.7, 0.05), stat(0.2, 0.05))
    assert score.reason is None and score.value == pytest.approx((0.9 - 0.2) / (0.7 - 0.2))
    assert human_normalised_score(stat(0.7), stat(0.7, 0.05), stat(0.2)).value == pytest.approx(1.0)  # = human
    assert human_normalised_score(stat(0.2), stat(0.7, 0.05), stat(0.2)).value == pytest.approx(0.0)  # = sparse
    assert human_normalised_score(stat(0.1), stat(0.7, 0.05), stat(0.2)).value == pytest.approx(-0.2)
    # a random floor far below gives another number for the same runs: the two scores are not interchangeable
    assert random_normalised_score(stat(0.9), stat(0.7, 0.05), stat(0.0)).value == pytest.approx(0.9 / 0.7)


@pytest.mark.parametrize("reference, sparse, why", [
    (stat(0.30, 0.10), stat(0.25, 0.01), "within noise of sparse"),
    (stat(0.30, 0.01), stat(0.25, 0.08), "within noise of sparse"),
    (stat(0.0), stat(0.0), "within noise of sparse"),  # neither learned: no division by zero
    (stat(0.1, 0.01), stat(0.5, 0.01), "below sparse"),  # the success signal alone did better than the human reward
    (stat(0.6), None, "sparse reward failed"),
    (None, stat(0.1), "reference reward failed"),
])
def test_human_normalised_score_undefined_cases(reference, sparse, why):
    score = human_normalised_score(stat(0.9), reference, sparse)
    assert score.value is None and why in score.reason


def test_human_normalised_score_without_an_evolved_reward():
    assert human_normalised_score(None, stat(0.6), stat(0.1)) == NormalisedScore(None, "no evolved reward trained")


@pytest.mark.parametrize("reference, random, why", [
    (stat(0.30, 0.10), stat(0.25, 0.01), "within noise"),  # the reference's seed spread covers the gap
    (stat(0.30, 0.01), stat(0.25, 0.08), "within noise"),  # the random policy's spread covers it
    (stat(0.0), stat(0.0), "within noise"),  # nothing learned, nothing to measure: no division by zero
    (stat(0.1005), stat(0.1), "within noise"),  # below the absolute epsilon
    (stat(0.1, 0.01), stat(0.5, 0.01), "below random"),
])
def test_random_normalised_score_is_undefined_when_the_reference_is_no_yardstick(reference, random, why):
    score = random_normalised_score(stat(0.9), reference, random)
    assert score.value is None and why in score.reason


def test_random_normalised_score_without_an_evolved_or_reference_result():
    assert random_normalised_score(None, stat(0.6), stat(0.1)) == NormalisedScore(None, "no evolved reward trained")
    assert "reference reward failed" in random_normalised_score(stat(0.6), None, stat(0.1)).reason


def test_within_noise_rule():
    assert within_noise(stat(0.1 + 0.5 * EPSILON), stat(0.1))
    assert not within_noise(stat(0.1 + 2 * EPSILON), stat(0.1))
    assert within_noise(stat(1.0, 0.5), stat(0.5)) and not within_noise(stat(1.0, 0.49), stat(0.5))


def test_beats_reference_needs_the_seed_spreads_apart():
    assert beats_reference(stat(1.0, 0.1), stat(0.5, 0.1))
    assert not beats_reference(stat(1.0, 0.3), stat(0.5, 0.3)), "the spreads overlap"
    assert not beats_reference(stat(0.7, 0.1), stat(0.6, 0.0))  # 0.6 > 0.6 is false: ties do not win
    assert not beats_reference(stat(0.5, 0.1), stat(1.0, 0.1))
    assert not beats_reference(None, stat(0.5)) and not beats_reference(stat(0.5), None)


def test_at_least_reference_compares_the_means_only():
    assert at_least_reference(stat(0.6, 0.3), stat(0.6, 0.0)), "a tie is at least the reference"
    assert at_least_reference(stat(0.61, 0.3), stat(0.6, 0.3))
    assert not at_least_reference(stat(0.59, 0.0), stat(0.6, 0.0))
    assert not at_least_reference(None, stat(0.5)) and not at_least_reference(stat(0.5), None)
    # at least the reference is weaker than beating it beyond the spread
    assert at_least_reference(stat(0.7, 0.1), stat(0.6, 0.0)) and not beats_reference(stat(0.7, 0.1), stat(0.6, 0.0))


def test_share_of_tasks():
    assert share([True, False, True, True]) == (3, 4, 0.75)
    assert share([False]) == (0, 1, 0.0)
    assert share([]) == (0, 0, None)


def test_retrain_cost_sums_the_seeds_that_trained():
    seeds = (SeedResult(1, JobStatus.OK, None, 0.5, 0.5, 1.0, 4096, 2.0, (), 3.5),
             SeedResult(2, JobStatus.FAILED, "boom", None, None, None, None, None),
             SeedResult(3, JobStatus.OK, None, 0.7, 0.5, 1.0, 4096, 2.0, (), 1.5))
    assert RetrainCost.of(MultiSeedSummary(seeds)) == RetrainCost(8192, 5.0)
    assert RetrainCost.of(None) == RetrainCost(0, 0.0)


@pytest.mark.parametrize("env_name, task_name", [("cartpole", "balance"), ("pendulum", "swingup"),
                                                 ("hopper", "backflip"), ("humanoid", "run")])
def test_sparse_reward_is_the_task_score_and_passes_the_contract_check(env_name, task_name):
    task = get_env(env_name).task(task_name)
    source = sparse_reward_source(env_name, task)
    assert static_check(source) == []
    report = check_reward(env_name, task_name, source, samples=64)
    assert report.passed, report.errors
    assert report.terms == (TERM,)
    # its one term is the task's per-step score, state by state (the check's states: random rollouts)
    from rewardsmith.program.check import sample_states
    from rewardsmith.program.load import load_reward

    s, action = sample_states(env_name, task_name, 64, seed=3)
    terms = load_reward(source).reward_terms(s, action, np)
    np.testing.assert_allclose(terms[TERM], np.asarray(task.fitness(s, np), np.float64), rtol=1e-6, atol=1e-9)


def test_every_task_with_a_fitness_has_a_sparse_reward_that_loads():
    from rewardsmith.program.load import load_reward

    for name in env_names():
        for task in get_env(name).tasks:
            if task.has_fitness:
                assert load_reward(sparse_reward_source(name, task)).scales == {TERM: 1.0}, (name, task.name)


def test_task_specs_name_a_task_and_optionally_its_budget():
    assert parse_task("cartpole/balance") == ("cartpole", "balance", None)
    assert parse_task(" hopper/hop:300000 ") == ("hopper", "hop", 300_000)
    for bad in ("cartpole", "cartpole/", "/balance", "a/b/c", "hopper/hop:", "hopper/hop:3e5", "hopper/hop:0"):
        with pytest.raises(ValueError, match="--tasks wants|positive"):
            parse_task(bad)


# ------------------------------------------------------------------------------------------------- real runs


def _bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    return subprocess.run([sys.executable, "-m", "rewardsmith.bench", "quality", *args], capture_output=True,
                          text=True, timeout=600, env={**base, **(env or {})})


def _report(out: Path) -> tuple[dict, str]:
    return json.loads((out / "quality.json").read_text()), (out / "quality.md").read_text()


def _fmt(pair: list[float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def _check_consistent(report: dict, md: str, stdout: str) -> None:
    """Every number of the Markdown table comes from the JSON, and the terminal prints the same table."""
    assert md in stdout
    n = len(report["tasks"])
    for field, words in (("beats_reference", "beats reference beyond the seed spread on"),
                         ("at_least_reference", "is at least the reference on")):
        count = sum(t[field] for t in report["tasks"])
        assert report[field] == {"tasks": count, "of": n, "fraction": count / n}
        assert f"{words} {count}/{n} task(s)" in md
    for rule in ("human_normalised", "random_normalised", "beats", "at_least", "cost"):
        assert report["rules"][rule] in md
    assert "human-normalised" in md and "random-normalised" in md and "Eureka's human-normalised score (" not in md
    for task in report["tasks"]:
        row = next(line for line in md.splitlines() if line.startswith(f"| {task['env']}/{task['task']} v"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2].startswith(_fmt(task["evolved"]["fitness_mean_std"]))
        assert cells[4] == _fmt(task["reference"]["fitness_mean_std"])
        assert cells[6] == _fmt(task["sparse"]["fitness_mean_std"])
        random = task["random_fitness"]
        assert cells[7] == f"{random['mean']:.3f} ± {random['std']:.3f}"
        for cell, key in ((cells[8], "human_normalised"), (cells[9], "random_normalised")):
            if task[f"{key}_score"] is None:
                assert cell == f"undefined: {task[f'{key}_undefined_reason']}"
            else:
                assert cell == f"{task[f'{key}_score']:.3f}"
        assert cells[10] == ("yes" if task["beats_reference"] else "no")
        assert cells[11] == ("yes" if task["at_least_reference"] else "no")
        _check_exploit_cell(cells[12], task["exploits"])
        _check_cost(task, md)


def _check_exploit_cell(cell: str, exploits: dict | None) -> None:
    if exploits is None:
        assert cell == "no detector"
        return
    if exploits["episodes"] == 0:
        assert cell.startswith("not recorded")
        return
    assert cell.startswith(f"{exploits['matched']}/{exploits['episodes']}")
    assert exploits["share"] == pytest.approx(exploits["matched"] / exploits["episodes"])


def _check_cost(task: dict, md: str) -> None:
    """The cost row holds the evolve's run_cost and the retrains' own sums, which match the per-seed records."""
    evolve, retrain = task["cost"]["evolve"], task["cost"]["retrain"]
    for which in ("reference", "sparse"):
        seeds = task[which]["seeds"]
        assert retrain[which] == {"env_steps": sum(s["steps"] for s in seeds), "cpu_s": sum(s["cpu_s"] for s in seeds)}
        assert retrain[which]["cpu_s"] > 0
    steps = sum(r["env_steps"] for r in retrain.values())
    row = next(line for line in md.splitlines() if line.startswith(f"| {task['env']}/{task['task']} | "
                                                                     f"{evolve['candidates_trained']} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == f"{evolve['env_steps']:,}" and cells[8] == f"{steps:,}"
    # a candidate may stop early at success: at most its budget each
    assert 0 < evolve["env_steps"] <= evolve["candidates_trained"] * task["train_steps"] and evolve["cpu_s"] > 0


def _check_real_trainings(task: dict, steps: int, seeds: list[int]) -> None:
    assert task["train_steps"] == steps and task["seeds"] == seeds
    for which in ("reference", "evolved", "sparse"):
        per_seed = task[which]["seeds"]
        assert [s["seed"] for s in per_seed] == seeds
        assert all(s["status"] == "ok" and s["steps"] == steps and s["wall_s"] > 0 for s in per_seed)
        assert all(math.isfinite(s["fitness"]) and math.isfinite(s["return_mean"]) for s in per_seed)
        if which == "sparse":  # its return is the task score summed over the episode's steps
            episode = get_env(task["env"]).task(task["task"]).episode_steps
            assert [s["return_mean"] for s in per_seed] == pytest.approx([s["fitness"] * episode for s in per_seed])
        else:  # (the sparse reward may learn nothing at a tiny budget: every seed 0)
            assert len({s["return_mean"] for s in per_seed}) == len(per_seed), f"{which}: seeds trained alike"
        mean, std = task[which]["fitness_mean_std"]
        assert mean == pytest.approx(np.mean([s["fitness"] for s in per_seed]))
        assert std == pytest.approx(np.std([s["fitness"] for s in per_seed]))
    assert len(task["random_fitness"]["values"]) == len(seeds)
    assert Path(task["run_dir"], "result.json").is_file()
    wall = task["wall_s"]
    assert wall["total"] == pytest.approx(wall["evolve"] + wall["retrain"] + wall["random"])


def _seeds(fitness: list[float | None], steps: int = 4096) -> MultiSeedSummary:
    return MultiSeedSummary(tuple(
        SeedResult(i + 1, JobStatus.OK, None, f, 0.5, 10.0 + i, steps, 1.0 + i, (f, f), 2.0 + i) if f is not None
        else SeedResult(i + 1, JobStatus.FAILED, "boom", None, None, None, None, None) for i, f in enumerate(fitness)))


def _result(env: str, task: str, evolved: list[float | None], reference: list[float], sparse: list[float],
            exploits: ExploitShare | None) -> TaskResult:
    fit = {k: Stat.of(v) for k, v in (("evolved", evolved), ("reference", reference), ("sparse", sparse))}
    random = Stat.of([0.01, 0.02])
    assert random is not None
    return TaskResult(
        env=env, task=task, fitness_version=1, train_steps=4096, seeds=(1, 2), run_dir="runs/x", best_id="g0c01",
        best_model=None, best_is_reference=False, evolve_fitness=0.5, evolved=_seeds(evolved),
        reference=_seeds(reference), sparse=_seeds(sparse), random_fitness=random,
        human_normalised=human_normalised_score(fit["evolved"], fit["reference"], fit["sparse"]),
        random_normalised=random_normalised_score(fit["evolved"], fit["reference"], random),
        beats_reference=beats_reference(fit["evolved"], fit["reference"]),
        at_least_reference=at_least_reference(fit["evolved"], fit["reference"]), exploits=exploits, models=(),
        evolve_cost=RunCost(3, 1200, 800, 0.0123, 2, 8192, 0, 12.5, 0.0),
        retrain_cost={k: RetrainCost.of(s) for k, s in (("evolved", _seeds(evolved)), ("reference", _seeds(reference)),
                                                        ("sparse", _seeds(sparse)))},
        wall_s={"evolve": 1.0, "retrain": 2.0, "random": 0.5, "total": 3.5})


def test_report_columns_come_from_the_records(tmp_path):
    """The new columns (sparse, both normalised scores, at least, exploits, cost) rendered from constructed records:
    the fast check of the report; the real runs below are slow."""
    spun = ExploitShare(4, 1, {"spun the pole round": 1}, ("spun the pole round",))
    results = [_result("cartpole", "balance", [0.9, 0.8], [0.7, 0.6], [0.2, 0.3], None),
               _result("pendulum", "swingup", [0.1, None], [0.6, 0.6], [0.6, 0.6], spun)]
    base = RunConfig(env="-", task="-", iterations=1, samples=2)
    write_report(results, base, tmp_path)
    report, md = _report(tmp_path)
    _check_consistent(report, md, md)
    cartpole, pendulum = report["tasks"]
    assert cartpole["human_normalised_score"] == pytest.approx((0.85 - 0.25) / (0.65 - 0.25))
    assert cartpole["at_least_reference"] and cartpole["beats_reference"]
    assert pendulum["human_normalised_score"] is None and "within noise of sparse" in pendulum[
        "human_normalised_undefined_reason"]
    assert not pendulum["at_least_reference"]
    assert report["at_least_reference"] == {"tasks": 1, "of": 2, "fraction": 0.5}
    assert "| no detector |" in md and "| 1/4 (spun the pole round 1) |" in md
    unrecorded = ExploitShare(0, 0, {"tumbled along the floor": 0}, ("tumbled along the floor",))
    results.append(_result("hopper", "backflip", [0.1], [0.6], [0.1], unrecorded))
    write_report(results, base, tmp_path)
    report, md = _report(tmp_path)
    _check_consistent(report, md, md)  # the third row: a trace without velocities (the population trainer's)
    assert pendulum["cost"]["retrain"]["evolved"] == {"env_steps": 4096, "cpu_s": 2.0}, "the failed seed costs 0"
    assert "| cartpole/balance | 2 | 8,192 | 12 | 0 | 3 | 2,000 | 0.0123 | 24,576 | 15 |" in md


@pytest.mark.slow  # 16 trainings in the sandbox: about 5 min on 2 shared cores
def test_llm_free_quality_benchmark_on_two_tasks(tmp_path):
    out = tmp_path / "quality"
    proc = _bench("--tasks", "cartpole/balance,pendulum/swingup", "--llm-free", "--iterations", "1",
                  "--samples", "2", "--seeds", "2", "--train-steps", "4096", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, md = _report(out)
    _check_consistent(report, md, proc.stdout)
    assert [(t["env"], t["task"]) for t in report["tasks"]] == [("cartpole", "balance"), ("pendulum", "swingup")]
    assert report["config"]["models"] == [] and report["config"]["iterations"] == 1
    for task in report["tasks"]:
        _check_real_trainings(task, 4096, [1, 2])
        assert task["best_model"] is None
        (model,) = task["models"]
        assert model["model"] == "LLM-free mutations" and model["candidates"] == 2 and model["evaluated"] == 2
        run = Path(task["run_dir"])
        reference = get_env(task["env"]).reference_reward_path(task["task"]).read_text()
        best = json.loads((run / f"gen_00/cand_{int(task['best_id'][3:]):02d}/candidate.json").read_text())
        assert task["best_is_reference"] == (best["source"].strip() == reference.strip())
        assert task["evolve_fitness"] == pytest.approx(best["evaluation"]["fitness_mean"])
        sparse = (out / "retrain" / run.name / "sparse_reward.py").read_text()
        assert sparse == sparse_reward_source(task["env"], get_env(task["env"]).task(task["task"]))
        assert task["cost"]["evolve"]["llm_requests"] == 0 and task["cost"]["evolve"]["cost_usd"] == 0
    cartpole, pendulum = report["tasks"]
    assert cartpole["exploits"] is None, "cart-pole balance has no exploit detector"
    episodes = sum(len(s["episode_scores"]) for s in pendulum["evolved"]["seeds"])
    assert pendulum["exploits"]["episodes"] == episodes > 0  # every evaluation episode of every seed was looked at
    assert pendulum["exploits"]["detectors"] == ["spun the pole round"]
    assert "LLM-free" in md and "wall time" in md and '"spun the pole round"' in md


UPRIGHT = '''SCALES = {"upright": 2.0, "still": 0.1}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"], "still": -xp.abs(s["pole_angular_velocity"])}
'''


def test_quality_benchmark_with_two_models_through_the_fake_llm(tmp_path):
    out = tmp_path / "quality"
    script = [f"Balance it:\n```python\n{UPRIGHT}```", f"```python\n{GOOD.replace('0.2', '0.4')}```"]
    with FakeLLM(script) as fake:
        proc = _bench("--tasks", "cartpole/balance", "--model", "openai/fake-a", "--model", "openai/fake-b",
                      "--api-base", fake.base_url, "--iterations", "1", "--samples", "2", "--seeds", "1",
                      "--train-steps", "4096", "--out", str(out), env={"OPENAI_API_KEY": "sk-quality-test"})
        requests = list(fake.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(r["model"] for r in requests) == ["fake-a", "fake-b"], "each model is asked for its share"
    report, md = _report(out)
    _check_consistent(report, md, proc.stdout)
    assert report["config"]["models"] == ["openai/fake-a", "openai/fake-b"]
    (task,) = report["tasks"]
    _check_real_trainings(task, 4096, [1])
    assert task["best_model"] in ("openai/fake-a", "openai/fake-b") and not task["best_is_reference"]
    models = {m["model"]: m for m in task["models"]}
    assert set(models) == {"openai/fake-a", "openai/fake-b"}
    assert all(m["candidates"] == 1 and m["passed_check"] == 1 and m["evaluated"] == 1 for m in models.values())
    for name in models:
        assert f"| cartpole/balance | {name} | 1 | 1 | 1 |" in md
    # the evolved reward's retrain trains the LLM's program, not the reference
    assert task["evolved"]["seeds"] != task["reference"]["seeds"]


def test_bad_input_fails_before_anything_runs(tmp_path):
    proc = _bench("--tasks", "cartpole/nope", "--llm-free", "--out", str(tmp_path / "q"))
    assert proc.returncode != 0 and "unknown task 'nope'" in proc.stderr
    proc = _bench("--tasks", "cartpole/balance", "--out", str(tmp_path / "q"))
    assert proc.returncode != 0 and "--llm-free or at least one --model" in proc.stderr
    assert not (tmp_path / "q").exists()


def test_run_config_takes_the_models_the_benchmark_passes():
    cfg = RunConfig(env="cartpole", task="balance", models=("a/x", "b/y"), api_bases=("http://h/v1",))
    cfg.validate()
    assert cfg.models == ("a/x", "b/y") and cfg.api_base_for(1) == "http://h/v1"
