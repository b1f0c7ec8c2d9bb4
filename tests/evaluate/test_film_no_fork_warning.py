"""Filming starts ffmpeg without running Python's at-fork hooks: JAX, initialised in the parent by the trainer's
default (jax.default_backend()), warns "os.fork() was called ... will likely lead to a deadlock" from its hook."""

from __future__ import annotations

import subprocess
import sys


def test_evolve_with_videos_prints_no_fork_warning(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task", "balance",
         "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1", "--samples", "1", "--train-steps", "2048", "--video", "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = out.iterdir()
    video = run / "gen_00" / "cand_00" / "video.mp4"
    assert video.is_file() and video.stat().st_size > 1000, "the candidate was filmed (else the test proves nothing)"
    assert "os.fork()" not in proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
