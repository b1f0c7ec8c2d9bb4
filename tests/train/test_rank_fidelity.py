"""The arithmetic of `bench evolve --fidelity` (no training): Kendall's tau-b with ties, halving simulated by the
real cut rule on measured scores (who survives, what it loses, what it costs), and the printed lines."""

from __future__ import annotations

import math

import pytest
from builders import evaluated

from rewardsmith.bench.fidelity import (
    GenerationFidelity,
    halving_outcome,
    halving_path,
    kendall_tau_b,
    report_lines,
    schedules,
    still_successful,
)
from rewardsmith.execute.train_stage import MAX_RUNGS, rung_score, survivor_ids, survivors


def test_kendall_tau_b_counts_ties_on_either_side_as_ties():
    assert kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 2, 2, 3, 5], [1, 3, 2, 2, 4]) == pytest.approx(2 / 3)  # scipy.stats.kendalltau's value
    assert kendall_tau_b([0.0, 0.0, 0.0], [1, 2, 3]) is None  # a rung where nothing scores yet orders nothing
    assert kendall_tau_b([1.0], [1.0]) is None
    assert kendall_tau_b([-math.inf, -math.inf, 1.0], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))  # no NaN


def _rung(scores: list[float]) -> dict[str, float]:
    return {f"c{i}": float(score) for i, score in enumerate(scores)}


def test_halving_is_simulated_by_the_real_cut_rule():
    first = _rung([0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    second = _rung([0.1, 0.2, 0.3, 0.9, 0.0, 0.0, 0.0, 0.0])
    path = halving_path([first, second, second])
    assert path[1] == {"c0", "c1", "c2", "c3"}  # the better half at the first rung
    assert path[2] == {"c3", "c2"}  # of those, the better half at the second
    tied = _rung([0.0] * 8)  # nothing scores yet: nobody is dropped at random
    assert halving_path([tied, tied])[1] == set(tied)


def test_the_cut_is_the_one_halving_makes():
    cands = [evaluated(0, i, f) for i, f in enumerate([0.1, 0.9, 0.5, 0.5, float("nan"), 0.2])]
    scores = {c.id: rung_score(c) for c in cands}
    assert scores["g0c04"] == -math.inf  # a NaN score never survives
    assert survivor_ids(scores) == {c.id for c in survivors(cands)} == {"g0c01", "g0c02", "g0c03"}


def test_the_outcome_says_whether_the_best_survived_what_was_lost_and_the_cost():
    early = _rung([0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])  # the late bloomer g0c07 looks worst early
    full = _rung([0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 1.9])
    outcome = halving_outcome([early, early, early, full], [1, 2, 4, 8])
    assert not outcome.first_cut and not outcome.every_cut
    assert outcome.loss == pytest.approx(1.9 - 0.5)
    assert outcome.cost == pytest.approx((8 * 1 + 4 * 1 + 2 * 2 + 1 * 4) / 8)  # 2.5 B instead of 8 B
    kept = halving_outcome([full, full], [4, 8])
    assert kept.first_cut and kept.every_cut and kept.loss == 0.0 and kept.cost == pytest.approx((8 * 4 + 4 * 4) / 8)


def test_success_met_early_is_checked_at_the_full_budget():
    early, full = _rung([0.9, 0.8, 0.1]), _rung([0.7, 1.0, 1.0])  # success rates
    assert still_successful(early, full, 0.8) == (2, 1)


def test_the_compared_schedules_start_at_an_eighth_a_quarter_and_half_of_the_budget():
    found = schedules(8_000_000, 8)
    assert list(found) == [(1_000_000, 2_000_000, 4_000_000, 8_000_000), (2_000_000, 4_000_000, 8_000_000),
                           (4_000_000, 8_000_000)]
    assert found[(2_000_000, 4_000_000, 8_000_000)] == MAX_RUNGS
    assert len(schedules(8_000_000, 4)) == 2  # K = 4 has three rungs at most: B/8 is never a first rung there


def test_the_lines_a_note_quotes():
    full, half, quarter, eighth = (_rung([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.9]), _rung(list(range(8))),
                                   _rung([7, 6, 5, 4, 3, 2, 1, 0]), _rung([0.0] * 8))
    gen = GenerationFidelity(0, (1000, 2000, 4000, 8000), (eighth, quarter, half, full), (eighth,) * 4)
    assert GenerationFidelity.from_dict(gen.to_dict()) == gen  # what --pool reads back
    lines = report_lines([gen, gen], 8, 0.8)
    assert lines[0] == "rung B/8 (1,000 steps): Kendall tau with the ranking at B n/a (per generation n/a, n/a)"
    assert lines[1].startswith("rung B/4 (2,000 steps): Kendall tau with the ranking at B -1.00")
    assert lines[2].startswith("rung B/2 (4,000 steps): Kendall tau with the ranking at B +1.00")
    assert lines[4].startswith("first rung B/4 (rungs B/4, B/2, B) [today]: the best at B survived the first cut "
                               "in 0/2 generations, every cut in 0/2; task score lost 1.500 (1.500, 1.500); env steps 4.00 B")
    assert "the best at B survived the first cut in 2/2 generations, every cut in 2/2" in lines[5]
    assert lines[-1] == "stop at success: 0 candidate(s) met success rate 0.8 at B/2, 0 of them still meet it at B"
