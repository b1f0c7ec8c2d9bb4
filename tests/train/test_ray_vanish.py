"""A Ray cluster that vanishes mid-run: the driver stops the run in one line within seconds (not after Ray's own
client gives up a minute later and ends the process with exit 1), and `--resume` against a new cluster finishes
only what was left. Slow (two clusters, ~40 s idle, ~100 s on a loaded 2-core machine): `pytest -m slow
tests/train/test_ray_vanish.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from rewardsmith.execute.ray_cluster import RAY_ENV, LocalCluster, sandbox_workers_under


@pytest.mark.slow
def test_a_vanished_cluster_stops_the_run_in_one_line_and_resume_finishes_it_on_another(tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    args = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0",
            "--iterations", "1", "--samples", "2", "--train-steps", "2048", "--seed", "1", "--no-video",
            "--no-halving", "--out", str(out), "--executor", "ray"]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")} | RAY_ENV
    cluster = LocalCluster(nodes=1, cpus=1).start()
    try:
        proc = subprocess.Popen([*args, "--ray-address", cluster.address], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 300
        while not sandbox_workers_under({p.pid for p in cluster.procs}):
            assert proc.poll() is None and time.monotonic() < deadline, "no training started on the cluster"
            time.sleep(0.2)
    finally:
        cluster.stop()  # the whole cluster goes, mid-training
    gone = time.monotonic()
    stdout, stderr = proc.communicate(timeout=120)
    stopped_after = time.monotonic() - gone
    (run,) = out.iterdir()
    assert proc.returncode == 3, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped: lost the Ray cluster at "), stderr
    assert lines[0].endswith(f"Continue with: rewardsmith evolve --resume {run}")
    assert stopped_after < 30, f"the driver noticed after {stopped_after:.0f} s"
    statuses = [json.loads(p.read_text())["status"] for p in sorted(run.glob("gen_00/cand_*/candidate.json"))]
    assert statuses == ["checked", "checked"]  # nothing half-recorded

    with LocalCluster(nodes=1, cpus=1) as again:
        resumed = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run),
                                  "--ray-address", again.address], capture_output=True, text=True, env=env,
                                 timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    statuses = [json.loads(p.read_text())["status"] for p in sorted(run.glob("gen_00/cand_*/candidate.json"))]
    assert statuses == ["evaluated", "evaluated"]
    placements = [json.loads(p.read_text())["attempts"] for p in sorted(run.glob("gen_00/cand_*/work/placement.json"))]
    assert len(placements) == 2 and all(a[-1]["outcome"] == "ok" for a in placements)
