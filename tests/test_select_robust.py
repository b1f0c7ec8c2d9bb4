"""evolve --select-robust. On records (no training): the worst case under stress takes the task score's place in
the selection rule, so the pick changes where the worst cases disagree with the scores; the line says it picked by
the worst case; a candidate without a stress measurement is not compared; the record keeps both numbers through
JSON; `show`'s row words the worst case; a ranker that does not pick by the rule refuses the flag. End to end: a
tiny LLM-free cart-pole evolve with the flag stresses every trained policy (its confirmation's too) and says so
(~30 s on 2 cores)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rewardsmith.bench.selection import candidate
from rewardsmith.confidence import WORST_CASE, choose
from rewardsmith.config import RunConfig
from rewardsmith.errors import UserError
from rewardsmith.records import Candidate, Robustness
from rewardsmith.runs.show import worst_case

THRESHOLD = 0.5


def _stressed(index: int, score: float, worst: float, falls: int = 0) -> Candidate:
    """A candidate evaluated at `score` in all 16 episodes whose worst case under stress scores `worst` (with `falls`
    of its 8 worst-case episodes at 0.1)."""
    scores = np.full(16, score) + np.linspace(-0.01, 0.01, 16)
    under = np.concatenate([np.full(8 - falls, worst), np.full(falls, 0.1)])
    stress = Robustness(worst=("push 1 m/s",), worst_scores=(tuple(float(x) for x in under),),
                        baseline_scores=(tuple(float(x) for x in scores[:8]),), conditions=9)
    return candidate(index, scores).replace(stress=stress)


def test_the_worst_case_changes_the_pick_where_it_disagrees_with_the_score():
    brittle = _stressed(0, score=0.95, worst=0.2, falls=4)  # the best score, falls over when pushed
    sturdy = _stressed(1, score=0.80, worst=0.75)  # a lower score, holds under every perturbation
    by_score = choose([brittle, sturdy], THRESHOLD)
    by_worst = choose([brittle, sturdy], THRESHOLD, robust=True)
    assert by_score.best == brittle.id
    assert by_worst.best == sturdy.id and by_worst.order == (sturdy.id, brittle.id)
    assert by_worst.statement().startswith(f"best {sturdy.id}: {WORST_CASE}success 1.00 [")
    assert "score 0.750 [" in by_worst.lines[sturdy.id]  # the worst case's score, not the evaluation's 0.80
    assert "--select-robust" in by_worst.rule and "--select-robust" not in by_score.rule
    assert not by_score.statement().split(":")[1].strip().startswith("worst case")


def test_where_the_worst_cases_agree_with_the_scores_the_pick_is_the_same():
    better = _stressed(0, score=0.95, worst=0.9)
    worse = _stressed(1, score=0.80, worst=0.6)
    assert choose([better, worse], THRESHOLD).best == choose([better, worse], THRESHOLD, robust=True).best == "g0c00"


def test_a_candidate_that_does_not_do_the_task_is_not_picked_for_failing_less_under_stress():
    hopper = _stressed(0, score=0.95, worst=0.2)  # does the task, fails under its worst perturbation
    idler = _stressed(1, score=0.3, worst=0.28)  # never does the task: little to lose under stress
    assert idler.success_rate == 0.0 and hopper.success_rate == 1.0
    assert choose([hopper, idler], THRESHOLD, robust=True).order == (hopper.id,)
    idler_too = _stressed(2, score=0.2, worst=0.1)
    assert choose([idler, idler_too], THRESHOLD, robust=True).best == idler.id  # none does it: all are compared


def test_a_candidate_never_stressed_is_not_compared_by_its_worst_case():
    unstressed = candidate(0, np.full(16, 0.99))
    stressed = _stressed(1, score=0.7, worst=0.6)
    assert choose([unstressed, stressed], THRESHOLD, robust=True).order == (stressed.id,)
    assert choose([unstressed], THRESHOLD, robust=True).best is None


def test_the_record_keeps_both_numbers_through_json_and_show_words_the_worst_case():
    cand = _stressed(0, score=0.9, worst=0.4)
    back = Candidate.from_dict(cand.to_dict())
    assert back == cand
    assert back.stress is not None and back.stress.worst_score == pytest.approx(0.4)
    assert back.stress.baseline_score == pytest.approx(float(np.mean(np.full(16, 0.9)[:8] + np.linspace(-0.01, 0.01,
                                                                                                         16)[:8])))
    assert back.fitness == pytest.approx(0.9)  # the task score stays what the evaluation measured
    assert worst_case(back) == f"0.400 (push 1 m/s; unperturbed {back.stress.baseline_score:.3f})"
    assert worst_case(candidate(1, np.full(4, 0.5))) == ""
    legacy = {k: v for k, v in cand.to_dict().items() if k != "stress"}  # a run from before --select-robust
    assert Candidate.from_dict(legacy).stress is None


def test_select_robust_needs_a_ranker_that_picks_by_the_rule():
    from rewardsmith.evolve import prepare

    cfg = RunConfig(env="cartpole", task="balance", select_robust=True, feedback="synthetic")
    with pytest.raises(UserError, match=r"--select-robust .* --feedback synthetic does not pick by that rule; use "
                                        r"--feedback metrics"):
        prepare(cfg, live=False)
    prepare(dataclasses.replace(cfg, feedback="metrics"), live=False)  # the default ranker takes it


def test_an_evolve_with_select_robust_stresses_every_policy_and_picks_by_the_worst_case(tmp_path):
    from rewardsmith.evaluate.stress import ROBUST_EPISODES, conditions, read_reports
    from rewardsmith.runs.store import RunStore

    (tmp_path / "run.toml").write_text(textwrap.dedent("""\
        env = "cartpole"
        task = "balance"
        models = []
        iterations = 1
        samples = 2
        final_seeds = 1
        race_seeds = 0
        train_steps = 4096
        video = false
        select_robust = true
        out = "runs"
        """))
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--config", "run.toml"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (root,) = (tmp_path / "runs").iterdir()
    store = RunStore.open(root)
    evaluated = [c for c in store.candidates(0) if c.evaluation is not None]
    compared = [c for c in evaluated if not c.cut_short]
    assert len(evaluated) == 2 and compared
    assert all(c.stress is None for c in evaluated if c.cut_short)  # halving's losers are never compared
    for cand in compared:
        assert cand.stress is not None and len(cand.stress.worst_scores[0]) == ROBUST_EPISODES
        (report,) = read_reports(store.stress_path(0, cand.index))
        assert [r.condition for r in report.results] == list(conditions())
        assert cand.stress.worst == (report.worst.condition.name,)
        assert cand.stress.worst_score == pytest.approx(report.worst.score)
    selection = store.load_selection(0)
    assert selection is not None and selection.choice is not None
    assert all(line.startswith(WORST_CASE) for line in selection.choice.lines.values())
    result = json.loads((root / "result.json").read_text())
    assert result["choice"]["statement"].startswith(f"best {result['best']}: {WORST_CASE}")
    assert (root / "final" / result["best"] / "stress.json").is_file()  # the fresh seeds' policies, stressed too
    shown = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "show", str(root)], capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and "worst case under stress" in shown.stdout, shown.stdout + shown.stderr
