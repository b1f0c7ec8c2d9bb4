"""Successive halving of a generation's budget: the rungs, who goes on, and a real LLM-free generation whose
survivors continue from their checkpoints in the sandbox."""

from __future__ import annotations

import subprocess
import sys

from builders import evaluated, failed

from rewardsmith.execute.train_stage import halving_default, rung_budgets, survivors
from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore


def test_rungs_halve_the_budget_down_from_the_full_one():
    # never below a quarter of the budget: earlier rungs ranked hoppers by noise (execute/train_stage.py)
    assert rung_budgets(8_000_000, 16) == [2_000_000, 4_000_000, 8_000_000]
    assert rung_budgets(8_000_000, 8) == [2_000_000, 4_000_000, 8_000_000]
    assert rung_budgets(8_000_000, 4) == [2_000_000, 4_000_000, 8_000_000]
    assert rung_budgets(8_000_000, 3) == [2_000_000, 4_000_000, 8_000_000]
    assert rung_budgets(8_000_000, 2) == [4_000_000, 8_000_000]
    assert rung_budgets(8_000_000, 1) == [8_000_000]
    # K = 8: 8 x 2M + 4 x 2M more + 2 x 4M more = 32M env steps instead of 64M (2x fewer)
    budgets, alive, spent, reached = rung_budgets(8_000_000, 8), 8, 0, 0
    for budget in budgets:
        spent += alive * (budget - reached)
        reached, alive = budget, (alive + 1) // 2
    assert spent == 32_000_000


def test_the_better_half_goes_on_and_ties_at_the_cut_go_on_together():
    cands = [evaluated(0, i, f) for i, f in enumerate([0.1, 0.9, 0.5, 0.3])]
    assert [c.id for c in survivors(cands)] == ["g0c01", "g0c02"]
    assert [c.id for c in survivors(cands[:3])] == ["g0c01", "g0c02"]  # ceil(3 / 2)
    zeros = [evaluated(0, i, 0.0) for i in range(4)]  # a hard task: nothing scores yet, nobody is dropped at random
    assert len(survivors(zeros)) == 4
    tied = [evaluated(0, 0, 0.7), evaluated(0, 1, 0.2), evaluated(0, 2, 0.2), evaluated(0, 3, 0.1)]
    assert [c.id for c in survivors(tied)] == ["g0c00", "g0c01", "g0c02"]
    nan = evaluated(0, 4, float("nan"))
    assert nan.id not in {c.id for c in survivors([*cands, nan])}


def test_halving_is_on_where_it_can_work():
    assert halving_default("metrics", "native") and halving_default("synthetic", "native")
    assert not halving_default("human", "native") and not halving_default("metrics", "mjx")


def _evolve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task",
                           "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", *args], capture_output=True, text=True, timeout=900)


def test_a_generation_with_halving_trains_fewer_steps_and_continues_the_survivors(tmp_path):
    full = 8192  # cart-pole's 64 envs x 32 steps = 2048 per iteration: rungs of 1, 2 and 4 iterations
    proc = _evolve("--samples", "4", "--iterations", "1", "--train-steps", str(full), "--no-video", "--halving",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "halving rung 1/3: 4 candidate(s) to 2,048 steps" in proc.stdout
    (run,) = tmp_path.iterdir()
    cands = RunStore.open(run).candidates(0)
    assert all(c.status is Status.EVALUATED for c in cands), [c.reason for c in cands]
    full_budget = [c for c in cands if not c.cut_short]
    stopped = sorted(c.train.steps for c in cands if c.cut_short)
    # 4 -> 2 -> 1 unless ties at a cut kept more going (then fewer stop, never more)
    assert 1 <= len(full_budget) <= 2 and len(stopped) == 4 - len(full_budget)
    assert all(s in (2048, 4096) for s in stopped)
    for cand in cands:
        reached = cand.train.steps if cand.cut_short else full
        assert cand.train.steps == reached and cand.train.curve[-1].step == reached
    # a survivor continued its own training: its curve starts with the first rung's points
    winner = full_budget[0]
    assert [p.step for p in winner.train.curve][:1] == [2048] and winner.train.curve[-1].step == full
    spent = sum(c.train.steps for c in cands)
    assert spent < 4 * full
    # the ranking puts the candidates trained to the full budget first
    selection = RunStore.open(run).load_selection(0)
    assert selection.ranking[0] in {c.id for c in full_budget}
    show = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "show", str(run)], capture_output=True, text=True)
    assert "stopped by halving at 2,048 steps" in show.stdout or "stopped by halving at 4,096 steps" in show.stdout


def test_halving_is_refused_where_it_cannot_work(tmp_path):
    proc = _evolve("--halving", "--feedback", "human", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--halving needs a ranker with a task fitness" in proc.stderr, proc.stderr
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_a_failed_candidate_never_survives_a_rung():
    assert survivors([failed(0, 0), evaluated(0, 1, 0.2)]) == [evaluated(0, 1, 0.2)]
