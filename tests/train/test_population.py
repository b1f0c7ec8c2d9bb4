"""The population trainer on MJX-on-CPU (cart-pole): K reward programs trained together in one program.

One K = 3 population (the reference reward, one whose effort term turns NaN, a variant of the reference with
another scale; plus a program that does not trace, which fails before anything compiles) is trained once for the
module; one K = 1 population of the first member alone is compared with it. Compiling dominates: ~40 s per
population on 2 idle cores (~2.5 min on busy ones), the training itself takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.train.native import EVAL_SUCCESS, STOPPED_AT_SUCCESS
from rewardsmith.train.population import Member
from rewardsmith.train.population_train import CHECKPOINT_FILE, train_population

BUDGET = 81_920  # 40 iterations of 64 envs x 32 steps; cart-pole balance succeeds within ~40k steps
NAN_EFFORT = '"effort": xp.sum(action**2, axis=-1) + xp.log(s["cart_x"] - 10.0),'  # log of a negative number


def _setup():
    env = get_env("cartpole")
    task = env.task("balance")
    source = env.reference_reward_path("balance").read_text()
    cfg = train_config_for(env.ppo, steps=BUDGET, seed=0, checkpoints=8, stop_at_success=True)
    return env, task, source, cfg


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    env, task, source, cfg = _setup()
    sources = {"a": source,
               "nan": source.replace('"effort": xp.sum(action**2, axis=-1),', NAN_EFFORT),
               "b": source.replace('"centred": 0.2', '"centred": 1.0'),
               "untraceable": source.replace('s["cart_x"] ** 2', 's["no_such_field"] ** 2')}
    assert len(set(sources.values())) == 4
    members = [Member(key, load_reward(text), seed) for seed, (key, text) in enumerate(sources.items())]
    folders = [tmp_path_factory.mktemp(m.key) for m in members]
    results = train_population(env, task, members, cfg, folders=folders)
    return {r.key: r for r in results}, dict(zip(sources, folders, strict=True))


def test_a_member_whose_reward_turns_nan_is_masked_with_its_reason_while_the_others_learn(population):
    results, _ = population
    assert results["nan"].outcome is None
    assert "reward term 'effort' returned NaN/Inf" in (results["nan"].reason or "")
    for key in ("a", "b"):
        result = results[key]
        assert result.reason is None and result.outcome is not None and result.evaluation is not None
        returns = [p.episode_return for p in result.outcome.curve]
        assert returns[-1] > 2 * returns[0], returns  # it learned while its neighbour was masked
        assert result.evaluation.success_rate == 1.0 and result.evaluation.episodes == 16


def test_a_program_that_does_not_trace_fails_alone_with_the_error(population):
    results, _ = population
    assert results["untraceable"].outcome is None
    assert "KeyError" in (results["untraceable"].reason or "") and "no_such_field" in results["untraceable"].reason


def test_a_member_that_reaches_the_success_rate_stops_there(population):
    results, folders = population
    for key in ("a", "b"):
        outcome = results[key].outcome
        assert outcome is not None and results[key].stopped_early
        last = outcome.curve[-1]
        assert last.extra[STOPPED_AT_SUCCESS] == 1.0 and last.extra[EVAL_SUCCESS] >= 0.8
        assert outcome.steps == last.step < BUDGET
        assert all(p.extra[EVAL_SUCCESS] < 0.8 for p in outcome.curve[:-1])
        assert (folders[key] / CHECKPOINT_FILE).is_file()
    assert not (folders["nan"] / CHECKPOINT_FILE).exists()


def test_the_evaluation_trace_holds_every_episode_to_its_end(population):
    results, _ = population
    trace, evaluation = results["a"].trace, results["a"].evaluation
    assert trace is not None and evaluation is not None
    lengths = trace["lengths"].tolist()
    assert lengths == list(evaluation.episode_lengths) and len(lengths) == 16
    assert trace["qpos"].shape == (16, 1 + max(lengths), 2)  # the start, then each step of the longest episode
    assert np.all(np.isfinite(trace["qpos"])) and trace["dt"] == pytest.approx(0.02)
    assert np.abs(trace["qpos"][0, 0] - trace["qpos"][1, 0]).max() > 0  # each episode from its own start


def test_a_member_trained_alone_ends_where_it_ends_inside_the_population(population):
    """Tolerance: the spread between the population's two learning members (other scales, other seed) at each
    checkpoint, and at least 5% of the value. A member's random numbers come from its own seed and its slice
    of the batch is its own, so alone or among others it trains (almost: float reductions differ) the same."""
    results, _ = population
    env, task, source, cfg = _setup()
    [alone] = train_population(env, task, [Member("a", load_reward(source), 0)], cfg)
    assert alone.outcome is not None and results["a"].outcome is not None and results["b"].outcome is not None
    inside, other = results["a"].outcome.curve, results["b"].outcome.curve
    assert [p.step for p in alone.outcome.curve] == [p.step for p in inside]
    for mine, theirs, neighbour in zip(alone.outcome.curve, inside, other, strict=False):
        assert mine.episode_return is not None and theirs.episode_return is not None
        spread = max(abs(theirs.episode_return - (neighbour.episode_return or 0.0)), 0.05 * theirs.episode_return)
        assert abs(mine.episode_return - theirs.episode_return) <= spread, (mine.step, mine.episode_return,
                                                                           theirs.episode_return)


@pytest.mark.slow  # ~90 s on 2 CPU cores; the population's own tests here and test_ray_population.py (slow) cover it too
def test_evolve_trains_a_generation_as_one_population_with_halving(tmp_path):
    """`evolve --trainer population` end to end: the generation's candidates go to ONE sandboxed population job
    per halving rung (2 candidates: rungs at B/2 and B, the survivor re-laid alone and continued from its
    checkpoint); every candidate's policy and trace land in its own work dir, where filming and export look."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    args = ["--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "1", "--samples", "2",
            "--train-steps", "20480", "--trainer", "population", "--halving", "--no-video", "--out", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = tmp_path.iterdir()
    cands = sorted((json.loads(p.read_text()) for p in run_dir.glob("gen_00/cand_*/candidate.json")),
                   key=lambda c: c["index"])
    assert [c["status"] for c in cands] == ["evaluated", "evaluated"]
    assert {c["train"]["trainer"] for c in cands} == {"population"}
    stopped = [c for c in cands if c["stop"] == "halving"]
    full = [c for c in cands if c["stop"] != "halving"]
    assert len(stopped) == 1 and len(full) == 1 and stopped[0]["train"]["steps"] == 10240
    assert stopped[0]["train"]["steps"] == 10240 and full[0]["train"]["steps"] == 20480
    # the survivor's curve runs on from its first rung's: one training continued, not two
    steps = [p["step"] for p in full[0]["train"]["curve"]]
    assert steps == sorted(steps) and steps[0] <= 10240 < steps[-1]
    for cand in cands:
        work = run_dir / "gen_00" / f"cand_{cand['index']:02d}" / "work"
        assert (work / "policy.npz").is_file() and (work / "trace.npz").is_file()
    assert len(list((run_dir / "gen_00" / "population").glob("*/checkpoint.npz"))) == 2


@pytest.mark.slow  # ~3 min on 2 CPU cores: four population jobs, each compiling
def test_racing_and_the_confirmation_from_scratch_run_on_the_population_trainer(tmp_path):
    """Issue 24: the racing seeds and the confirmation from scratch go to the population trainer as population jobs
    (the contenders' extra seeds together, each confirmed candidate's fresh seeds together)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    args = ["--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "1", "--samples", "2",
            "--train-steps", "8192", "--trainer", "population", "--no-halving", "--race-seeds", "1",
            "--final-seeds", "2", "--no-video", "--out", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], capture_output=True, text=True,
                          env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = tmp_path.iterdir()
    cands = [json.loads(p.read_text()) for p in sorted(run_dir.glob("gen_00/cand_*/candidate.json"))]
    assert "racing (round 1/1)" in proc.stdout  # one seed each: never a confident claim without racing
    raced = [c for c in cands if len(c["seeds"]) == 2]
    assert raced and all(s["episode_scores"] for c in raced for s in c["seeds"])
    assert {c["train"]["trainer"] for c in cands} == {"population"}
    result = json.loads((run_dir / "result.json").read_text())
    for cid, summary in result["confirmed"].items():
        assert [s["status"] for s in summary["seeds"]] == ["ok", "ok"], cid
        assert (run_dir / "final" / cid / "population").is_dir()  # the fresh seeds trained as one population
    assert result["choice"]["statement"].startswith(f"best {result['best']}: ")


def test_multi_seed_training_on_the_population_trainer_is_one_population(tmp_path, monkeypatch):
    """`rewardsmith train --trainer population --seeds N` and the final re-evaluation: the N seeds go to one
    population job (its directory under the output), not N jobs that would each compile the program."""
    from rewardsmith.execute import seeds as seeds_module
    from rewardsmith.execute.sandboxed import TrainReport

    calls = []

    def together(requests, on_progress):
        calls.append(requests)
        return [TrainReport.failed(r.key, f"not trained (seed {r.cfg.seed})") for r in requests]

    monkeypatch.setattr(seeds_module, "train_together", together)
    env, _, source, cfg = _setup()
    summary = seeds_module.train_seeds(env, "balance", source, cfg, [3, 4], tmp_path, lambda event: None,
                                       "population")
    [requests] = calls
    assert [r.cfg.seed for r in requests] == [3, 4]
    assert {r.group_dir for r in requests} == {tmp_path / "population"}
    assert [(s.seed, s.status, s.reason) for s in summary.seeds] == [(3, "failed", "not trained (seed 3)"),
                                                                     (4, "failed", "not trained (seed 4)")]
