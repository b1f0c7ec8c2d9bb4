"""`rewardsmith ablate` for real on cart-pole: a useless term planted into a working reward is found useless, the
reward pruned of it retrains as well, and `export --pruned` writes it.

The default test plants a term that is 0 everywhere (its removal leaves the very same reward: training is
deterministic per seed, so the effect is exactly 0 at any budget) and trains a tiny budget. The slow one
(`pytest -m slow tests/test_ablate_cartpole.py`, ~1-2 minutes on 2 cores) plants a high-frequency noise term with a
scale into a reward that learns, at a budget where it learns, and checks that the real term is found to matter."""

from __future__ import annotations

import dataclasses
import json

import pytest
from builders import evaluated
from typer.testing import CliRunner

from rewardsmith.cli.app import app
from rewardsmith.config import RunConfig
from rewardsmith.errors import UserError
from rewardsmith.program.extract import literal_scales
from rewardsmith.runs.store import RunStore

ZERO = '''SCALES = {"upright": 1.0, "alive": 0.5, "nothing": 3.0}


def reward_terms(s, action, xp):
    return {
        "upright": s["pole_upright"],
        "alive": xp.ones_like(s["cart_x"]),
        "nothing": xp.zeros_like(s["cart_x"]),
    }
'''

NOISE = '''SCALES = {"upright": 1.0, "noise": 0.3}


def reward_terms(s, action, xp):
    return {
        "upright": s["pole_upright"],
        "noise": xp.sin(97.0 * s["cart_x"]) * xp.cos(53.0 * s["pole_angular_velocity"]),
    }
'''


def planted_run(tmp_path, source: str, train_steps: int) -> RunStore:
    store = RunStore.create(tmp_path, "run-planted", RunConfig(env="cartpole", task="balance",
                                                               train_steps=train_steps))
    store.save_candidate(dataclasses.replace(evaluated(0, 0, 0.5), source=source,
                                             scales=literal_scales(source)))
    return store


def ablate(store: RunStore, *args: str) -> dict:
    result = CliRunner().invoke(app, ["ablate", str(store.root), "--candidate", "g0c00", *args],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "verdict" in result.output and "rule:" in result.output
    return json.loads(store.ablation_path("g0c00").read_text())


def verdicts(table: dict) -> dict[str, str]:
    return {row["name"]: row["words"] for row in table["rows"]}


def test_a_term_that_is_zero_everywhere_is_found_useless_and_pruned(tmp_path):
    store = planted_run(tmp_path, ZERO, train_steps=4096)
    table = ablate(store, "--seeds", "1")
    assert table["steps"] >= 4096 and table["seeds"] == [1]
    rows = {row["name"]: row for row in table["rows"]}
    assert rows["-nothing"]["verdict"] == "no measurable effect"
    assert rows["-nothing"]["effect"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    pruned = table["pruned"][-1]
    assert "nothing" in pruned["dropped"] and pruned["as_well"], table["pruned"]
    assert "nothing" not in literal_scales(store.pruned_reward_path("g0c00").read_text())
    assert not list(store.ablation_dir("g0c00").parent.glob(".*"))  # the partial folder was renamed away

    out = tmp_path / "pruned.py"
    exported = CliRunner().invoke(app, ["export", str(store.root), "--candidate", "g0c00", "--pruned", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert '"nothing"' not in out.read_text() and "Pruned by `rewardsmith ablate`" in out.read_text()
    # a reward card can hand on the pruned reward, measured by the ablation's own retraining of it
    card = tmp_path / "card"
    written = CliRunner().invoke(app, ["export", str(store.root), "--candidate", "g0c00", "--pruned", "--card", "-o",
                                       str(card)])
    assert written.exit_code == 0, written.output
    manifest = json.loads((card / "card.json").read_text())
    assert (card / "reward.py").read_text() == store.pruned_reward_path("g0c00").read_text()
    assert manifest["reward"]["as_trained"] is False and "pruned from g0c00" in manifest["reward"]["origin"]
    kept = next(p for p in table["pruned"] if p["as_well"])
    assert manifest["measurement"]["seeds"] == [1]
    assert manifest["measurement"]["seed_scores"] == [kept["row"]["episode_scores"]["1"]]


def test_export_pruned_without_an_ablation_says_so_in_one_line(tmp_path):
    store = planted_run(tmp_path, ZERO, train_steps=4096)
    result = CliRunner().invoke(app, ["export", str(store.root), "--candidate", "g0c00", "--pruned", "-o",
                                      str(tmp_path / "r.py")])
    # a UserError: `rewardsmith` prints its one line and exits 2 (cli/ui.OneLineErrors; CliRunner bypasses that)
    assert isinstance(result.exception, UserError)
    assert "no pruned reward" in str(result.exception) and "rewardsmith ablate" in str(result.exception)
    assert not (tmp_path / "r.py").exists()


def test_ablate_refuses_bad_seeds_and_an_unknown_candidate(tmp_path):
    store = planted_run(tmp_path, ZERO, train_steps=4096)
    bad = CliRunner().invoke(app, ["ablate", str(store.root), "--seeds", "0"])
    assert bad.exit_code == 2 and "--seeds" in bad.output
    unknown = CliRunner().invoke(app, ["ablate", str(store.root), "--candidate", "g9c09"])
    assert isinstance(unknown.exception, UserError) and "g0c00" in str(unknown.exception)
    assert not (store.root / "ablation").exists()


@pytest.mark.slow
def test_a_planted_noise_term_is_found_useless_and_the_real_term_matters(tmp_path):
    store = planted_run(tmp_path, NOISE, train_steps=57_344)
    table = ablate(store, "--seeds", "3")
    found = verdicts(table)
    assert found["-upright"] == "hurts when removed", table["rows"]
    assert found["-noise"] != "hurts when removed", table["rows"]
    assert len(table["pruned"]) == 1, table["pruned"]  # one term to drop: one attempt
    pruned = table["pruned"][0]
    assert pruned["dropped"] == ["noise"] and pruned["as_well"], pruned["reason"]
    assert literal_scales(store.pruned_reward_path("g0c00").read_text()) == {"upright": 1.0}
