"""The quality benchmark (`python -m rewardsmith.bench quality`): its pure rules, and two tiny real runs — LLM-free
on two tasks, and through the real litellm path to the fake server with two models."""

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

from rewardsmith.bench.quality import (
    EPSILON,
    NormalisedScore,
    RandomPolicy,
    Stat,
    beats_reference,
    normalised_score,
    parse_task,
    random_policy_fitness,
    within_noise,
)
from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env


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


def test_normalised_score_is_eurekas_ratio():
    score = normalised_score(stat(0.8, 0.05), stat(0.6, 0.05), stat(0.1, 0.01))
    assert score.reason is None and score.value == pytest.approx((0.8 - 0.1) / (0.6 - 0.1))
    assert normalised_score(stat(0.1), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(0.0)
    assert normalised_score(stat(0.6), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(1.0)
    assert normalised_score(stat(0.0), stat(0.6, 0.05), stat(0.1)).value == pytest.approx(-0.2)  # worse than random


@pytest.mark.parametrize("reference, random, why", [
    (stat(0.30, 0.10), stat(0.25, 0.01), "within noise"),  # the reference's seed spread covers the gap
    (stat(0.30, 0.01), stat(0.25, 0.08), "within noise"),  # the random policy's spread covers it
    (stat(0.0), stat(0.0), "within noise"),  # nothing learned, nothing to measure: no division by zero
    (stat(0.1005), stat(0.1), "within noise"),  # below the absolute epsilon
    (stat(0.1, 0.01), stat(0.5, 0.01), "below random"),
])
def test_normalised_score_is_undefined_when_the_reference_is_no_yardstick(reference, random, why):
    score = normalised_score(stat(0.9), reference, random)
    assert score.value is None and why in score.reason


def test_normalised_score_without_an_evolved_or_reference_result():
    assert normalised_score(None, stat(0.6), stat(0.1)) == NormalisedScore(None, "no evolved reward trained")
    assert "reference reward failed" in normalised_score(stat(0.6), None, stat(0.1)).reason


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
    wins = sum(t["beats_reference"] for t in report["tasks"])
    assert report["beats_reference"] == {"tasks": wins, "of": len(report["tasks"]),
                                         "fraction": wins / len(report["tasks"])}
    assert f"on {wins}/{len(report['tasks'])} task(s)" in md
    assert report["rules"]["beats"] in md and report["rules"]["noise"] in md
    for task in report["tasks"]:
        row = next(line for line in md.splitlines() if line.startswith(f"| {task['env']}/{task['task']} v"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2].startswith(_fmt(task["evolved"]["fitness_mean_std"]))
        assert cells[4] == _fmt(task["reference"]["fitness_mean_std"])
        random = task["random_fitness"]
        assert cells[6] == f"{random['mean']:.3f} ± {random['std']:.3f}"
        if task["normalised_score"] is None:
            assert cells[7] == f"undefined: {task['normalised_undefined_reason']}"
        else:
            assert cells[7] == f"{task['normalised_score']:.3f}"
        assert cells[8] == ("yes" if task["beats_reference"] else "no")


def _check_real_trainings(task: dict, steps: int, seeds: list[int]) -> None:
    assert task["train_steps"] == steps and task["seeds"] == seeds
    for which in ("reference", "evolved"):
        per_seed = task[which]["seeds"]
        assert [s["seed"] for s in per_seed] == seeds
        assert all(s["status"] == "ok" and s["steps"] == steps and s["wall_s"] > 0 for s in per_seed)
        assert all(math.isfinite(s["fitness"]) and math.isfinite(s["return_mean"]) for s in per_seed)
        assert len({s["return_mean"] for s in per_seed}) == len(per_seed), f"{which}: seeds trained alike"
        mean, std = task[which]["fitness_mean_std"]
        assert mean == pytest.approx(np.mean([s["fitness"] for s in per_seed]))
        assert std == pytest.approx(np.std([s["fitness"] for s in per_seed]))
    assert len(task["random_fitness"]["values"]) == len(seeds)
    assert Path(task["run_dir"], "result.json").is_file()
    wall = task["wall_s"]
    assert wall["total"] == pytest.approx(wall["evolve"] + wall["retrain"] + wall["random"])


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
    assert "LLM-free" in md and "wall time" in md


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
