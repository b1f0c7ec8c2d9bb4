"""Robustness under stress (evaluate/stress.py, `rewardsmith stress`): the perturbations really change a copy of
the model and never the original, a push changes the robot's momentum by the impulse it states, the baseline is
scored exactly as the evaluation scores it, the worst case is the minimum, and on a trained cart-pole a heavy push
and heavy observation noise lower the score. The command prints the table, writes stress.json and refuses bad input
in one line.

The module's fixture trains one cart-pole policy (49,152 steps of the reference reward, ~10 s on one core), shared by
the tests here. The MJX condition compiles for ~40-100 s on 2 cores: `pytest -m slow tests/evaluate/test_stress.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from builders import evaluated

from rewardsmith.cli.app import app
from rewardsmith.env.registry import get_env
from rewardsmith.env.sim import NativeBatch
from rewardsmith.evaluate.stress import (
    Condition,
    ConditionResult,
    StressReport,
    conditions,
    perturbed,
    push,
    read_reports,
    stress,
)
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED
from rewardsmith.runs.store import RunStore
from rewardsmith.train.policy import Policy


@pytest.fixture(scope="module")
def cartpole():
    env = get_env("cartpole")
    return env, env.task("balance")


@pytest.fixture(scope="module")
def trained(cartpole, tmp_path_factory) -> Path:
    """A cart-pole policy that balances (the reference reward, 49,152 steps: success 1.0 on 16 episodes)."""
    from rewardsmith.config import train_config_for
    from rewardsmith.train.native import train_native

    env, task = cartpole
    reward = load_reward(env.reference_reward_path("balance").read_text())
    outcome = train_native(env, task, reward, train_config_for(env.ppo, steps=49_152, checkpoints=1, seed=1),
                           lambda step, point: None)
    path = tmp_path_factory.mktemp("stress") / "policy.npz"
    outcome.policy.save(path)
    return path


def _model(env) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(env.model_path))


@pytest.mark.parametrize(("kind", "field"), [("mass", "body_mass"), ("friction", "geom_friction"),
                                             ("actuator", "actuator_gainprm")])
def test_a_perturbed_copy_is_changed_and_the_original_is_not(cartpole, kind, field):
    env, _ = cartpole
    model = _model(env)
    before = getattr(model, field).copy()
    heavier = perturbed(model, Condition(kind, 1.2))
    assert heavier is not model
    np.testing.assert_array_equal(getattr(model, field), before)  # the original is untouched
    changed = getattr(heavier, field)
    nonzero = before != 0
    np.testing.assert_allclose(changed[nonzero], 1.2 * before[nonzero])
    for other in ("mass", "friction", "actuator"):  # nothing else moved
        if other != kind:
            name = {"mass": "body_mass", "friction": "geom_friction", "actuator": "actuator_gainprm"}[other]
            np.testing.assert_array_equal(getattr(heavier, name), getattr(model, name))
    for during in ("baseline", "push", "noise"):  # conditions that act during the episode leave the model alone
        assert perturbed(model, Condition(during, 1.0)) is model


def test_a_heavier_and_a_weaker_cart_pole_move_differently_from_the_same_state(cartpole):
    env, task = cartpole
    model = _model(env)

    def after(condition: Condition) -> np.ndarray:
        sim = NativeBatch(env, task.name, 4, seed=3, model=perturbed(model, condition))
        try:
            for _ in range(20):
                sim.step(np.full((4, 1), 0.7))
            return sim.raw().qpos.copy()
        finally:
            sim.close()

    base = after(Condition("baseline"))
    heavier, weaker = after(Condition("mass", 1.2)), after(Condition("actuator", 0.8))
    assert np.all(np.abs(heavier[:, 0]) < np.abs(base[:, 0]))  # the same force moves a heavier cart less far
    assert np.all(np.abs(weaker[:, 0]) < np.abs(base[:, 0]))  # and a weaker motor does too
    np.testing.assert_array_equal(after(Condition("friction", 1.2)), base)  # cart-pole's geoms never touch


def test_a_push_changes_the_robots_momentum_by_its_impulse_and_only_where_pushed(cartpole):
    env, task = cartpole
    sim = NativeBatch(env, task.name, 3, seed=5)
    try:
        model, data = sim.model, mujoco.MjData(sim.model)

        def momentum(row: int) -> float:  # the slider's generalised momentum: the whole robot's along x
            mujoco.mj_setState(model, data, sim.state[row], mujoco.mjtState.mjSTATE_FULLPHYSICS)
            mujoco.mj_forward(model, data)
            out = np.zeros(model.nv)
            mujoco.mj_mulM(model, data, out, data.qvel)
            return float(out[0])

        before = [momentum(r) for r in range(3)]
        untouched = sim.state[0].copy()
        push(sim, np.array([1, 2]), 0.5, np.array([1.0, -1.0]))
        mass = float(model.body_mass.sum())
        assert momentum(1) - before[1] == pytest.approx(0.5 * mass)
        assert momentum(2) - before[2] == pytest.approx(-0.5 * mass)
        np.testing.assert_array_equal(sim.state[0], untouched)
    finally:
        sim.close()


def _result(kind: str, size: float, scores) -> ConditionResult:
    return ConditionResult(Condition(kind, size), tuple(scores), tuple(500 for _ in scores))


def test_the_worst_case_is_the_lowest_mean_the_baseline_included():
    results = (_result("baseline", 0, [0.9, 0.7]), _result("mass", 1.2, [0.6, 0.6]), _result("push", 1, [1.0, 0.1]),
               _result("noise", 0.2, [0.5, 0.7]))
    report = StressReport("g0c00", 1, 2, 0.5, 500, results)
    assert report.worst.condition == Condition("push", 1)  # mean 0.55, the lowest
    assert report.rows()[2]["condition"] == "push 1 m/s (worst)"
    better = StressReport("g0c00", 1, 2, 0.5, 500, (results[0], _result("mass", 0.8, [1.0, 1.0])))
    assert better.worst.condition.kind == "baseline"  # never better than the unperturbed policy
    blown = StressReport("g0c00", 1, 2, 0.5, 500, (results[0], _result("mass", 0.8, [None, 1.0])))
    assert blown.worst.condition.size == 0.8 and blown.rows()[1]["score"].startswith("not finite")
    assert StressReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_the_stress_set_names_its_conditions_and_leaves_out_those_of_size_zero():
    names = [c.name for c in conditions()]
    assert names == ["baseline", "mass x0.8", "mass x1.2", "friction x0.8", "friction x1.2", "actuator x0.8",
                     "actuator x1.2", "push 1 m/s", "obs noise 0.2 std"]
    assert [c.name for c in conditions(scale=0, push=0, noise=0.5, mjx=True)] == ["baseline", "obs noise 0.5 std",
                                                                                  "mjx"]


def test_the_baseline_is_scored_as_the_evaluation_scores_the_same_episodes(cartpole, trained):
    from rewardsmith.train.rollouts import evaluate

    env, task = cartpole
    policy = Policy.load(trained)
    reward = load_reward(env.reference_reward_path("balance").read_text())
    evaluation, _ = evaluate(env, task, reward, policy, 6, EVAL_SEED, trace=False)
    report = stress(env, task, policy, "g0c00", [Condition("baseline")], episodes=6, seed=EVAL_SEED)
    assert report.baseline.episode_scores == pytest.approx(evaluation.episode_scores)
    assert report.baseline.episode_lengths == evaluation.episode_lengths


def test_a_heavy_push_and_heavy_noise_lower_a_trained_cart_poles_score(cartpole, trained):
    env, task = cartpole
    report = stress(env, task, Policy.load(trained), "g0c00",
                    [Condition("baseline"), Condition("push", 3.0), Condition("noise", 1.0)], episodes=8)
    base, pushed, noisy = (r.score for r in report.results)
    assert base > 0.9  # it balances unperturbed
    assert pushed < base - 0.2 and noisy < base - 0.2, report.rows()
    assert report.worst.condition.kind in ("push", "noise")


def _run_with_policy(tmp_path: Path, policy: Path | None) -> Path:
    from rewardsmith.config import RunConfig

    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    cand = evaluated(0, 0, 0.9)
    store.save_candidate(cand)
    if policy is not None:
        store.work_dir(0, 0).mkdir(parents=True)
        (store.work_dir(0, 0) / "policy.npz").write_bytes(policy.read_bytes())
    store.save_result({"best": cand.id})
    return store.root


def _stress(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(["stress", *map(str, args)], prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def test_the_command_prints_the_table_and_the_worst_case_and_writes_stress_json(trained, tmp_path, capsys):
    run = _run_with_policy(tmp_path, trained)
    code, out, err = _stress([run, "--episodes", "4", "--push", "3"], capsys)
    assert code == 0, err
    assert "g0c00 under stress (cartpole balance; 4 episodes per condition, seed 20000)" in out
    for name in ("baseline", "mass x0.8", "friction x1.2", "actuator x1.2", "push 3 m/s", "obs noise 0.2 std"):
        assert name in out
    (report,) = read_reports(run / "gen_00" / "cand_00" / "stress.json")
    assert report.candidate == "g0c00" and report.episodes == 4 and len(report.results) == 9
    assert f"worst case: {report.worst.condition.name}, task score {report.worst.score:.3f}" in out
    assert "(worst)" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--episodes", "0"], "--episodes must be a positive integer, got 0"),
    (["--scale", "1.5"], "--scale must be at least 0 and below 1"),
    (["--push", "-1"], "--push must be a finite number, 0 or more"),
    (["--candidate", "g9c09"], "g9c09"),
])
def test_bad_input_is_one_line_and_writes_nothing(trained, tmp_path, capsys, args, message):
    run = _run_with_policy(tmp_path, trained)
    code, out, err = _stress([run, *args], capsys)
    assert code == 2 and message in " ".join(err.split()) and len(err.strip().splitlines()) <= 2, err
    assert not (run / "gen_00" / "cand_00" / "stress.json").exists()


def test_a_candidate_without_a_policy_is_refused(tmp_path, capsys):
    run = _run_with_policy(tmp_path, None)
    code, _, err = _stress([run], capsys)
    assert code == 2 and "candidate g0c00 has no trained policy" in " ".join(err.split()), err


@pytest.mark.slow
def test_the_mjx_physics_scores_a_balancing_policy_like_native_mujoco(cartpole, trained):
    env, task = cartpole
    report = stress(env, task, Policy.load(trained), "g0c00", [Condition("baseline"), Condition("mjx")], episodes=4)
    native, mjx = report.results
    assert mjx.condition.name == "mjx" and len(mjx.episode_scores) == 4
    assert mjx.score == pytest.approx(native.score, abs=0.1)  # the same physics, float32: a balancing pole still
