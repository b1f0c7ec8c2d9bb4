"""Every argument and file a user can get wrong: one line on stderr naming what was wrong and what is valid, exit
code 2, no traceback, nothing written. The table runs the real command in-process (the same `app` the console
script calls); one case runs it as a child process to show the entry point behaves the same."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rewardsmith.cli.app import app

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run_v1"
# --trainer native: the default trainer is asked of JAX in a child process (seconds); no case here is about it
EVOLVE = ["evolve", "--env", "cartpole", "--trainer", "native", "--task", "balance"]


@pytest.fixture()
def place(tmp_path):
    """Files and runs the table refers to as {name}."""
    (tmp_path / "latin1.py").write_bytes("SCALES = {'caf\xe9': 1.0}\n".encode("latin-1"))
    (tmp_path / "prose.py").write_text("This is my reward: keep the pole up, and the cart near the centre.\n")
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "folder").mkdir()
    (tmp_path / "unknown-field.py").write_text(
        'SCALES = {"upright": 1.0}\n\n\ndef reward_terms(s, action, xp):\n    return {"upright": s["pole_tilt"]}\n')
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    truncated = tmp_path / "truncated"
    shutil.copytree(FIXTURE, truncated)
    path = truncated / "gen_00" / "cand_01" / "candidate.json"
    path.write_text(path.read_text()[:200])
    edited = tmp_path / "edited"
    shutil.copytree(FIXTURE, edited)
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "samples": "four"}))
    wrong_kind = tmp_path / "wrong-kind"
    shutil.copytree(FIXTURE, wrong_kind)
    selection = wrong_kind / "gen_00" / "selection.json"
    selection.write_text(json.dumps({**json.loads(selection.read_text()), "fitness": "high"}))
    return tmp_path


# (arguments, the words the line must contain)
CASES = [
    (EVOLVE + ["--model", "nosuchprovider/x"], "--model 'nosuchprovider/x': litellm knows no provider for it"),
    (EVOLVE + ["--model", "gpt 4o"], "is not a litellm model string"),
    (EVOLVE + ["--api-base", "localhost:8000"], "--api-base 'localhost:8000' is not an http(s) URL"),
    (EVOLVE + ["--model", "openai/m", "--api-base", "http://127.0.0.1:notaport/v1"], "is not an http(s) URL"),
    (EVOLVE + ["--model", "openai/fake", "--api-base", "http://127.0.0.1:9/v1", "--max-cost", "1"],
     "--max-cost needs the price of --model 'openai/fake', and litellm has none"),
    (EVOLVE + ["--llm-free", "--max-cost", "1"], "an --llm-free run without a judge asks none"),
    (EVOLVE + ["--model", "openai/gpt-4o-mini", "--max-cost", "0"], "--max-cost must be a positive amount of USD"),
    (EVOLVE + ["--llm-free", "--llm-timeout", "0"], "--llm-timeout must be a positive number of seconds"),
    (EVOLVE + ["--llm-free", "--max-tokens", "0"], "--max-tokens must be a positive integer"),
    (EVOLVE + ["--llm-free", "--temperature", "3"], "--temperature must be between 0 and 2"),
    (EVOLVE + ["--llm-free", "--review-port", "70000"], "--review-port must be a TCP port, 0 to 65535"),
    (EVOLVE + ["--llm-free", "--synthetic-noise", "-1"], "--synthetic-noise must be 0 or more"),
    (EVOLVE + ["--llm-free", "--samples", "four"], "Invalid value for '--samples'"),
    (EVOLVE + ["--llm-free", "--sample", "4"], "No such option: --sample"),
    (EVOLVE + ["--llm-free", "--out", "{a-file}"], "is a file; give a directory"),
    (EVOLVE + ["--llm-free", "--out", "{a-file}/runs"], "a-file is a file, not a directory"),
    (EVOLVE + ["--llm-free", "--out", "/proc/nope"], "cannot be created"),
    (EVOLVE + ["--llm-free", "--init", "{latin1.py}"], "is not UTF-8 text (byte 14 is 0xe9)"),
    (EVOLVE + ["--llm-free", "--init", "{prose.py}"], "prose.py: line 1: invalid syntax (not valid Python)"),
    (EVOLVE + ["--llm-free", "--init", "{folder}"], "is not a file; give a Python module"),
    # pre-flight (issue 25): what the settings need from this machine, before the run directory exists
    (EVOLVE + ["--llm-free", "--init", "{unknown-field.py}"],
     "--init: the reward does not pass the check: reward_terms failed with numpy"),
    (EVOLVE + ["--api-base", "http://127.0.0.1:9/v1"],
     "cannot reach openai/default's server at http://127.0.0.1:9/v1/models: [Errno 111] Connection refused"),
    (EVOLVE + ["--llm-free", "--feedback", "judge", "--judge-model", "openai/gpt-4o", "--judge-api-base",
               "http://127.0.0.1:9/v1", "--max-cost", "1"], "check --judge-api-base"),  # a paid judge may be capped
    (EVOLVE + ["--llm-free", "--feedback", "human", "--on-ranking-due", "/nonexistent/prog"],
     "/nonexistent/prog is not an executable file"),
    (EVOLVE + ["--llm-free", "--feedback", "human", "--on-ranking-due", "no-such-program-here --x"],
     "no-such-program-here is not found on PATH"),
    (EVOLVE + ["--llm-free", "--feedback", "human", "--review-host", "no.such.host.invalid"],
     "--review-host 'no.such.host.invalid' does not resolve"),
    # an option that would have no effect is refused, not ignored
    (EVOLVE + ["--llm-free", "--blind"], "--blind only applies to the review page"),
    (EVOLVE + ["--llm-free", "--ray-address", "10.0.0.5:6379"], "with --executor local it would be ignored"),
    (EVOLVE + ["--llm-free", "--halving", "--feedback", "judge", "--judge-model", "openai/x"],
     "--halving needs a ranker with a task fitness (metrics, synthetic), and --feedback judge ranks without one; "
     "use --no-halving"),
    (EVOLVE + ["--llm-free", "--allocation", "ucb"], "--allocation must be halving or adaptive, got 'ucb'"),
    (EVOLVE + ["--llm-free", "--allocation", "adaptive", "--no-halving"],
     "--allocation adaptive shares out the budget halving would spend, and --no-halving trains every candidate the "
     "full budget; drop one of them"),
    (EVOLVE + ["--llm-free", "--allocation", "adaptive", "--feedback", "human"],
     "--allocation adaptive needs a ranker with a task fitness (metrics, synthetic), and --feedback human ranks "
     "without one"),
    (EVOLVE[:5] + ["--task", "keep it up " * 500, "--llm-free"],
     "'... (5,500 characters) has no fitness metric"),  # a long task text is not echoed whole
    (["export", "{run}", "-o", "{folder}", "--force"], "folder is a folder; give a file path in it"),
    (["export", "{run}", "-o", "{folder}/p.npz", "--policy", "--format", "jax"], "leave --format jax out"),
    (["review", "{run}", "--port", "99999"], "Invalid value for '--port'"),
    (["evolve", "--resume", "{folder}"], "is not a rewardsmith run (no config.json)"),
    (["evolve", "--resume", "{nowhere}"], "is not a rewardsmith run (no config.json)"),
    (["evolve", "--resume", "{run}", "--samples", "8"], "--samples cannot change"),
    (["evolve", "--resume", "{truncated}"], "gen_00/cand_01/candidate.json is damaged (JSONDecodeError"),
    (["evolve", "--resume", "{edited}"], "config.json is damaged (setting 'samples' has the wrong kind"),
    (["evolve", "--resume", "{wrong-kind}"], "gen_00/selection.json is damaged"),
    (["show", "{folder}"], "is not a rewardsmith run"),
    (["show", "{truncated}"], "candidate.json is damaged"),
    (["export", "{nowhere}", "-o", "{folder}/r.py"], "is not a rewardsmith run"),
    (["export", "{run}", "--candidate", "g9c09", "-o", "{folder}/r.py"], "unknown candidate 'g9c09'"),
    (["export", "{run}"], "Missing option '-o' / '--output'"),
    (["export", "{run}", "--card", "-o", "{a-file}"], "a-file exists and is not a reward card"),
    (["replay", "{folder}"], "is not a reward card (no card.json)"),
    (["replay", "{folder}", "--seeds", "0"], "--seeds must be a positive integer, got 0"),
    (["review", "{folder}", "--port", "0"], "is not a rewardsmith run"),
    (["rank", "{folder}", "--best", "g0c00", "--worst", "g0c01"], "is not a rewardsmith run"),
    (["rank", "{run}", "--best", "g0c00", "--worst", "g0c01"], "is not waiting for a ranking"),
    (["check", "{latin1.py}", "--env", "cartpole"], "error: REWARD "),
    (["check", "{nowhere}", "--env", "cartpole"], "is not a file"),
    (["check", "{prose.py}", "--env", "nope"], "unknown env 'nope'"),
    (["train", "--env", "cartpole", "--task", "balance", "--reward", "{latin1.py}", "--out", "{folder}"], "is not UTF-8"),
    (["train", "--env", "cartpole", "--task", "balance", "--out", "{a-file}"], "is a file"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _fill(args: list[str], root: Path) -> list[str]:
    names = {p.name: str(p) for p in root.iterdir()} | {"nowhere": str(root / "nowhere")}
    return [re.sub(r"\{([^}]+)\}", lambda match: names[match[1]], arg) for arg in args]


@pytest.mark.parametrize("args, words", CASES, ids=[" ".join(a[:1] + a[7:] if a[0] == "evolve" else a)[:60]
                                                      for a, _ in CASES])
def test_a_bad_input_is_one_line_exit_2_and_nothing_written(place, args, words, capsys, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDSMITH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(place / "folder")  # a default --out (runs/) would land here
    before = _snapshot(place)
    with pytest.raises(SystemExit) as stop:  # any other exception is a traceback for the user
        app(_fill(args, place), prog_name="rewardsmith")
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and words in err, err
    assert "Traceback" not in err and len(err) < 1200  # a long task text is shortened, not echoed whole
    assert _snapshot(place) == before


def test_the_console_entry_point_prints_the_same_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", *EVOLVE, "--model", "nosuchprovider/x",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "litellm knows no provider" in proc.stderr and not (tmp_path / "runs").exists()


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from rewardsmith.runs.lock import run_lock
    from rewardsmith.runs.store import RunStore
    with run_lock(RunStore.open(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(600)
""")


def test_a_second_evolve_on_a_running_run_refuses_naming_the_pid(place, capsys):
    run = place / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(place)
        with pytest.raises(SystemExit) as stop:
            app(["evolve", "--resume", str(run)], prog_name="rewardsmith")
        err = capsys.readouterr().err
        assert stop.value.code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"is in use by another rewardsmith evolve (pid {holder.pid})" in err
        assert _snapshot(place) == before
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the killed holder's lock: the run can be taken again
    from rewardsmith.runs.lock import lock_holder

    assert lock_holder(run) is None
