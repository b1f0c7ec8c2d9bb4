"""The run store: records written with a schema version, runs written before records existed (schema 1, the
fixture tests/fixtures/run_v1 made by the previous main) load and resume, and a future schema is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.records import SCHEMA_VERSION, Candidate, Status
from rewardsmith.runs.store import RunStore, StoreError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_v1"


def test_records_round_trip_with_a_schema_version(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    cand, broken = evaluated(0, 1, 0.5), failed(0, 2)
    store.save_candidate(cand)
    store.save_candidate(broken)
    data = json.loads((store.cand_dir(0, 1) / "candidate.json").read_text())
    assert data["schema"] == SCHEMA_VERSION and data["status"] == "evaluated"
    assert store.load_candidate(0, 1) == cand and store.load_candidate(0, 2) == broken
    assert store.candidates(0) == [cand, broken] and store.find_candidate("g0c02") == broken
    assert json.loads((store.root / "config.json").read_text())["schema"] == SCHEMA_VERSION
    assert store.config() == RunConfig(env="cartpole", task="balance")
    with pytest.raises(StoreError, match="unknown candidate 'g0c07'; candidates of this run: g0c01, g0c02"):
        store.find_candidate("g0c07")


def test_a_nan_fitness_is_stored_as_null_and_never_scores(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    store.save_candidate(evaluated(0, 0, float("nan")))
    loaded = store.load_candidate(0, 0)
    assert loaded.evaluation.fitness_mean is None and loaded.fitness is None
    assert '"fitness_mean": null' in (store.cand_dir(0, 0) / "candidate.json").read_text()


def test_a_run_from_before_the_records_loads(tmp_path):
    store = RunStore.open(FIXTURE)
    cfg = store.config()
    assert (cfg.env, cfg.task, cfg.iterations, cfg.samples, cfg.executor) == ("cartpole", "balance", 2, 2, "local")
    cands = store.candidates(0)
    assert [c.id for c in cands] == ["g0c00", "g0c01"] and all(c.status is Status.EVALUATED for c in cands)
    assert all(c.train.curve and c.evaluation.terms for c in cands)
    selection = store.load_selection(0)
    assert selection.best == "g0c01" and selection.ranking == ("g0c01", "g0c00")
    assert selection.fitness["g0c01"] == cands[1].fitness


def test_a_run_from_before_the_records_resumes(tmp_path):
    """The fixture stopped after generation 0 of 2; resuming with this code runs generation 1 and finishes,
    without retraining generation 0."""
    run = tmp_path / "run_v1"
    shutil.copytree(FIXTURE, run)
    before = {p: p.stat().st_mtime_ns for p in run.glob("gen_00/cand_*/work/policy.npz")}
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in before} == before, "generation 0 was retrained"
    store = RunStore.open(run)
    assert store.generations() == [0, 1]
    gen1 = store.candidates(1)
    assert len(gen1) == 2 and all(c.status is Status.EVALUATED for c in gen1)
    assert all(json.loads((store.cand_dir(1, c.index) / "candidate.json").read_text())["schema"] == SCHEMA_VERSION
               for c in gen1)
    result = store.load_result()
    assert result["best"] in {"g0c00", "g0c01", "g1c00", "g1c01"} and result["generations"] == 2


@pytest.mark.parametrize("where", ["config.json", "gen_00/cand_00/candidate.json", "gen_00/selection.json"])
def test_a_run_from_a_future_schema_is_refused_in_one_line(tmp_path, where):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    path = run / where
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema": SCHEMA_VERSION + 1}))
    snapshot = sorted(p.relative_to(run) for p in run.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"schema version {SCHEMA_VERSION + 1}" in lines[0], proc.stderr
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == snapshot  # nothing written


def test_candidate_ids_name_generation_and_index():
    assert Candidate.make_id(3, 7) == "g3c07"


def test_every_json_file_a_run_writes_carries_the_schema(tmp_path):
    """An LLM-free run end to end: every JSON file it leaves (config, rounds, candidates, selection, result) is a
    record stamped with the schema version."""
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task",
                           "balance", "--llm-free", "--iterations", "1", "--samples", "2", "--train-steps", "2048",
                           "--no-video", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run,) = out.iterdir()
    sandboxed = ("work", "check")  # a sandboxed job's own files (job.json, result.json), and a seed's workdir
    records = [p for p in run.rglob("*.json")
               if p.parent.name not in sandboxed and not p.parent.name.startswith("seed_")]
    assert {p.name for p in records} >= {"config.json", "round_0.json", "candidate.json", "selection.json",
                                         "result.json"}
    for path in records:
        assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION, path


def test_where_a_candidate_ran_is_read_from_its_placement(tmp_path):
    import json

    from rewardsmith.runs.show import ran_on

    assert ran_on(tmp_path) is None  # nothing recorded (one training at a time on this machine)
    (tmp_path / "placement.json").write_text(json.dumps({"attempts": [
        {"attempt": 1, "host": "box", "cpus": [2, 3], "gpu": "1", "outcome": "ok"}]}))
    assert ran_on(tmp_path) == "box, CPUs 2,3, GPU 1"
    (tmp_path / "placement.json").write_text(json.dumps({"attempts": [
        {"attempt": 1, "node": "3a5e8214284b", "ip": "10.0.0.7", "outcome": "worker lost: NodeDiedError"},
        {"attempt": 2, "node": "77aa01bc9d2e", "ip": "10.0.0.8", "outcome": "ok"}]}))
    assert ran_on(tmp_path) == "node 77aa01bc9d2e (10.0.0.8), attempt 2"
    (tmp_path / "placement.json").write_text("{not json")
    assert ran_on(tmp_path) is None


V2_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_v2"  # a synthetic-feedback run, schema 2


def test_a_run_written_by_the_previous_main_loads_exports_and_resumes(tmp_path):
    """tests/fixtures/run_v2 was written by the main before the house-in-floors restructuring (schema 2: decided_by
    as words); it still loads, exports and resumes, and what the resume writes is schema 3."""
    import dataclasses

    from rewardsmith.evolve import evolve
    from rewardsmith.exports import export_reward
    from rewardsmith.records import DecidedBy, Decider

    run = tmp_path / "run"
    shutil.copytree(V2_FIXTURE, run)
    store = RunStore.open(run)
    old = store.load_selection(0)
    assert old is not None and old.decided_by == DecidedBy(Decider.SYNTHETIC,
                                                            legacy="the synthetic ranker (task score)")
    assert old.decided_by_text == "the synthetic ranker (task score)"
    assert export_reward(store, None, tmp_path / "reward.py", fmt="numpy").is_file()
    result = evolve(store, dataclasses.replace(store.config(), iterations=2))
    assert result.generations == 2 and store.load_selection(1) is not None
    written = json.loads((run / "gen_01" / "selection.json").read_text())
    assert written["schema"] == SCHEMA_VERSION == 3 and written["decided_by"]["who"] == "synthetic"
    assert json.loads((run / "gen_00" / "selection.json").read_text())["schema"] == 2  # what was there stays


@pytest.mark.parametrize("mode, words, who, several, kept", [
    ("metrics", "the task score", "score", False, None),
    ("human", "reviewer ana", "people", False, None),
    ("human", "2 reviewers (ana, bo; all 2 reviewers ranked)", "people", True, None),
    ("hybrid", "reviewer ana confirmed the judge's order", "people", False, True),
    ("hybrid", "reviewer ana changed the judge's order", "people", False, False),
    ("hybrid", "the judge (openai/x): confident, its two looks agree; no reviewer by the 60 s deadline", "judge",
     False, None),
    ("judge", "the judge (openai/x)", "judge", False, None),
    ("judge", "nobody: fewer than two evaluated candidates", "nobody", False, None),
])
def test_schema_2_words_read_into_who_decided(mode, words, who, several, kept):
    from rewardsmith.records import DecidedBy

    decided = DecidedBy.from_legacy(mode, words)
    assert decided is not None and decided.who.value == who and decided.several == several
    assert decided.kept_judge_order is kept and decided.describe() == words
    assert DecidedBy.from_legacy("human", "") is None  # runs from before issue 16 recorded nobody


def test_a_film_says_which_episodes_it_shows_and_an_older_film_still_loads(tmp_path):
    from rewardsmith.records import Film, FilmedEpisode

    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    shown = FilmedEpisode(video="video.mp4", role="representative", episode=6, episodes=16, score=0.93, steps=500,
                          ended_early=False, success=True, frames=251)
    low = FilmedEpisode(video="worst.mp4", role="worst", episode=2, episodes=16, score=None, steps=60,
                        ended_early=True, success=None, frames=31)
    film = Film(video="video.mp4", strip="strip.png", seconds=1.5, episodes=(shown, low), spread="why")
    store.save_candidate(evaluated(0, 0, 0.5).replace(film=film))
    loaded = store.load_candidate(0, 0).film
    assert loaded == film and loaded.representative == shown and loaded.worst == low

    older = json.loads((store.cand_dir(0, 0) / "candidate.json").read_text())
    older["schema"] = 2  # a film as schema 2 wrote it: its video shows evaluation episode 0, nobody said which
    older["film"] = {"video": "video.mp4", "strip": "strip.png", "seconds": 2.0, "reason": None}
    (store.cand_dir(0, 0) / "candidate.json").write_text(json.dumps(older))
    loaded = store.load_candidate(0, 0).film
    assert loaded == Film(video="video.mp4", strip="strip.png", seconds=2.0)
    assert loaded.episodes == () and loaded.representative is None and loaded.worst is None
