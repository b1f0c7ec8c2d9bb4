"""Bad input: one clear line, exit code 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _evolve(*args, out, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDSMITH_MODEL")}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", *args, "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "nope", "--task", "balance", "--llm-free"], "unknown env 'nope'; valid envs: "),
        (["--env", "cartpole", "--task", "kneel", "--llm-free"], "unknown task 'kneel' for env 'cartpole'; valid tasks: balance"),
        (["--env", "cartpole", "--task", "  ", "--llm-free"], "task is empty"),
        (["--env", "cartpole", "--task", "balance", "--llm-free", "--samples", "0"], "--samples must be a positive integer"),
        (["--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "-1"], "--iterations must be a positive integer"),
        (["--env", "cartpole", "--task", "balance", "--llm-free", "--train-steps", "0"], "--train-steps must be a positive integer"),
        (["--env", "cartpole", "--task", "balance"], "no LLM configured"),
        (["--env", "cartpole", "--task", "balance", "--llm-free", "--model", "openai/x"], "cannot be combined"),
        (["--env", "cartpole", "--task", "balance", "--llm-free", "--feedback", "vibes"], "unknown --feedback 'vibes'; valid: metrics, synthetic, human, judge"),
            (["--env", "cartpole", "--task", "balance", "--llm-free", "--trainer", "nope"], "unknown --trainer 'nope'; valid: native, mjx"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, message):
    out = tmp_path / "runs"
    proc = _evolve(*args, out=out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_unknown_env_lists_every_registered_env(tmp_path):
    from rewardsmith.env.registry import env_names

    proc = _evolve("--env", "nope", "--task", "x", "--llm-free", out=tmp_path / "runs")
    for name in env_names():
        assert name in proc.stderr


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = _evolve("--env", "cartpole", "--task", "balance", "--llm-free", out=blocker / "runs")
    assert proc.returncode == 2 and "is a file, not a directory" in proc.stderr
    assert blocker.read_text() == "not a directory"


def test_resume_of_a_path_that_is_not_a_run(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is not a rewardsmith run" in proc.stderr


def test_show_and_export_of_a_path_that_is_not_a_run(tmp_path):
    for args in (["show", str(tmp_path)], ["export", str(tmp_path), "-o", str(tmp_path / "r.py")]):
        proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 2 and "is not a rewardsmith run" in proc.stderr
    assert not (tmp_path / "r.py").exists()


# A bug (not bad input) hours into a run: the train stage raises a ValueError after the generation was sampled and
# checked. The CLI must not print it as a one-line "bad input" with exit 2.
BUGGY_EVOLVE = """
import sys

import rewardsmith.evolve


def train_all(ctx, candidates, executor):
    raise ValueError("a bug in the train stage, injected by the test")


rewardsmith.evolve.train_all = train_all
from rewardsmith.cli.app import app

sys.argv[0] = "rewardsmith"
app()
"""


def test_a_bug_mid_run_keeps_its_traceback_and_says_how_to_resume(tmp_path):
    out = tmp_path / "runs"
    args = ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "1", "--samples", "2",
            "--train-steps", "2048", "--no-video", "--final-seeds", "0", "--race-seeds", "0", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", BUGGY_EVOLVE, *args], capture_output=True, text=True, timeout=300)
    print(proc.stderr[-3000:])  # the test's output shows what a user sees
    assert proc.returncode not in (0, 2), proc.stderr
    assert "Traceback" in proc.stderr and "ValueError: a bug in the train stage, injected by the test" in proc.stderr
    assert "error: a bug" not in proc.stderr  # never worded as bad input
    (run,) = out.iterdir()
    assert f"rewardsmith evolve --resume {run} continues it" in proc.stderr
    assert [p.name for p in sorted(run.glob("gen_00/cand_*"))] == ["cand_00", "cand_01"]  # sampled and checked
    resumed = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run)],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "best: g0c0" in resumed.stdout, resumed.stderr[-2000:]  # the line is true
