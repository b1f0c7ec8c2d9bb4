"""The pure parts of `rewardsmith ablate`: the variants' sources, the pruned module, the verdict rule, the table's
rows and the paired bootstrap. Nothing here trains (tests/test_ablate_cartpole.py does)."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from builders import GOOD

from rewardsmith.confidence import paired_difference
from rewardsmith.execute.ablate import Row, Verdict, droppable, prune_plan, retrains_as_well, row_of, verdict
from rewardsmith.execute.seeds import MultiSeedSummary, SeedResult
from rewardsmith.program.extract import literal_scales
from rewardsmith.program.prune import FULL, pruned_source, variants
from rewardsmith.program.static import static_check
from rewardsmith.sandbox.protocol import JobStatus

BUILT_UP = '''SCALES = {"a": 1.0, "b": 2.0}


def reward_terms(s, action, xp):
    terms = {"a": s["cart_x"]}
    terms["b"] = xp.ones_like(s["cart_x"])
    return terms
'''


def test_each_variant_changes_one_scale_and_nothing_else():
    found = variants(GOOD, with_scales=True)
    assert found[0].name == FULL and found[0].source == GOOD
    assert len(found) == 1 + 3 * 4  # each of 4 terms removed, halved, doubled
    for variant in found[1:]:
        scales = literal_scales(variant.source)
        for term, scale in literal_scales(GOOD).items():
            expected = scale * variant.factor if term == variant.term else scale
            assert scales[term] == pytest.approx(expected)
        # the program's code below SCALES is untouched
        assert variant.source.split("def reward_terms")[1] == GOOD.split("def reward_terms")[1]
    assert [v.name for v in variants(GOOD)] == ["full", "-upright", "-centred", "-alive", "-effort"]
    assert len({v.folder for v in found}) == len(found)


def test_pruned_source_drops_the_terms_from_scales_and_from_the_returned_dict():
    pruned = pruned_source(GOOD, ["centred", "effort"])
    assert literal_scales(pruned) == {"upright": 1.0, "alive": 0.5}
    ret = [n for n in ast.walk(ast.parse(pruned)) if isinstance(n, ast.Return)][0]
    assert isinstance(ret.value, ast.Dict)
    assert [k.value for k in ret.value.keys if isinstance(k, ast.Constant)] == ["upright", "alive"]
    assert static_check(pruned) == []
    namespace: dict = {}
    exec(compile(pruned, "pruned", "exec"), namespace)  # our own test reward, not generated code
    terms = namespace["reward_terms"]({"pole_upright": np.ones(3), "cart_x": np.zeros(3)}, np.zeros((3, 1)), np)
    assert set(terms) == {"upright", "alive"}


def test_pruning_keeps_the_comments_of_the_terms_that_stay():
    commented = GOOD.replace('"alive": xp.ones_like(s["cart_x"]),', '"alive": xp.ones_like(s["cart_x"]),  # paid while up')
    pruned = pruned_source(commented, ["upright", "effort"])
    assert "# paid while up" in pruned and "pole_upright" not in pruned and "action ** 2" not in pruned
    one_line = 'SCALES = {"a": 1.0, "b": 2.0}\n\n\ndef reward_terms(s, action, xp):\n    return {"a": s["x"], "b": s["y"]}\n'
    assert pruned_source(one_line, ["a"]).endswith('    return {"b": s["y"]}\n')


def test_a_reward_built_up_step_by_step_keeps_the_dropped_term_at_scale_zero():
    pruned = pruned_source(BUILT_UP, ["b"])
    assert literal_scales(pruned) == {"a": 1.0, "b": 0.0}
    assert 'terms["b"]' in pruned


def test_pruning_refuses_unknown_terms_and_dropping_every_term():
    with pytest.raises(ValueError, match="not in SCALES"):
        pruned_source(GOOD, ["nope"])
    with pytest.raises(ValueError, match="at least one term"):
        pruned_source(GOOD, ["upright", "centred", "alive", "effort"])


def test_the_verdict_rule_needs_the_whole_interval_beyond_a_percent_of_the_mean():
    assert verdict(-0.30, -0.10, 0.9) is Verdict.WORSE
    assert verdict(0.05, 0.20, 0.9) is Verdict.BETTER
    assert verdict(-0.30, 0.02, 0.9) is Verdict.NONE
    assert verdict(-0.005, -0.001, 0.9) is Verdict.NONE  # within 1% of the mean: no effect worth the name
    assert verdict(-0.02, -0.01, 0.9) is Verdict.WORSE


def _summary(per_seed: dict[int, list[float] | None]) -> MultiSeedSummary:
    """Seeds with their episodes' task scores; None: the seed's training failed."""
    return MultiSeedSummary(tuple(
        SeedResult(seed, JobStatus.FAILED, "it diverged", None, None, None, None, None) if scores is None else
        SeedResult(seed, JobStatus.OK, None, float(np.mean(scores)), None, None, 100, 1.0, tuple(scores))
        for seed, scores in per_seed.items()))


def _rows(full: dict, removed: dict[str, dict]) -> list[Row]:
    rng = np.random.default_rng(0)
    found = {v.name: v for v in variants(GOOD)}
    base = _summary(full)
    return [row_of(found[FULL], base, base, 0.9, rng)] + [
        row_of(found[f"-{term}"], _summary(scores), base, 0.9, rng) for term, scores in removed.items()]


def test_rows_judge_each_removal_against_the_full_reward_on_the_same_seeds():
    full = {1: [1.0, 0.98, 0.96], 2: [0.97, 0.99, 1.0], 3: [0.95, 0.99, 0.98]}
    rows = _rows(full, {
        "upright": {1: [0.1, 0.2, 0.15], 2: [0.3, 0.2, 0.25], 3: [0.1, 0.12, 0.2]},  # falls without it
        "centred": {s: list(v) for s, v in full.items()},  # exactly the same
        "alive": {1: [1.0, 0.98, 0.96], 2: None, 3: [0.95, 0.99, 0.98]},  # a seed failed
    })
    by_name = {r.name: r for r in rows}
    assert by_name["full"].words == "baseline" and by_name["full"].effect is None
    assert by_name["full"].success is not None and by_name["full"].success.value == 1.0
    assert by_name["-upright"].words == "hurts when removed" and by_name["-upright"].effect.value < -0.7
    assert by_name["-centred"].words == "no measurable effect" and by_name["-centred"].effect.value == 0.0
    assert by_name["-alive"].verdict is Verdict.WORSE and "it diverged" in by_name["-alive"].words
    assert droppable(rows) == ["centred"]
    assert prune_plan(rows) == [["centred"]]  # one term to drop: one attempt


def test_when_no_removal_hurts_the_costliest_term_stays():
    full = {1: [0.9, 0.8], 2: [0.85, 0.9]}
    rows = _rows(full, {"upright": {1: [0.7, 0.9], 2: [0.8, 0.85]}, "centred": {1: [0.95, 0.9], 2: [0.9, 0.85]}})
    assert all(r.verdict is not Verdict.WORSE for r in rows)
    assert droppable(rows) == ["centred"]  # upright's removal cost most: it stays


def test_the_plan_tries_every_droppable_term_together_then_the_one_whose_removal_did_best():
    full = {1: [0.5, 0.4], 2: [0.45, 0.5]}
    rows = _rows(full, {"upright": {1: [0.1, 0.2], 2: [0.1, 0.1]},  # hurts: never dropped
                        "centred": {1: [0.5, 0.45], 2: [0.4, 0.5]},  # no effect
                        "alive": {1: [0.9, 0.8], 2: [0.85, 0.9]}})  # helps when removed
    assert prune_plan(rows) == [["centred", "alive"], ["alive"]]


def test_as_well_means_not_worse_by_the_same_rule_as_a_removal():
    full = {1: [1.0, 1.0], 2: [1.0, 1.0]}  # no spread at all: a slightly lower pruned mean is still inside the rule
    rows = _rows(full, {"upright": {1: [0.1, 0.2], 2: [0.1, 0.1]}, "centred": {1: [1.0, 0.96], 2: [1.0, 1.0]},
                        "alive": {1: [1.0, 1.0], 2: None}})
    assert retrains_as_well(rows[2])
    assert not retrains_as_well(rows[1])  # clearly worse
    assert not retrains_as_well(rows[3])  # a seed failed


def test_paired_difference_cancels_what_a_seed_does_to_both():
    # seed luck is large (0.2 vs 0.9), the difference is a steady -0.05: pairing sees it, an unpaired view would not
    a = [[0.15, 0.15], [0.85, 0.85], [0.45, 0.45]]
    b = [[0.2, 0.2], [0.9, 0.9], [0.5, 0.5]]
    point, low, high = paired_difference(a, b, np.random.default_rng(1))
    assert point == pytest.approx(-0.05)
    assert low == pytest.approx(-0.05) and high == pytest.approx(-0.05)
    with pytest.raises(ValueError):
        paired_difference(a, b[:2], np.random.default_rng(1))
