"""Soak (slow): 30 generations with the fake LLM on cartpole at tiny budgets, videos on. Asserted: no process the
run started outlives it, and the parent's open file descriptors do not grow after generation 5. Printed (`-s`):
the parent's RSS and open descriptors at the start of every generation, and RSS growth after generation 5
(target < 10%).

    .venv/bin/python -m pytest -m slow -s tests/test_soak.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from builders import GOOD
from fake_llm import FakeLLM
from test_kill_resume import processes_of

GENERATIONS = 30
VARIANTS = [GOOD.replace('"centred": 0.2', f'"centred": 0.{k}') for k in range(1, 10)]


def _reply(request: dict) -> str:
    return f"Balanced:\n```python\n{VARIANTS[len(request['messages'][-1]['content']) % len(VARIANTS)]}```"


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.slow
@pytest.mark.timeout(7200)  # ~1 min a generation on 2 busy cores
def test_thirty_generations_leak_no_processes_or_descriptors(tmp_path):
    out = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    samples: list[tuple[int, int, int]] = []  # (generation, RSS kB, open fds) when the generation starts
    with FakeLLM([], default=_reply) as fake:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task", "balance",
             "--model", "openai/fake", "--api-base", fake.base_url, "--iterations", str(GENERATIONS),
             "--samples", "2", "--train-steps", "2048", "--video", "--feedback", "synthetic", "--out", str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                match = re.match(r"generation (\d+)/", line)
                if match:
                    try:
                        samples.append((int(match[1]), _rss_kb(proc.pid), _fds(proc.pid)))
                    except (OSError, TypeError):
                        pass

        reader = threading.Thread(target=read)
        reader.start()
        started = time.monotonic()
        code = proc.wait(timeout=7200)
        reader.join()
    assert code == 0, "".join(lines[-40:])
    (run,) = out.iterdir()
    assert not processes_of(run), processes_of(run)
    print(f"\nsoak: {GENERATIONS} generations in {time.monotonic() - started:.0f} s")
    print("gen  RSS MB  open fds")
    for gen, rss, fds in samples:
        print(f"{gen:>3}  {rss / 1024:6.1f}  {fds:>8}")
    by_gen = {gen: (rss, fds) for gen, rss, fds in samples}
    assert len(by_gen) == GENERATIONS
    base_rss, base_fds = by_gen[6]  # the start of generation 6 = after generation 5
    last_rss, last_fds = by_gen[GENERATIONS]
    print(f"RSS after generation 5: {base_rss / 1024:.1f} MB -> {last_rss / 1024:.1f} MB at the start of generation "
          f"{GENERATIONS} ({100 * (last_rss - base_rss) / base_rss:+.1f}%)")
    assert last_fds <= base_fds, f"open descriptors grew from {base_fds} to {last_fds}"
