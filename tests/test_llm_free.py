"""The LLM-free mode end to end, and resuming an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# racing and films off: what these tests check depends on neither (with one seed every pick would race)
ARGS = ["--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "2", "--samples", "2",
        "--train-steps", "6144", "--seed", "1", "--race-seeds", "0", "--no-video"]


def _start(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    return subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _candidates(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("gen_*/cand_*/candidate.json"))]


def test_llm_free_run_searches_scales_and_reports_fitness(tmp_path):
    proc = _start(*ARGS, "--final-seeds", "1", "--out", str(tmp_path))
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stdout + stderr
    (run_dir,) = tmp_path.iterdir()
    cands = _candidates(run_dir)
    assert len(cands) == 4 and all(c["status"] == "evaluated" for c in cands)
    # the reference competes in generation 0; every other candidate is a real mutation of a parent's scales
    reference = cands[0]["scales"]
    assert all(c["scales"] != reference for c in cands[1:])
    gen1_parent = json.loads((run_dir / "gen_00" / "selection.json").read_text())["best_overall"]
    parent_scales = next(c["scales"] for c in cands if c["id"] == gen1_parent)
    for cand in cands[2:]:
        assert set(cand["scales"]) == set(parent_scales) and cand["scales"] != parent_scales
    fitness = [c["evaluation"]["fitness_mean"] for c in cands]
    assert len(set(fitness)) > 1, "different scales must train different policies"
    result = json.loads((run_dir / "result.json").read_text())
    # successive halving is on by default: the answer is one that trained its full budget
    full_budget = {c["id"] for c in cands if c["stop"] != "halving"}
    assert len(full_budget) < len(cands) and result["search_best"] in full_budget
    # the search's best and its contenders retrained from scratch on a fresh seed decide the answer
    assert result["search_best"] in result["confirmed"] and result["best"] in result["confirmed"]
    (final_seed,) = result["final"]["seeds"]  # the answer's own retraining (Eureka's final evaluation)
    assert final_seed["status"] == "ok" and final_seed["seed"] == 2 and final_seed["fitness"] is not None
    assert result["fitness"] == final_seed["fitness"]  # the answer's score is its confirmation's
    assert result["choice"]["statement"].startswith(f"best {result['best']}: ")
    assert "generation 2/2" in stdout and "task score" in stdout


def test_resume_after_interruption_redoes_nothing_finished(tmp_path):
    proc = _start(*ARGS, "--final-seeds", "0", "--out", str(tmp_path))
    deadline = time.monotonic() + 600
    run_dir = None
    while time.monotonic() < deadline:  # wait until the first candidate is fully evaluated, then interrupt
        assert proc.poll() is None, "evolve ended before it was interrupted: " + "".join(proc.communicate())[-2000:]
        runs = list(tmp_path.iterdir())
        if runs and any(c["status"] == "evaluated" for c in _candidates(runs[0])):
            run_dir = runs[0]
            break
        time.sleep(0.5)
    assert run_dir is not None, "no candidate finished in time"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    finished = {c["id"]: c for c in _candidates(run_dir) if c["status"] == "evaluated"}
    # the training's products: a finished candidate keeps them (its record may still gain a film on resume)
    products = ("work/policy.npz", "work/trace.npz")
    stamps = {(cid, name): (run_dir / "gen_00" / f"cand_{int(cid[3:]):02d}" / name).stat().st_mtime_ns
              for cid in finished for name in products}

    resumed = _start("--resume", str(run_dir))
    stdout, stderr = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, stdout + stderr
    cands = {c["id"]: c for c in _candidates(run_dir)}
    assert len(cands) == 4 and all(c["status"] == "evaluated" for c in cands.values())
    for (cid, name), stamp in stamps.items():
        path = run_dir / "gen_00" / f"cand_{int(cid[3:]):02d}" / name
        assert path.stat().st_mtime_ns == stamp, f"{cid} was retrained ({name} rewritten)"
        assert cands[cid]["evaluation"] == finished[cid]["evaluation"]
        assert cands[cid]["train"] == finished[cid]["train"]
    assert (run_dir / "result.json").is_file()


def _workers_of(run_root: Path, job_dir: str = "") -> list[int]:
    """Pids of sandbox workers whose job lies under run_root (and in a `job_dir` folder), read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "rewardsmith.sandbox.worker" in cmdline and str(run_root) in cmdline and f"/{job_dir}" in cmdline:
            pids.append(int(entry.name))
    return pids


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_stopping_evolve_leaves_no_worker_running(tmp_path, stop):
    """SIGTERM ends evolve through its cleanup (which kills the sandbox's process group); even SIGKILL, which
    allows no cleanup, takes the worker down with it (the kernel's parent-death signal)."""
    long_training = ["--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "1", "--samples", "1",
                     "--train-steps", "50000000", "--no-video"]  # the worker would train for many minutes
    proc = _start(*long_training, "--out", str(tmp_path))
    try:
        assert _wait_for(lambda: _workers_of(tmp_path, "work/"), 300), "no training worker started"
        time.sleep(1.0)  # let it settle into training
        getattr(proc, stop)()
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert _wait_for(lambda: not _workers_of(tmp_path), 10), f"workers left running: {_workers_of(tmp_path)}"
    finally:
        proc.kill()
        for pid in _workers_of(tmp_path):
            os.kill(pid, signal.SIGKILL)
