"""`--tensorboard DIR` (issue 14 item 1): the runs' curves and task scores as TensorBoard scalars.

Every check reads the event files back with TensorBoard's own reader (EventAccumulator, the loader behind
`tensorboard --logdir`) and compares tags, steps and values with the records they came from. TensorBoard keeps a
scalar as a float32, so values are compared as float32."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import evaluated, failed
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rewardsmith.evolve
from rewardsmith.cli.app import app
from rewardsmith.config import RunConfig, TrainConfig
from rewardsmith.events import CandidateUpdate, SeedFinished, SelectionMade
from rewardsmith.evolve import EvolveResult
from rewardsmith.execute.sandboxed import TrainRequest, progress_of
from rewardsmith.records import Candidate, CurvePoint, Selection, Status, Stop
from rewardsmith.runs.store import RunStore
from rewardsmith.runs.tensorboard import MISSING, board_dir, board_report, export_run, train_board

Series = dict[str, list[tuple[int, float]]]


def _read(folder: Path) -> Series:
    """Every scalar tag of one TensorBoard run: (step, value) in the order written."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _f32(value: float) -> float:
    return float(np.float32(value))


def _trained(gen: int, index: int, fitness: float | None) -> Candidate:
    """An evaluated candidate with a three-checkpoint curve: terms, losses, extras, and a missing value."""
    base = evaluated(gen, index, fitness)
    curve = tuple(CurvePoint(step=1024 * (i + 1), episode_return=10.0 + i + index, episode_length=20.0 + 5 * i,
                             fitness=0.1 * i + 0.01 * index, wall_s=0.5 * i, episodes=4 + i,
                             terms={"upright": 3.0 + i, "alive": 1.5 * i, "effort": None if i == 1 else -0.1 * i},
                             losses={"policy_loss": -0.01 * i, "value_loss": 2.0 - 0.5 * i},
                             extra={"train_sps": 1000.0 + i})
                  for i in range(3))
    assert base.train is not None
    return base.replace(train=dataclasses.replace(base.train, curve=curve))


def _expected(cand: Candidate) -> Series:
    """What TensorBoard should hold for a candidate, straight from its record."""
    out: Series = {}

    def put(tag: str, step: int, value: float | None) -> None:
        if value is not None:
            out.setdefault(tag, []).append((step, _f32(value)))

    assert cand.train is not None
    for p in cand.train.curve:
        put("train/episode_return", p.step, p.episode_return)
        put("train/episode_length", p.step, p.episode_length)
        put("train/task_score", p.step, p.fitness)
        put("train/episodes", p.step, p.episodes)
        for group, values in (("terms", p.terms), ("losses", p.losses), ("extra", p.extra)):
            for name, value in values.items():
                put(f"{group}/{name}", p.step, value)
    put("generation/task_score", cand.generation, cand.fitness)
    put("generation/success_rate", cand.generation, cand.success_rate)
    return out


def _select(store: RunStore, gen: int, best: str, fitness: float) -> Selection:
    selection = Selection(generation=gen, mode="metrics", ranking=(best,), fitness={best: fitness}, best=best,
                          worst=None, best_overall=best, best_overall_fitness=fitness, failed={})
    store.save_selection(selection)
    return selection


def _store(tmp_path: Path) -> RunStore:
    store = RunStore.create(tmp_path / "runs", "run1", RunConfig(env="cartpole", task="balance"))
    for cand in (_trained(0, 0, 0.25), _trained(0, 1, 0.5), failed(0, 2), _trained(1, 0, 0.75),
                 failed(1, 1, Status.TRAIN_FAILED, "training failed: the reward is NaN")):
        store.save_candidate(cand)
    _select(store, 0, "g0c01", 0.5)
    _select(store, 1, "g1c00", 0.75)
    return store


def test_each_candidates_curve_and_the_selected_best_read_back_equal_the_records(tmp_path: Path) -> None:
    store = _store(tmp_path)
    lines: list[str] = []
    folder = export_run(store, str(tmp_path / "tb"), lambda text, **kw: lines.append(text))
    assert folder == tmp_path / "tb" / "run1"
    assert sorted(p.name for p in folder.iterdir()) == ["g0c00", "g0c01", "g1c00", "selected"]  # none for failures
    for gen, index in ((0, 0), (0, 1), (1, 0)):
        cand = store.load_candidate(gen, index)
        assert cand is not None
        scalars = _read(folder / cand.id)
        assert scalars == _expected(cand)
    g0c00 = _read(folder / "g0c00")
    assert g0c00["terms/effort"] == [(1024, 0.0), (3072, _f32(-0.2))]  # the missing value is left out, not a 0
    assert g0c00["losses/value_loss"] == [(1024, 2.0), (2048, 1.5), (3072, 1.0)]
    assert g0c00["generation/task_score"] == [(0, 0.25)]
    # the fitness plot's line: the selected best after each generation, on the same tag as the candidates' scores
    assert _read(folder / "selected") == {"generation/task_score": [(0, 0.5), (1, 0.75)]}
    assert lines == [f"tensorboard: {folder} (view: tensorboard --logdir {tmp_path / 'tb'})"]


def test_writing_a_run_again_replaces_its_points(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for _ in range(2):
        folder = export_run(store, str(tmp_path / "tb"), lambda *a, **kw: None)
    assert folder is not None
    assert _read(folder / "g0c01") == _expected(_trained(0, 1, 0.5))
    assert _read(folder / "selected") == {"generation/task_score": [(0, 0.5), (1, 0.75)]}
    assert len(list((folder / "g0c01").iterdir())) == 1


def test_evolve_writes_a_candidate_when_it_is_final_and_the_selection_when_ranked(tmp_path: Path) -> None:
    """The hook evolve wraps its reporter in: each event goes on to the terminal, and the board follows the run."""
    store = RunStore.create(tmp_path / "runs", "run1", RunConfig(env="cartpole", task="balance"))
    seen: list = []
    report = board_report(store, dataclasses.replace(store.config(), tensorboard=str(tmp_path / "tb")), seen.append)
    folder = tmp_path / "tb" / "run1"
    checked = _trained(0, 0, 0.25).replace(status=Status.CHECKED, train=None, evaluation=None)
    store.save_candidate(checked)
    report(CandidateUpdate("g0c00", Status.CHECKED, None))  # the check stage's event
    assert not folder.exists()
    first = _trained(0, 0, 0.25)
    store.save_candidate(first)
    report(CandidateUpdate("g0c00", Status.EVALUATED, None, stop=Stop.BUDGET))
    assert _read(folder / "g0c00") == _expected(first)  # written as soon as it finished, before the ranking
    assert not (folder / "g0c01").exists() and not (folder / "selected").exists()
    second = _trained(0, 1, 0.5)
    store.save_candidate(second)
    report(CandidateUpdate("g0c01", Status.EVALUATED, None, stop=Stop.BUDGET))
    selection = _select(store, 0, "g0c01", 0.5)
    report(SelectionMade(selection))
    assert _read(folder / "g0c01") == _expected(second)
    assert _read(folder / "selected") == {"generation/task_score": [(0, 0.5)]}
    assert _read(folder / "g0c00") == _expected(first)  # once: not again at the selection
    assert [type(e) for e in seen] == [CandidateUpdate, CandidateUpdate, CandidateUpdate, SelectionMade]
    plain = seen.append
    assert board_report(store, store.config(), plain) is plain  # no --tensorboard: the reporter as is


def test_a_resumed_run_writes_its_finished_generations_anew(tmp_path: Path) -> None:
    """A resume reports the selections of finished generations again: their candidates are written there."""
    store = _store(tmp_path)
    cfg = dataclasses.replace(store.config(), tensorboard=str(tmp_path / "tb"))
    for _ in range(2):  # the run, then its resume: one copy of every point
        report = board_report(store, cfg, lambda event: None)
        for gen in (0, 1):
            selection = store.load_selection(gen)
            assert selection is not None
            report(SelectionMade(selection))
    folder = tmp_path / "tb" / "run1"
    assert _read(folder / "g1c00") == _expected(_trained(1, 0, 0.75))
    assert _read(folder / "selected") == {"generation/task_score": [(0, 0.5), (1, 0.75)]}


def test_train_writes_each_checkpoint_as_it_arrives(tmp_path: Path) -> None:
    """train's reporter: a progress event is a curve point from the training child (untrusted: a malformed line is
    left out where it comes in); each is on disk when the next arrives, and the evaluation follows when the seed is
    done."""
    seen: list = []
    train = _trained(0, 0, 0.5).train
    assert train is not None
    points = train.curve[:2]
    request = TrainRequest("seed 0", "cartpole", "balance", "", TrainConfig(steps=4096), tmp_path / "work")
    folder = tmp_path / "tb" / "20260101-000000-cartpole-balance" / "seed_0"
    with train_board(seen.append, str(tmp_path / "tb"), tmp_path / "20260101-000000-cartpole-balance") as report:
        # the child's JSON lines as the parent reads them: two good ones, then malformed ones
        lines = [*(json.loads(json.dumps(dataclasses.asdict(p))) for p in points), {"step": "many"},
                 {"step": 1e999}, {"episode_return": 1.0}, {"step": 3, "terms": ["not", "a", "dict"]}]
        for line in lines:
            event = progress_of(request, line)
            if event is not None:
                report(event)
                written = [p for p in points if p.step <= event.point.step]
                assert _read(folder)["train/episode_return"] == [(p.step, _f32(p.episode_return)) for p in written]
        assert [progress_of(request, line) is None for line in lines] == [False, False, True, True, True, True]
        report(SeedFinished(seed=0, status="ok", reason=None, fitness=0.5, success_rate=0.25, return_mean=99.0,
                            steps=2048, wall_s=1.0))
    scalars = _read(folder)
    assert scalars["terms/upright"] == [(1024, 3.0), (2048, 4.0)]
    assert scalars["eval/task_score"] == [(2048, 0.5)] and scalars["eval/success_rate"] == [(2048, 0.25)]
    assert scalars["eval/return"] == [(2048, 99.0)]
    assert len(seen) == 3  # every event goes on to the terminal
    plain = seen.append
    with train_board(plain, None, tmp_path / "run") as report:
        assert report is plain


def test_the_directory_is_checked_and_recorded_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert board_dir(None) is None
    assert board_dir("tb/new") == str(tmp_path / "tb" / "new")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="a-file is a file; give a directory"):
        board_dir("a-file")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        board_dir("a-file/tb")
    for name in [n for n in sys.modules if n == "tensorboard" or n.startswith("tensorboard.")] + ["tensorboard"]:
        monkeypatch.setitem(sys.modules, name, None)  # TensorBoard not installed: its imports fail
    with pytest.raises(ValueError) as missing:
        board_dir("tb")
    assert str(missing.value) == MISSING and "pip install 'rewardsmith[tensorboard]'" in MISSING


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(args, prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.mark.parametrize("command", [
    ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--trainer", "native"],
    ["train", "--env", "cartpole", "--task", "balance", "--trainer", "native"],
])
def test_a_file_for_dir_is_one_line_and_nothing_is_written(tmp_path: Path, capsys, command) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = _run([*command, "--out", str(tmp_path / "out"), "--tensorboard", str(blocker)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and f"{blocker} is a file" in err and "--tensorboard" in err
    assert not (tmp_path / "out").exists() and blocker.read_text() == "not a directory"


def test_the_run_records_the_dir_and_a_resume_may_change_it(tmp_path: Path, capsys, monkeypatch) -> None:
    given: list[RunConfig] = []

    def record(store, cfg, report):  # the evolve loop replaced: what is tested is the config the run gets
        given.append(cfg)
        best = evaluated(0, 0, 0.5)  # a run with no evaluated candidate exits 1; the recorder's run has one
        store.save_candidate(best)
        return EvolveResult(best=best, generations=cfg.iterations)

    monkeypatch.setattr(rewardsmith.evolve, "evolve", record)
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--trainer", "native",
                         "--out", "runs", "--tensorboard", "tb"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "config.json").read_text())["tensorboard"] == str(tmp_path / "tb")
    assert given[-1].tensorboard == str(tmp_path / "tb")
    code, _, err = _run(["evolve", "--resume", str(run)], capsys)
    assert code == 0, err and given[-1].tensorboard == str(tmp_path / "tb")  # a resume keeps writing there
    code, _, err = _run(["evolve", "--resume", str(run), "--tensorboard", "tb2"], capsys)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["tensorboard"] == str(tmp_path / "tb2")


def test_train_writes_each_checkpoint_and_the_evaluation(tmp_path: Path, capsys) -> None:
    """A real cart-pole training of 2,048 steps (one checkpoint)."""
    code, out, err = _run(["train", "--env", "cartpole", "--task", "balance", "--steps", "2048", "--trainer",
                           "native", "--out", str(tmp_path / "train"), "--tensorboard", str(tmp_path / "tb")], capsys)
    assert code == 0, out + err
    (run,) = (tmp_path / "train").iterdir()
    scalars = _read(tmp_path / "tb" / run.name / "seed_0")
    summary = json.loads((run / "summary.json").read_text())
    (seed,) = summary["seeds"]
    assert scalars["eval/task_score"] == [(2048, _f32(seed["fitness"]))]
    assert scalars["eval/success_rate"] == [(2048, _f32(seed["success_rate"]))]
    assert scalars["eval/return"] == [(2048, _f32(seed["return_mean"]))]
    for tag in ("train/episode_return", "train/episode_length", "train/task_score", "terms/upright",
                "terms/alive", "terms/centred", "terms/effort", "losses/policy_loss", "losses/value_loss"):
        assert [step for step, _ in scalars[tag]] == [2048], tag
    assert "return" in out  # the terminal's lines go on as before


def test_evolve_writes_every_candidate_as_the_run_stores_it(tmp_path: Path, capsys) -> None:
    """A real LLM-free run (one generation of two, halving on): the live board equals the records, and
    `show --tensorboard` writes the same numbers for the finished run."""
    code, out, err = _run(["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1",
                           "--samples", "2", "--train-steps", "2048", "--no-video", "--trainer", "native",
                           "--out", str(tmp_path / "runs"), "--tensorboard", str(tmp_path / "tb")], capsys)
    assert code == 0, out + err
    (run,) = (tmp_path / "runs").iterdir()
    store = RunStore.open(run)
    cands = store.candidates(0)
    assert len(cands) == 2 and all(c.status is Status.EVALUATED for c in cands)
    folder = tmp_path / "tb" / run.name
    for cand in cands:
        assert _read(folder / cand.id) == _expected(cand)
    selection = store.load_selection(0)
    assert selection is not None and selection.best_overall_fitness is not None
    assert _read(folder / "selected") == {"generation/task_score": [(0, _f32(selection.best_overall_fitness))]}
    code, out, err = _run(["show", str(run), "--tensorboard", str(tmp_path / "again")], capsys)
    assert code == 0, err
    assert f"tensorboard: {tmp_path / 'again' / run.name}" in out
    for name in [c.id for c in cands] + ["selected"]:
        assert _read(tmp_path / "again" / run.name / name) == _read(folder / name)
