"""`evolve --memory` end to end: the first prompt the (fake) LLM receives carries the memory's entries of other tasks
on the env and not the run's own task's; another env's prompt carries none; at the end the answer goes in only where
its confirmation does the task. The default test trains one tiny budget (its answer cannot balance: it stays out);
the slow one (`pytest -m slow tests/test_memory_e2e.py`, ~1 min on 2 cores) trains the budget at which the reference
reward balances and finds its entry written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import GOOD
from fake_llm import FakeLLM
from memory_runs import finished_run

from rewardsmith.cli.app import app
from rewardsmith.llm.memory import entry_for, read_entries, write_entry

OK = [[0.9] * 16, [0.8] * 16]


def _rewardsmith(*args: str, data: Path) -> subprocess.CompletedProcess:
    """The command in a child process whose default memory folder would be under `data` (HOME stays: the XLA cache
    lives there, and a cold one costs a minute of compiling)."""
    env = {**os.environ, "XDG_DATA_HOME": str(data), "OPENAI_API_KEY": "sk-fake"}
    env.pop("REWARDSMITH_MEMORY", None)
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture()
def memory_dir(tmp_path) -> Path:
    """A memory with a swingup answer and a balance answer on cart-pole."""
    mem = tmp_path / "memory"
    for task in ("swingup", "balance"):
        store, result = finished_run(tmp_path / "sources", task, OK)
        write_entry(mem, *entry_for(store, result))
    return mem


def test_the_first_prompt_shows_other_tasks_and_a_failing_answer_stays_out(tmp_path, memory_dir):
    before = {e.id for e in read_entries(memory_dir)[0]}
    with FakeLLM([f"```python\n{GOOD}```"]) as fake:
        proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--model", "openai/fake",
                            "--api-base", fake.base_url, "--iterations", "1", "--samples", "1", "--train-steps", "2048",
                            "--final-seeds", "1", "--race-seeds", "0", "--no-halving", "--no-video",
                            "--out", str(tmp_path / "runs"), "--memory", str(memory_dir), data=tmp_path / "xdg")
        requests = list(fake.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prompt = requests[0]["messages"][1]["content"]
    assert "## Rewards that did other tasks in this environment" in prompt
    assert "Example 1, from the task 'swingup' (not yours)" in prompt and "Example 2" not in prompt
    assert "from the task 'balance'" not in prompt  # its own task's earlier answer is no example from another task
    assert prompt.index("## Task") < prompt.index("## Rewards that did other tasks")
    (run,) = (tmp_path / "runs").iterdir()
    said = json.loads((run / "result.json").read_text())["memory"]
    assert said.startswith("memory: not added: ") and "succeeded in 0% of its confirmation's episodes" in said
    assert said in " ".join(proc.stdout.split()) or said[:60] in proc.stdout
    assert {e.id for e in read_entries(memory_dir)[0]} == before
    assert not (tmp_path / "xdg").exists()  # no default memory was made: --memory named the folder


@pytest.mark.parametrize("env, task, shown", [("hopper", "hop", None), ("cartpole", "swingup", "balance")])
def test_a_dry_run_shows_the_entries_of_its_own_env_only(tmp_path, memory_dir, capsys, monkeypatch, env, task, shown):
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as done:
        app(["evolve", "--env", env, "--task", task, "--model", "openai/gpt-4o-mini", "--trainer", "native",
             "--dry-run", "--memory", str(memory_dir)], prog_name="rewardsmith")
    out = capsys.readouterr().out
    assert (done.value.code or 0) == 0 and "## Task" in out, out[-2000:]
    if shown is None:
        assert "Rewards that did other tasks" not in out
    else:
        assert f"Example 1, from the task '{shown}' (not yours)" in out and "Example 2" not in out


@pytest.mark.slow
def test_an_answer_that_balances_goes_into_the_memory(tmp_path):
    mem = tmp_path / "memory"
    proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--iterations", "1",
                        "--samples", "1", "--train-steps", "57344", "--seed", "2", "--final-seeds", "1",
                        "--race-seeds", "0", "--no-video", "--out", str(tmp_path / "runs"), "--memory", str(mem),
                        data=tmp_path / "xdg")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (entry,) = read_entries(mem)[0]
    assert entry.env == "cartpole" and entry.task == "balance" and entry.confirmed.success >= 0.5
    assert [t.name for t in entry.terms] == ["upright", "centred", "alive", "effort"]
    assert all(t.source and t.source.startswith(f'"{t.name}": ') for t in entry.terms)
    assert "memory: added g0c00 (cartpole/balance" in proc.stdout
