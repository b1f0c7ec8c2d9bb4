"""kill -9 of `evolve` (the parent only) while it samples, checks, trains, films and waits for a ranking; each
time `--resume` goes on, no candidate that had finished changes, and no sandbox worker or encoder outlives its
parent. The moments are found from what the run shows (the fake server's requests, job and temporary files,
progress lines), not from timings. Slow (six starts of evolve, two trainings, two films: ~1 min on idle cores,
2 min on busy ones): `.venv/bin/python -m pytest -m slow tests/test_kill_resume.py`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from builders import GOOD
from fake_llm import FakeLLM

PROGRAM = f"```python\n{GOOD}```"
DEADLINE_S = 300  # generous: a loaded 2-core machine; the test never asserts on time


class Evolve:
    """A running `rewardsmith evolve` whose stdout lines are collected as they come."""

    def __init__(self, *args: str):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
        self.proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, what: str, ready) -> None:
        end = time.monotonic() + DEADLINE_S
        while not ready():
            assert self.proc.poll() is None, f"evolve ended before {what}:\n{''.join(self.lines)}"
            assert time.monotonic() < end, f"no {what} within {DEADLINE_S} s:\n{''.join(self.lines)}"
            time.sleep(0.01)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)  # the parent only; its sandboxed children must follow by themselves
        self.proc.wait()
        self._reader.join(timeout=30)


def processes_of(run: Path) -> list[str]:
    """Command lines of live processes that work in the run directory (sandbox workers, ffmpeg)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(run) in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def assert_nothing_survives(run: Path) -> None:
    end = time.monotonic() + 60  # PR_SET_PDEATHSIG and a closed pipe act at once; exit takes a moment
    while processes_of(run) and time.monotonic() < end:
        time.sleep(0.05)
    assert not processes_of(run), processes_of(run)


def finished(run: Path) -> dict[str, dict]:
    """Every candidate that had finished (evaluated or failed), without its film (filmed later, by design)."""
    out = {}
    for path in run.glob("gen_*/cand_*/candidate.json"):
        record = json.loads(path.read_text())
        if record["status"] not in ("pending", "checked"):
            record.pop("film", None)
            out[record["id"]] = record
    return out


@pytest.mark.slow
def test_kill_9_at_each_stage_then_resume_loses_nothing(tmp_path):
    out = tmp_path / "runs"
    run_dir = lambda: next(out.iterdir()) if out.is_dir() and any(out.iterdir()) else None  # noqa: E731
    seen: dict[str, dict] = {}

    def check_and_remember(run: Path) -> None:
        assert_nothing_survives(run)
        now = finished(run)
        for cid, record in seen.items():
            assert now[cid] == record, f"{cid} changed after a kill and resume"
        seen.update(now)

    # the first request hangs: the run is killed while it waits for the LLM
    with FakeLLM([{"delay_s": 600, "content": PROGRAM}, PROGRAM], default=lambda request: PROGRAM) as fake:
        evolve = Evolve("--env", "cartpole", "--task", "balance", "--final-seeds", "0", "--race-seeds", "0", "--model", "openai/fake", "--api-base",
                        fake.base_url, "--iterations", "1", "--samples", "2", "--train-steps", "2048", "--video",
                        "--feedback", "human", "--review-port", "0", "--out", str(out))
        evolve.wait_for("an LLM request", lambda: len(fake.requests) == 1)
        evolve.kill()
        run = run_dir()
        check_and_remember(run)
        resume = ["--resume", str(run), "--review-port", "0"]

        evolve = Evolve(*resume)  # sampling again (nothing was paid for), then checking
        evolve.wait_for("a check", lambda: (run / "gen_00" / "cand_00" / "check" / "job.json").is_file())
        evolve.kill()
        check_and_remember(run)

        evolve = Evolve(*resume)
        evolve.wait_for("training", lambda: any(" steps  return " in line for line in evolve.lines))
        evolve.kill()
        check_and_remember(run)

        evolve = Evolve(*resume)
        evolve.wait_for("filming", lambda: any(run.glob("gen_00/cand_*/.video.*.tmp*")))
        evolve.kill()
        check_and_remember(run)

        evolve = Evolve(*resume)
        evolve.wait_for("the wait for a ranking", lambda: (run / "gen_00" / "awaiting_ranking.json").is_file())
        evolve.kill()
        check_and_remember(run)

        evolve = Evolve(*resume)
        evolve.wait_for("the wait for a ranking", lambda: any("is ready to rank" in line for line in evolve.lines))
        ranked = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "rank", str(run), "--best", "g0c01",
                                 "--worst", "g0c00"], capture_output=True, text=True, timeout=120)
        assert ranked.returncode == 0, ranked.stdout + ranked.stderr
        assert evolve.proc.wait(timeout=DEADLINE_S) == 0, "".join(evolve.lines)
        evolve._reader.join(timeout=30)
    check_and_remember(run)
    cands = {json.loads(p.read_text())["id"]: json.loads(p.read_text()) for p in run.glob("gen_00/cand_*/candidate.json")}
    assert sorted(cands) == ["g0c00", "g0c01"] and all(c["status"] == "evaluated" for c in cands.values())
    assert all((run / "gen_00" / f"cand_0{i}" / "video.mp4").is_file() for i in (0, 1))
    assert not [p for p in run.rglob("*") if ".tmp" in p.name], "no temporary file left behind"
    assert json.loads((run / "result.json").read_text())["best"] == "g0c01"
