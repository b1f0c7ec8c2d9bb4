"""Pre-flight and exit codes (issue 25): a run checks what it needs from this machine before anything is written,
`--dry-run` shows the first prompt and the cost and sends nothing, and the exit code tells the truth: 1 when no
candidate was evaluated, 130 with the --resume line on Ctrl-C, 2 for a review port that is taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import FakeLLM

from rewardsmith.cli.app import app

EVOLVE = ["evolve", "--env", "cartpole", "--task", "balance", "--trainer", "native", "--iterations", "1",
          "--samples", "1", "--final-seeds", "0", "--race-seeds", "0", "--no-video", "--train-steps", "2048"]


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(args, prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDSMITH_MODEL", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_dry_run_prints_the_first_prompt_and_the_cost_and_sends_nothing(tmp_path, capsys):
    with FakeLLM() as fake:
        code, out, err = _run([*EVOLVE, "--model", "openai/gpt-4o-mini", "--api-base", fake.base_url, "--iterations",
                               "2", "--samples", "3", "--dry-run"], capsys)
        assert fake.requests == [] and fake.gets == []  # not even the reachability probe
    assert code == 0, err
    assert "--- system ---" in out and "--- user ---" in out and "pole" in out  # the prompt itself
    tokens = int(out.split("first prompt: ")[1].split(" tokens")[0].replace(",", ""))
    assert 500 < tokens < 20_000
    line = next(line for line in out.splitlines() if line.startswith("LLM openai/gpt-4o-mini:"))
    assert "2 request(s)" in line and "~9,000 output tokens" in line and "$" in line  # 2 x 3 programs x 1,500
    assert "estimated for 2 generation(s) x 3 program(s): about $" in out
    assert list(tmp_path.iterdir()) == []  # nothing written (no runs/)


def test_dry_run_says_unknown_for_a_model_without_a_price(tmp_path, capsys):
    code, out, err = _run([*EVOLVE, "--model", "openai/my-local-model", "--api-base", "http://127.0.0.1:9/v1",
                           "--dry-run"], capsys)
    assert code == 0, err
    assert "cost: unknown (litellm has no price for it)" in out and list(tmp_path.iterdir()) == []


def test_a_reachable_server_is_probed_once_without_a_completion(capsys):
    """Any HTTP answer counts as reachable (the fake has no model list: 404); the probe is a GET, not a request."""
    with FakeLLM(["no code here, sorry"]) as fake:
        code, out, err = _run([*EVOLVE, "--api-base", fake.base_url, "--model", "openai/m"], capsys)
        assert fake.gets == ["/v1/models"]
    # every program failed before training: a run that evaluated nothing is a failed run
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("error: no candidate was evaluated (")
    assert "at the extract stage" in err and "see rewardsmith show runs/" in err
    assert "export with" not in out


def test_a_taken_review_port_is_refused_before_anything_is_written(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _run([*EVOLVE, "--llm-free", "--feedback", "human", "--review-port", str(port)], capsys)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "--review-port 0" in err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_says_where_the_run_is_and_how_to_resume_it(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", *EVOLVE, "--llm-free", "--train-steps",
                             "2000000", "--out", str(tmp_path / "runs")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    try:
        for line in proc.stdout:  # the run exists once this line is printed
            seen.append(line)
            if line.startswith("run: "):
                break
        assert proc.poll() is None, "evolve ended before it was interrupted; it printed:\n" + "".join(seen)
        assert not _sigint_blocked_or_ignored(proc.pid), "the child was started with SIGINT blocked or ignored"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    (run,) = (tmp_path / "runs").iterdir()
    assert proc.returncode == 130, err
    assert f"interrupted; what it saved stays valid: rewardsmith evolve --resume {run} continues it" in err
    assert "Traceback" not in err


def _sigint_blocked_or_ignored(pid: int) -> bool:
    """Whether a process would never see Ctrl-C: its SIGINT bit in the blocked or ignored masks of /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    bit = 1 << (signal.SIGINT - 1)
    return any(int(status[mask].strip(), 16) & bit for mask in ("SigBlk", "SigIgn"))
