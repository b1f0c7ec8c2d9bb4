"""End to end: `rewardsmith evolve` through the real litellm path to a scripted fake server, then `export`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import GOOD
from fake_llm import FakeLLM

from rewardsmith.env.registry import get_env
from rewardsmith.env.sim import NativeBatch

VARIANT = GOOD.replace('"centred": 0.2', '"centred": 0.5').replace('"alive": 0.5', '"alive": 1.0')
TWO_BLOCKS = '''First the weights:
```python
SCALES = {"upright": 1.0, "still": 0.1}
```
and the terms:
```python
def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"], "still": -xp.abs(s["pole_angular_velocity"])}
```'''
SYNTAX_ERROR = '```python\nSCALES = {"up": 1.0}\ndef reward_terms(s, action, xp)\n    return {"up": s["pole_upright"]}\n```'
WRONG_SHAPE = '''The tip height matters most.
```python
SCALES = {"tip": 1.0}

def reward_terms(s, action, xp):
    return {"tip": s["tip_pos"]}
```'''
PYTHON_IF = '''```python
SCALES = {"up": 1.0}

def reward_terms(s, action, xp):
    if s["pole_upright"] > 0.9:
        bonus = 1.0
    else:
        bonus = 0.0
    return {"up": s["pole_upright"] + bonus}
```'''

SCRIPT = [
    # generation 0, round 1 (n=3): prose + code, two blocks, no code
    f"I reward an upright pole, a centred cart and survival.\n\n```python\n{GOOD}```\nThat should balance.",
    TWO_BLOCKS,
    "To balance the pole, reward it for being upright and penalize the cart for drifting.",
    # round 2 (one more needed): a syntax error; round 3: a term of the wrong shape
    SYNTAX_ERROR,
    WRONG_SHAPE,
    # generation 1, round 1 (n=3): Python `if` on an array, and two good programs; round 2: one more good one.
    # The slow answer leaves generation 0's filming (which runs aside) time to overlap the call visibly.
    {"delay_s": 3, "content": PYTHON_IF},
    f"```python\n{VARIANT}```",
    f"Keep it simple:\n```python\n{GOOD}```",
    f"```python\n{GOOD.replace('0.2', '0.3')}```",
]


def _rewardsmith(*args, env=None, timeout=900):
    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    with FakeLLM(SCRIPT) as fake:
        proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--model", "openai/fake", "--final-seeds", "0", "--race-seeds", "0",
                            "--api-base", fake.base_url, "--iterations", "2", "--samples", "3",
                            "--train-steps", "8192", "--no-halving", "--out", str(out),
                            env={"OPENAI_API_KEY": "sk-e2e-SECRET-never-logged"})
        requests = list(fake.requests)
        arrivals = list(fake.arrivals)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = out.iterdir()
    return run_dir, proc, requests, arrivals


def _candidates(run_dir: Path, gen: int) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / f"gen_{gen:02d}").glob("cand_*/candidate.json"))]


def test_run_directory_holds_every_stage(llm_run):
    run_dir, _, _, _ = llm_run
    assert json.loads((run_dir / "config.json").read_text())["models"] == ["openai/fake"]
    for gen in (0, 1):
        gen_dir = run_dir / f"gen_{gen:02d}"
        assert json.loads((gen_dir / "messages.json").read_text())["messages"][0]["role"] == "system"
        assert list((gen_dir / "llm").glob("*.json")), "every LLM request is logged"
        selection = json.loads((gen_dir / "selection.json").read_text())
        assert selection["best"] in selection["ranking"]
        for cand in _candidates(run_dir, gen):
            cand_dir = gen_dir / f"cand_{cand['index']:02d}"
            assert (cand_dir / "response.md").is_file()
            if cand["status"] == "evaluated":
                assert (cand_dir / "reward.py").read_text() == cand["source"]
                assert len(cand["train"]["curve"]) >= 2
                assert set(cand["evaluation"]["terms"]) == set(cand["scales"])
                assert np.isfinite(cand["evaluation"]["fitness_mean"])
                assert (cand_dir / "work" / "policy.npz").is_file()
    assert json.loads((run_dir / "result.json").read_text())["best"]


def test_filming_runs_alongside_the_next_generations_llm_call(llm_run):
    """The metrics ranker needs no video: generation 0 is filmed while generation 1's prompt is already out."""
    run_dir, _, requests, arrivals = llm_run
    assert len(requests) == 5  # generation 0 asks in rounds of 3, 1 and 1 choices, generation 1 of 3 and 1
    gen1_call = arrivals[3]
    videos = [run_dir / "gen_00" / f"cand_{c['index']:02d}" / "video.mp4"
              for c in _candidates(run_dir, 0) if c["status"] == "evaluated"]
    assert len(videos) == 2 and all(v.stat().st_size > 1000 for v in videos)
    assert max(v.stat().st_mtime for v in videos) > gen1_call, "the last video was done before the next LLM call"
    # and every evaluated candidate carries its Film record, written by the filming thread
    assert all(c["film"]["video"] == "video.mp4" for c in _candidates(run_dir, 0) if c["status"] == "evaluated")


def test_candidate_ids_are_stable_and_failures_carry_reasons(llm_run):
    run_dir, _, _, _ = llm_run
    gen0 = {c["id"]: c for c in _candidates(run_dir, 0)}
    assert list(gen0) == ["g0c00", "g0c01", "g0c02", "g0c03", "g0c04"]
    assert [gen0[i]["status"] for i in gen0] == ["evaluated", "evaluated", "extract_failed", "extract_failed",
                                                 "check_failed"]
    assert "no fenced code block" in gen0["g0c02"]["reason"]
    assert "syntax error" in gen0["g0c03"]["reason"]
    assert "tip" in gen0["g0c04"]["reason"] and "shape" in gen0["g0c04"]["reason"]
    gen1 = {c["id"]: c for c in _candidates(run_dir, 1)}
    assert gen1["g1c00"]["status"] == "check_failed" and "if" in gen1["g1c00"]["reason"]
    assert sum(c["status"] == "evaluated" for c in gen1.values()) == 3


def test_second_prompt_carries_errors_and_reflection(llm_run):
    run_dir, _, requests, _ = llm_run
    prompt = json.loads((run_dir / "gen_01" / "messages.json").read_text())["messages"][1]["content"]
    gen0 = {c["id"]: c for c in _candidates(run_dir, 0)}
    for cid in ("g0c02", "g0c03", "g0c04"):
        assert gen0[cid]["reason"] in prompt
    assert "Task score of the trained policy" in prompt
    assert "upright (scale" in prompt or "still (scale" in prompt
    # the prompt the fake server received for generation 1 is the stored one
    assert any(r["messages"][1]["content"] == prompt for r in requests)
    assert requests[0]["n"] == 3


def test_secret_never_reaches_the_run_directory(llm_run):
    run_dir, _, _, _ = llm_run
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".py", ".txt", ".log"):
            assert "sk-e2e-SECRET" not in path.read_text(errors="replace"), path


def test_show_lists_candidates_and_reasons(llm_run):
    run_dir, _, _, _ = llm_run
    proc = _rewardsmith("show", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    assert "g0c03" in proc.stdout and "extract_failed" in proc.stdout and "evaluated" in proc.stdout


def test_export_is_standalone_and_computes_the_same_reward(llm_run, tmp_path):
    run_dir, _, _, _ = llm_run
    target = tmp_path / "exported_reward.py"
    proc = _rewardsmith("export", str(run_dir), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    best_id = json.loads((run_dir / "result.json").read_text())["best"]
    gen, index = int(best_id[1]), int(best_id[3:])
    source = (run_dir / f"gen_{gen:02d}" / f"cand_{index:02d}" / "reward.py").read_text()

    # states from a real rollout, saved for the child that imports the export with rewardsmith blocked
    env = get_env("cartpole")
    sim = NativeBatch(env, "balance", 8, seed=3)
    for _ in range(20):
        sim.step(np.random.default_rng(0).uniform(-1, 1, (8, 1)))
    raw = sim.raw()
    s = env.state_view(raw.qpos, raw.qvel, sim.sensors(), np)
    action = np.full((8, 1), 0.3)
    np.savez(tmp_path / "states.npz", action=action, **s)
    child = (
        "import sys, numpy as np; sys.modules['rewardsmith'] = None\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import exported_reward as m\n"
        f"d = dict(np.load({str(tmp_path / 'states.npz')!r}))\n"
        "a = d.pop('action'); total, terms = m.reward(d, a, np)\n"
        f"np.save({str(tmp_path / 'total.npy')!r}, total)\n"
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    namespace = {}
    exec(compile(source, "reward.py", "exec"), namespace)  # trusted here: the test wrote these programs
    terms = namespace["reward_terms"](s, action, np)
    expected = sum(scale * terms[k] for k, scale in namespace["SCALES"].items())
    np.testing.assert_allclose(np.load(tmp_path / "total.npy"), expected)


def test_resume_films_what_a_killed_run_left_unfilmed(llm_run, tmp_path):
    """A run killed while generation 0 was being filmed aside: the resumed run films the rest, trains nothing."""
    run_dir, _, _, _ = llm_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    cand_dir = copy / "gen_00" / "cand_00"
    (cand_dir / "video.mp4").unlink()
    (cand_dir / "strip.png").unlink()
    record = json.loads((cand_dir / "candidate.json").read_text())
    record["film"] = None
    (cand_dir / "candidate.json").write_text(json.dumps(record))
    policy_mtime = (cand_dir / "work" / "policy.npz").stat().st_mtime_ns
    proc = _rewardsmith("evolve", "--resume", str(copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (cand_dir / "video.mp4").stat().st_size > 1000 and (cand_dir / "strip.png").is_file()
    assert json.loads((cand_dir / "candidate.json").read_text())["film"]["video"] == "video.mp4"
    assert (cand_dir / "work" / "policy.npz").stat().st_mtime_ns == policy_mtime, "nothing was retrained"
