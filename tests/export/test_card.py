"""Reward cards: `export RUN --card -o DIR` writes the folder; `replay DIR` refuses a card whose env, fitness,
reward, MuJoCo or trainer differ (one line, exit 2), reports other package versions, retrains and decides.

The fast tests build a run from records (builders.py) with a real policy file and episode scores, so the writer and
the refusals need no training; one fast test replays such a card whose claim no 2,048-step training can meet (exit
4); the slow one writes a card from a real cart-pole evolve and replays it (run it with
`pytest -m slow tests/export/test_card.py`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import evaluated

from rewardsmith.confidence import choose
from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.execute.replay import NOT_REPRODUCED, check_card, read_card, replay_seeds
from rewardsmith.execute.seeds import MultiSeedSummary, SeedResult
from rewardsmith.exports.card import CardReward, write_card
from rewardsmith.exports.formats import ExportError
from rewardsmith.exports.provenance import env_sha256, package_versions
from rewardsmith.exports.reproduce import Measurement, verdict
from rewardsmith.records import CheckReport, Film, Selection
from rewardsmith.runs.cost import run_cost
from rewardsmith.runs.store import RunStore, write_json
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.train.policy import Policy

REFERENCE = get_env("cartpole").reference_reward_path("balance").read_text()


def _cli(*args, env: dict | None = None):
    environ = {k: v for k, v in os.environ.items() if k != "REWARDSMITH_ENVS"} | (env or {})
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *map(str, args)], capture_output=True, text=True,
                          env=environ, timeout=600)


def _episodes(rng, centre: float) -> tuple[float, ...]:
    return tuple(float(x) for x in np.clip(rng.normal(centre, 0.02, 16), 0.0, 1.0))


def make_run(tmp_path: Path, env: str = "cartpole", envs_dir: str | None = None, claimed: float = 0.95) -> RunStore:
    """A finished run of one candidate (the task's reference reward) whose search and confirmation measured scores
    around `claimed`, with a policy, a film and a training curve: everything a card copies, no training."""
    cfg = RunConfig(env=env, task="balance", seed=1, final_seeds=2, train_steps=2048,
                    envs_dir=envs_dir)
    store = RunStore.create(tmp_path / "runs", "run-card", cfg)
    rng = np.random.default_rng(7)
    base = evaluated(0, 0, claimed, scales={"upright": 1.0, "centred": 0.2, "alive": 0.5, "effort": -0.01})
    cand = base.replace(source=REFERENCE, film=Film(video="video.mp4", strip="strip.png"),
                        check=CheckReport(True, (), (), ("upright", "centred", "alive", "effort"), 0.1, 0.01),
                        evaluation=dataclasses.replace(base.evaluation, episode_scores=_episodes(rng, claimed)),
                        train=dataclasses.replace(base.train, seed=1))
    store.save_candidate(cand)
    folder = store.cand_dir(0, 0)
    (folder / "video.mp4").write_bytes(b"not really an mp4")
    (folder / "strip.png").write_bytes(b"not really a png")
    layers = [{"w": rng.normal(0, 0.5, (a, b)).astype(np.float32), "b": np.zeros(b, np.float32)}
              for a, b in ((5, 8), (8, 1))]
    store.work_dir(0, 0).mkdir(parents=True)
    Policy(params={"policy": layers, "value": layers[:1], "log_std": np.zeros(1, np.float32)},
           obs_mean=np.zeros(5), obs_var=np.ones(5)).save(store.work_dir(0, 0) / "policy.npz")
    choice = choose([cand], 0.9, incumbent=cand.id)
    store.save_selection(Selection(0, "metrics", (cand.id,), {cand.id: claimed}, cand.id, None, cand.id, claimed, {},
                                   choice=choice))
    seeds = tuple(SeedResult(s, JobStatus.OK, None, claimed, 1.0, 20.0, 2048, 1.0, _episodes(rng, claimed), 0.5)
                  for s in (2, 3))
    (store.final_dir() / cand.id).mkdir(parents=True)
    write_json(store.final_dir() / cand.id / "summary.json", MultiSeedSummary(seeds).to_dict())
    store.save_result({"best": cand.id, "search_best": cand.id, "choice": choice.to_dict(),
                       "confirmed": {cand.id: MultiSeedSummary(seeds).to_dict()}})
    return store


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A card written by the command from a run of records: (run, card folder)."""
    tmp = tmp_path_factory.mktemp("card")
    store = make_run(tmp)
    proc = _cli("export", store.root, "--card", "-o", tmp / "card")
    assert proc.returncode == 0, proc.stderr
    return store, tmp / "card"


def _copy(card: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(card, tmp_path / "copy"))


def test_card_holds_the_reward_policy_film_curves_measurement_and_cost(written):
    store, card = written
    manifest = json.loads((card / "card.json").read_text())
    cand = store.find_candidate("g0c00")
    assert manifest["schema"] == 1 and manifest["candidate"] == "g0c00" and manifest["env"] == "cartpole"
    assert (card / "reward.py").read_text() == REFERENCE  # the program exactly as trained
    provenance = manifest["provenance"]
    assert provenance["reward_sha256"] == hashlib.sha256(REFERENCE.encode()).hexdigest()
    assert provenance["env_sha256"] == env_sha256(get_env("cartpole"))
    assert provenance["fitness_version"] == 1 and provenance["mujoco"] == package_versions()["mujoco"]
    assert provenance["packages"]["numpy"] == np.__version__
    assert (card / "policy.npz").read_bytes() == (store.work_dir(0, 0) / "policy.npz").read_bytes()
    assert "def load_policy" in (card / "policy.py").read_text()
    assert (card / "video.mp4").read_bytes() == b"not really an mp4" and (card / "strip.png").is_file()
    assert json.loads((card / "config.json").read_text()) == json.loads((store.root / "config.json").read_text())
    curve = json.loads((card / "curve.json").read_text())["points"]
    assert [p["step"] for p in curve] == [p.step for p in cand.train.curve] and (card / "curve.png").is_file()
    # the measurement a replay is compared with: the confirmation's seeds, not the search's
    summary = json.loads((store.final_dir() / "g0c00" / "summary.json").read_text())
    measurement = manifest["measurement"]
    assert measurement["seeds"] == [2, 3] and "confirmation" in measurement["what"]
    assert measurement["seed_scores"] == [s["episode_scores"] for s in summary["seeds"]]
    assert manifest["training"]["config"]["steps"] == 2048 and manifest["training"]["trainer"] == "native"
    assert manifest["cost"] == run_cost(store).to_dict() and manifest["cost"]["confirm_env_steps"] == 2 * 2048
    assert manifest["selection"]["statement"] == store.load_result()["choice"]["statement"]
    assert set(manifest["replay"]["used_seeds"]) == {1, 2, 3} and manifest["replay"]["first_seed"] == 4
    readme = (card / "README.md").read_text()
    for heading in ("What the reward teaches", "How well", "With what confidence", "At what cost", "How to replay",
                    "How to use the reward and the policy"):
        assert f"## {heading}" in readme
    assert Measurement.from_dict(measurement).words() in readme and manifest["selection"]["statement"] in readme
    assert not [p for p in card.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_another_reward_such_as_a_pruned_one_comes_with_its_own_measurement(written, tmp_path):
    store, _ = written
    pruned = REFERENCE.replace(', "effort": -0.01}', "}").replace('        "effort": xp.sum(action**2, axis=-1),\n', "")
    assert pruned != REFERENCE
    measured = Measurement("the ablation's retraining", (7, 8), ((0.5,) * 16, (0.6,) * 16), (2048, 2048), 0.9)
    write_card(store, tmp_path / "card", reward=CardReward(pruned, "g0c00 pruned of its effort term", measured))
    manifest = json.loads((tmp_path / "card" / "card.json").read_text())
    assert (tmp_path / "card" / "reward.py").read_text() == pruned
    assert manifest["reward"]["scales"] == {"upright": 1.0, "centred": 0.2, "alive": 0.5}
    assert manifest["reward"]["as_trained"] is False and manifest["reward"]["terms"] is None
    assert manifest["measurement"]["seeds"] == [7, 8] and manifest["measurement"]["score"] == pytest.approx(0.55)
    assert manifest["provenance"]["reward_sha256"] == hashlib.sha256(pruned.encode()).hexdigest()
    readme = (tmp_path / "card" / "README.md").read_text()
    assert "g0c00 pruned of its effort term" in readme and "trained with its own program" in readme


def test_bad_card_output_is_one_line_and_writes_nothing(written, tmp_path):
    store, card = written
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    proc = _cli("export", store.root, "--card", "--format", "jax", "-o", tmp_path / "mine")
    assert proc.returncode == 2 and "--format jax" in proc.stderr
    with pytest.raises(ExportError, match="is not a reward card"):
        write_card(store, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    copy = _copy(card, tmp_path)
    with pytest.raises(ExportError, match="--force"):
        write_card(store, copy)
    (copy / "extra.txt").write_text("gone after --force")
    write_card(store, copy, force=True)
    assert not (copy / "extra.txt").exists() and (copy / "card.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "mine"]  # no temporary folder left


def test_replay_refuses_a_card_whose_env_hash_differs(written, tmp_path):
    copy = _copy(written[1], tmp_path)
    manifest = json.loads((copy / "card.json").read_text())
    manifest["provenance"]["env_sha256"] = "0" * 64
    (copy / "card.json").write_text(json.dumps(manifest))
    proc = _cli("replay", copy, "--seeds", "1")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "env cartpole: its files differ (sha256 000000000000 in the card" in proc.stderr
    assert not (copy / "replay.json").exists()


def test_replay_refuses_a_card_of_an_own_env_edited_after_writing(tmp_path, monkeypatch):
    envs = tmp_path / "envs"
    shutil.copytree(get_env("cartpole").folder, envs / "pole", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("REWARDSMITH_ENVS", str(envs))
    store = make_run(tmp_path, env="pole", envs_dir=str(envs))
    write_card(store, tmp_path / "card")
    assert check_card(read_card(tmp_path / "card")).packages == ()  # replayable before the edit
    model = envs / "pole" / "model.xml"
    model.write_text(model.read_text() + "<!-- edited -->\n")
    proc = _cli("replay", tmp_path / "card", "--envs-dir", envs)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "env pole: its files differ" in proc.stderr


def test_replay_refuses_an_edited_reward(written, tmp_path):
    copy = _copy(written[1], tmp_path)
    (copy / "reward.py").write_text(REFERENCE.replace('"alive": 0.5', '"alive": 5.0'))
    proc = _cli("replay", copy)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "reward.py was edited after the card was written" in proc.stderr


def test_other_package_versions_are_reported_and_mujoco_or_trainer_refused(written, tmp_path):
    copy = _copy(written[1], tmp_path)
    manifest = json.loads((copy / "card.json").read_text())
    manifest["provenance"]["packages"]["numpy"] = "0.0.1"
    manifest["provenance"]["packages"]["left-behind"] = "1.0"
    (copy / "card.json").write_text(json.dumps(manifest))
    checked = check_card(read_card(copy))  # no refusal
    # the planted differences are reported (a package installed while the suite runs would be listed too)
    assert {"left-behind 1.0 -> absent", f"numpy 0.0.1 -> {np.__version__}"} <= set(checked.packages)
    for field, words in (("mujoco", "MuJoCo 0.1 in the card"), ("trainer", "trainer 0.1 in the card")):
        changed = json.loads(json.dumps(manifest))
        changed["provenance"][field] = "0.1"
        (copy / "card.json").write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=words):
            check_card(read_card(copy))


def test_replay_seeds_are_fresh(written):
    card = read_card(written[1])
    assert replay_seeds(card, 3) == [4, 5, 6]
    card.data["replay"]["used_seeds"] = [1, 2, 3, 5]
    assert replay_seeds(card, 3) == [4, 6, 7]


def _measured(what: str, means: list[float], seed: int = 0, spread: float = 0.02) -> Measurement:
    rng = np.random.default_rng(seed)
    return Measurement(what, tuple(range(len(means))),
                       tuple(tuple(rng.normal(m, spread, 16).tolist()) for m in means), (2048,) * len(means), 0.9)


def test_the_rule_lets_seed_noise_pass_and_flags_a_real_difference():
    card = _measured("card", [0.20, 0.25])
    decided, found = verdict(card, _measured("replay", [0.17, 0.17], seed=1))  # inside two seeds' spread
    assert decided.reproduces and found[0].name == "task score" and found[0].half_width > 0.05
    for means in ([0.60, 0.62, 0.61], [0.02, 0.03, 0.02]):  # far above, far below
        decided, found = verdict(card, _measured("replay", means, seed=2))
        assert not decided.reproduces and "task score" in decided.reasons[0]
    # seeds that agree exactly still leave the episodes' noise as the spread
    tight = _measured("card", [0.95, 0.95], spread=0.01)
    assert verdict(tight, _measured("replay", [0.952, 0.949], seed=3, spread=0.01))[0].reproduces
    # the success rate is tested too: 0.95 vs 0.85 are 16/16 vs 0/16 successes at a threshold of 0.9
    decided, found = verdict(tight, _measured("replay", [0.85, 0.85, 0.85], seed=4, spread=0.01))
    assert not decided.reproduces and any("success rate" in r for r in decided.reasons)
    assert not verdict(_measured("card", [0.5]), _measured("replay", [0.5]))[0].reproduces  # 2 seeds in all
    assert not any(d.weak for d in verdict(card, _measured("replay", [0.17, 0.17], seed=1))[1])
    # one seed of three balances and two do not: the seeds' spread leaves the test little to say, and it says so
    decided, found = verdict(_measured("card", [0.33, 0.33]), _measured("replay", [0.25, 0.19, 1.0], seed=5))
    assert decided.reproduces and found[0].weak


def test_replay_of_a_claim_no_short_training_meets_does_not_reproduce(written, tmp_path):
    """The card claims task scores of ~0.95 after 2,048 steps; the reference reward gets nowhere near: exit 4."""
    copy = _copy(written[1], tmp_path)
    proc = _cli("replay", copy, "--seeds", "1", "--out", tmp_path / "out")
    assert proc.returncode == NOT_REPRODUCED, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert result["seeds"] == [4] and result["verdict"]["reproduces"] is False
    assert all(s["status"] == "ok" and s["steps"] == 2048 for s in result["trainings"]["seeds"])
    assert result["replayed"]["score"] < 0.5
    assert "verdict: does not reproduce: task score" in proc.stdout and "rule: reproduces when" in proc.stdout
    assert (tmp_path / "out" / "replay" / "seed_4" / "policy.npz").is_file()
    assert not (copy / "replay.json").exists()  # --out took it


INIT = '''SCALES = {"upright": 1.0, "centred": 0.5, "alive": 1.0, "still": -0.05, "effort": -0.01}


def reward_terms(s, action, xp):
    return {
        "upright": s["pole_upright"],
        "centred": xp.exp(-s["cart_x"] ** 2),
        "alive": xp.ones_like(s["cart_x"]),
        "still": s["pole_angular_velocity"] ** 2 + 0.1 * s["cart_velocity"] ** 2,
        "effort": xp.sum(action ** 2, axis=-1),
    }
'''


@pytest.mark.slow
def test_card_of_a_real_run_replays_and_reproduces(tmp_path):
    """A real cart-pole evolve (one reward that learns to balance at 32,768 steps: task scores 0.45 to 1.00 over
    seeds), its card, and a replay on two fresh seeds: the same reward, the same settings, a result inside the
    seeds' noise."""
    (tmp_path / "init.py").write_text(INIT)
    proc = _cli("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--init", tmp_path / "init.py",
                "--iterations", "1", "--samples", "1", "--train-steps", "32768", "--final-seeds", "2",
                "--race-seeds", "0", "--video", "--out", tmp_path / "runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    proc = _cli("export", run, "--card", "-o", tmp_path / "card")
    assert proc.returncode == 0, proc.stderr
    card = tmp_path / "card"
    assert {"video.mp4", "strip.png", "policy.npz", "curve.png", "README.md"} <= {p.name for p in card.iterdir()}
    measured = json.loads((card / "card.json").read_text())["measurement"]
    assert measured["seeds"] == [1, 2] and measured["score"] > 0.3  # it learned
    proc = _cli("replay", card, "--seeds", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((card / "replay.json").read_text())
    assert result["seeds"] == [3, 4] and result["verdict"]["reproduces"] is True
    assert result["replayed"]["score"] > 0.3 and "verdict: reproduces" in proc.stdout
