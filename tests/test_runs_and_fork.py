"""A user's first hour (issue 25 item 5): `runs` lists a folder's runs, `fork RUN --model M` continues a run's
history with another model, `show` marks the reference reward's candidate. Built from the fixture runs; the fork's
evolve is the resume path (replaced by a recorder here; one slow test trains it for real)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from builders import GOOD, evaluated
from fake_llm import FakeLLM

import rewardsmith.evolve
from rewardsmith.cli.app import app
from rewardsmith.config import RunConfig
from rewardsmith.evolve import EvolveResult
from rewardsmith.records import Choice
from rewardsmith.runs.listing import FINISHED, RUNNING, STOPPED, list_runs
from rewardsmith.runs.show import REFERENCE_LABEL, candidate_rows
from rewardsmith.runs.store import RunStore, read_json, write_record

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V2 = "20261207-050000-cartpole-balance"  # run_v2 as evolve would have named it: LLM-free, 1 of 1 generation ranked
V1 = "20261206-120000-cartpole-balance"  # run_v1: 1 of 2 generations ranked, then stopped

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from rewardsmith.runs.lock import run_lock
    from rewardsmith.runs.store import RunStore
    with run_lock(RunStore.open(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(600)
""")


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(args, prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture()
def runs(tmp_path) -> Path:
    """A folder with a finished run, a stopped one, a foreign folder and a run from a newer rewardsmith."""
    folder = tmp_path / "runs"
    shutil.copytree(FIXTURES / "run_v2", folder / V2)
    shutil.copytree(FIXTURES / "run_v1", folder / V1)
    (folder / "train").mkdir()  # `rewardsmith train`'s default output folder
    (folder / "newer").mkdir()
    (folder / "newer" / "config.json").write_text(json.dumps({"schema": 99, "env": "cartpole", "task": "balance"}))
    return folder


@pytest.fixture()
def held(runs):
    """The finished run's lock held by another process, as a running evolve holds it; yields that process."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(runs / V2)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_runs_lists_state_generations_best_and_cost_and_skips_what_is_no_run(runs, held):
    write_record(runs / V1 / "gen_00" / "usage_0.json", {"cost_usd": 0.25})  # the LLM's and the judge's cost
    write_record(runs / V1 / "gen_00" / "usage_judge.json", {"cost_usd": 0.0125})
    rows, skipped = list_runs(runs)
    by_name = {row.path.name: row for row in rows}
    assert [row.path.name for row in rows] == [V1, V2]  # oldest first
    stopped, running = by_name[V1], by_name[V2]
    assert (stopped.state, stopped.generations, stopped.of, stopped.best) == (STOPPED, 1, 2, "g0c01")
    assert stopped.cost_usd == pytest.approx(0.2625) and stopped.started == "2026-12-06 12:00"
    assert (running.state, running.pid, running.best, running.generations) == (RUNNING, held.pid, "g0c00", 1)
    assert {s.path.name: s.why for s in skipped} == {
        "train": "not a run (no config.json)",
        "newer": f"run {runs / 'newer'} was written with record schema version 99, newer than this rewardsmith's 3; "
                 "upgrade rewardsmith to read it"}


def test_a_finished_run_shows_its_answer_and_the_confidence_recorded(runs):
    result = read_json(runs / V2 / "result.json")
    choice = Choice(best="g0c00", order=("g0c00", "g0c01"), p_best={"g0c00": 0.62, "g0c01": 0.38},
                    contenders=("g0c00", "g0c01"), seeds={"g0c00": 1, "g0c01": 1}, confident=False,
                    lines={"g0c00": "score 0.102", "g0c01": "score 0.102"}, rule="the task score")
    write_record(runs / V2 / "result.json", {**result, "choice": choice.to_dict()})
    (row,) = [r for r in list_runs(runs)[0] if r.path.name == V2]
    assert (row.state, row.best, row.fitness, row.confidence) == (FINISHED, "g0c00", pytest.approx(0.102),
                                                                 "P(best) 0.62, not confident")


def test_the_runs_command_prints_a_row_per_run_and_a_note_per_skipped_folder(runs, capsys):
    code, out, err = _cli(["runs", "--out", str(runs)], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    (finished,) = [line for line in lines if V2 in line]
    for cell in ("cartpole/balance", "LLM-free", "finished", "1/1", "g0c00", "0.102", "2026-12-07 05:00"):
        assert cell in finished
    (stopped,) = [line for line in lines if V1 in line]
    assert "stopped" in stopped and "1/2" in stopped
    assert f"skipped {runs / 'train'}: not a run (no config.json)" in lines
    assert any(line.startswith(f"skipped {runs / 'newer'}: ") for line in lines)
    assert lines[-1].startswith("a stopped run continues with: rewardsmith evolve --resume RUN")


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nothing", "is not there; give the folder evolve wrote the runs to"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is a file"),
])
def test_runs_of_a_folder_that_is_not_there_is_one_line(tmp_path, capsys, make, message):
    code, out, err = _cli(["runs", "--out", str(make(tmp_path))], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


@pytest.fixture()
def evolve_runs(monkeypatch):
    """The evolve loop replaced by a recorder of (store, config); `fork` reaches it through `evolve --resume`."""
    calls: list[tuple[RunStore, RunConfig]] = []

    def record(store, cfg, report):
        calls.append((store, cfg))
        return EvolveResult(best=None, generations=cfg.iterations)

    monkeypatch.setattr(rewardsmith.evolve, "evolve", record)
    return calls


def test_a_fork_copies_the_ranked_generations_records_its_origin_and_resumes(runs, evolve_runs, capsys, tmp_path):
    (runs / V1 / "gen_01").mkdir()  # an unranked generation of the original: not copied
    before = _snapshot(runs / V1)
    out = tmp_path / "forks"
    with FakeLLM([]) as fake:
        code, stdout, err = _cli(["fork", str(runs / V1), "--model", "openai/fake", "--api-base", fake.base_url,
                                  "--out", str(out)], capsys)
    assert code == 0, stdout + err
    assert _snapshot(runs / V1) == before  # the original is untouched
    (fork,) = out.iterdir()
    assert fork.name.endswith("-cartpole-balance-fork")
    assert sorted(p.name for p in fork.iterdir()) == ["config.json", "fork.json", "gen_00", "plots"]
    for path in (runs / V1 / "gen_00").rglob("*"):  # generation 0 copied as it was
        copy = fork / "gen_00" / path.relative_to(runs / V1 / "gen_00")
        assert copy.is_dir() if path.is_dir() else copy.read_bytes() == path.read_bytes()
    original, forked = RunStore(runs / V1).config(), RunStore(fork).config()
    assert forked.models == ("openai/fake",) and forked.api_bases == (fake.base_url,)
    assert forked.iterations == 1 + original.iterations  # one copied, then RUN's --iterations more
    assert forked == dataclasses.replace(original, models=forked.models, api_bases=forked.api_bases,
                                         iterations=forked.iterations)
    origin = read_json(fork / "fork.json")
    assert (origin["from"], origin["generations"], origin["models"]) == (str((runs / V1).resolve()), 1, [])
    ((store, cfg),) = evolve_runs  # then evolve --resume on the fork, with its own settings
    assert store.root == fork and cfg == forked
    assert f"fork: {fork} continues {runs / V1} with openai/fake: generation 0 copied (by LLM-free mutations), " \
           "2 more to evolve" in stdout
    assert f"run: {fork}  (programs: openai/fake; feedback metrics; trainer native)" in stdout

    code, shown, _ = _cli(["show", str(fork)], capsys)
    assert code == 0 and f"forked from {(runs / V1).resolve()}: generation 0 copied (by LLM-free mutations)" in shown


@pytest.mark.parametrize("args, message", [
    (["{run}"], "fork continues a run with an LLM: give --model M"),  # an LLM-free fork: a resume
    (["{missing}", "--model", "openai/x"], "does not exist; `rewardsmith runs` lists the runs of a folder"),
    (["{foreign}", "--model", "openai/x"], "is not a rewardsmith run (no config.json)"),
    (["{running}", "--model", "openai/x"], "is running (pid {pid}): fork a run no evolve is working on"),
    (["{unranked}", "--model", "openai/x"], "has no ranked generation to continue from"),
    (["{run}", "--model", "openai/x", "--generations", "0"], "--generations must be a positive integer"),
    (["{run}", "--model", "no such model"], "is not a litellm model string"),
])
def test_a_fork_that_cannot_be_is_refused_in_one_line_and_writes_nothing(runs, tmp_path, capsys, request, args,
                                                                          message):
    pid = request.getfixturevalue("held").pid if "{running}" in args else None
    unranked = tmp_path / "unranked"
    shutil.copytree(FIXTURES / "run_v1", unranked)
    (unranked / "gen_00" / "selection.json").unlink()
    places = {"run": runs / V1, "missing": tmp_path / "gone", "foreign": runs / "train", "running": runs / V2,
              "unranked": unranked}
    out = tmp_path / "forks"
    before = _snapshot(runs)
    code, stdout, err = _cli(["fork", *(a.format(**places) for a in args), "--out", str(out)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, stdout + err
    assert message.format(pid=pid) in err
    assert not out.exists() and _snapshot(runs) == before


def test_show_marks_the_reference_rewards_candidate(tmp_path, capsys):
    code, out, _ = _cli(["show", str(FIXTURES / "run_v2")], capsys)  # LLM-free: g0c00 is the reference unchanged
    assert code == 0
    assert f"reference: g0c00 is {REFERENCE_LABEL}: task score 0.102 [" in out
    assert sum(REFERENCE_LABEL in line for line in out.splitlines()) == 2  # its row and the line under the table

    def marked(cfg: RunConfig, origins: list[str]) -> list[tuple[str, bool, str]]:
        store = RunStore.create(tmp_path, f"run{len(list(tmp_path.iterdir()))}", cfg)
        for index, origin in enumerate(origins):
            store.save_candidate(evaluated(0, index, 0.5).replace(origin=origin))
        store.save_candidate(evaluated(1, 0, 0.5).replace(origin="mutation"))
        return [(row.id, row.reference, row.source) for row in candidate_rows(store)]

    llm_free = RunConfig(env="cartpole", task="balance")
    assert marked(llm_free, ["mutation", "mutation"]) == [
        ("g0c00", True, REFERENCE_LABEL), ("g0c01", False, "LLM-free mutations"), ("g1c00", False, "LLM-free mutations")]
    with_init = RunConfig(env="cartpole", task="balance", init_source=GOOD)  # the user's reward is the reference
    assert marked(with_init, ["init", "mutation"])[:2] == [
        ("g0c00", True, "your --init reward"), ("g0c01", False, "LLM-free mutations")]
    with_llm = RunConfig(env="cartpole", task="balance", models=("openai/x",))
    assert [r[1] for r in marked(with_llm, ["llm", "llm"])] == [False, False, False]


@pytest.mark.slow
def test_a_fork_evolves_its_next_generation_with_the_new_model(runs, tmp_path):
    """For real: the fork of the LLM-free run_v2 asks the fake LLM for generation 1 and trains it."""
    out = tmp_path / "forks"
    with FakeLLM([], default=lambda request: f"```python\n{GOOD}```") as fake:
        proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "fork", str(runs / V2), "--model",
                               "openai/fake", "--api-base", fake.base_url, "--out", str(out)],
                              capture_output=True, text=True, timeout=600, env={**os.environ, "OPENAI_API_KEY": "sk-fake"})
        asked = len(fake.requests)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (fork,) = out.iterdir()
    store = RunStore.open(fork)
    assert store.generations() == [0, 1] and asked == 1
    assert {c.model for c in store.candidates(1)} == {"openai/fake"}
    assert {c.model for c in store.candidates(0)} == {None}  # the copied, LLM-free history
    assert store.load_result()["generations"] == 2
