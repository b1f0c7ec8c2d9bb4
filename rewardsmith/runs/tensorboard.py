"""TensorBoard scalars of runs (issue 14 item 1): `--tensorboard DIR` on `evolve`, `train` and `show`.

The numbers of the PNG plots (runs/plots.py), one TensorBoard run (a folder) per training:

  DIR/<run id>/<candidate id>/   evolve, show: one candidate's training curve against env steps:
        train/episode_return, train/episode_length, train/task_score (per step), train/episodes,
        terms/<term> (the term's scaled contribution per episode), losses/<name> (PPO), extra/<name> (the
        trainer's own numbers); and one point at the candidate's generation: generation/task_score,
        generation/success_rate
  DIR/<run id>/selected/         generation/task_score: the selected best so far after each generation (the
                                 fitness plot's line; TensorBoard draws it on the candidates' chart)
  DIR/<train run id>/seed_<S>/   train: train/... as each checkpoint arrives, then eval/task_score,
                                 eval/success_rate, eval/return at the training's last step

`evolve` writes a candidate as soon as its training is final and the selection as soon as a generation is ranked,
so `tensorboard --logdir DIR` follows the run. A process writes each TensorBoard run anew the first time it
writes it (a resume, or `show --tensorboard` on a finished run), so no point is ever there twice.

The writer is TensorBoard's own record writer and Event protobufs (the `tensorboard` extra: the viewer one runs
anyway; neither TensorFlow nor torch is imported). Each write appends to one event file per TensorBoard run and
process and closes it: no thread, no file left open.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rewardsmith.config import RunConfig
from rewardsmith.errors import UserError
from rewardsmith.events import CandidateUpdate, Event, Report, SeedFinished, SelectionMade, TrainProgress
from rewardsmith.records import Candidate, CurvePoint, Status
from rewardsmith.runs.store import RunStore

Scalars = dict[str, float]  # tag -> value at one step
EXTRA = "tensorboard"
MISSING = f"TensorBoard is not installed; install the extra: pip install 'rewardsmith[{EXTRA}]'"
SELECTED = "selected"
_EVENT_FILE = "events.out.tfevents."  # TensorBoard reads the files whose name holds "tfevents"
_FILE_NUMBERS = itertools.count()


def _library() -> tuple[Any, Any, Any]:
    """TensorBoard's (RecordWriter, event_pb2, summary_pb2); ValueError (one line) when it is not installed."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise UserError(MISSING) from None
    return RecordWriter, event_pb2, summary_pb2


def board_dir(value: str | Path | None) -> str | None:
    """--tensorboard DIR as the run records it: an absolute path (a resume from elsewhere writes to the same
    place), of a folder that exists or can be made, with TensorBoard installed; ValueError, one line."""
    if value is None or str(value) == "":
        return None
    path = Path(value).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file; give a directory (it is created if missing)")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{path} cannot be created: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{path} is not writable (nearest existing folder: {probe})")
    _library()
    return str(path)


def check_board(cfg: RunConfig) -> None:
    """evolve.prepare's check of a run's recorded --tensorboard DIR (a resume: it may have become a file)."""
    try:
        board_dir(cfg.tensorboard)
    except ValueError as err:
        raise UserError(f"--tensorboard: {err}") from None


def _option_callback(value: str | None) -> str | None:
    import typer

    try:
        return board_dir(value)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


def _option() -> Any:
    import typer

    return typer.Option(None, "--tensorboard", metavar="DIR", callback=_option_callback,
                        help="also write the training curves and task scores as TensorBoard scalars under DIR "
                             "(view: tensorboard --logdir DIR)")


TENSORBOARD = _option()  # the option of evolve, train and show


# ---- what is written: pure functions of the records ----------------------------------------------------------


def _put(scalars: Scalars, tag: str, value: float | None) -> None:
    if value is not None and math.isfinite(value):
        scalars[tag] = float(value)


def point_scalars(point: CurvePoint) -> Scalars:
    """One checkpoint of a training curve: its tags and values (non-finite and missing values left out)."""
    scalars: Scalars = {}
    _put(scalars, "train/episode_return", point.episode_return)
    _put(scalars, "train/episode_length", point.episode_length)
    _put(scalars, "train/task_score", point.fitness)
    _put(scalars, "train/episodes", None if point.episodes is None else float(point.episodes))
    for group, values in (("terms", point.terms), ("losses", point.losses), ("extra", point.extra)):
        for name, value in values.items():
            _put(scalars, f"{group}/{name}", value)
    return scalars


def curve_scalars(cand: Candidate) -> list[tuple[int, Scalars]]:
    """(env steps, scalars) of every checkpoint of the candidate's training ([] when it was not trained)."""
    if cand.train is None:
        return []
    return [(point.step, point_scalars(point)) for point in cand.train.curve]


def generation_scalars(cand: Candidate) -> Scalars:
    """The candidate's task score and success rate, plotted at its generation."""
    scalars: Scalars = {}
    _put(scalars, "generation/task_score", cand.fitness)
    _put(scalars, "generation/success_rate", cand.success_rate)
    return scalars


# ---- writing --------------------------------------------------------------------------------------------------


class EventFile:
    """One TensorBoard run's event file written by this process: appended to, opened and closed on each write.
    `fresh`: the run's older event files are removed at the first write (the same points are written again)."""

    def __init__(self, folder: Path, fresh: bool = True) -> None:
        self.folder = folder
        self.fresh = fresh
        self.started = False
        self.path = folder / (f"{_EVENT_FILE}{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                              f"{next(_FILE_NUMBERS)}.rewardsmith")

    def write(self, rows: Iterable[tuple[int, Scalars]]) -> None:
        record_writer, event_pb2, summary_pb2 = _library()
        now = time.time()
        events = [event_pb2.Event(wall_time=now, step=step, summary=summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]))
            for step, scalars in rows if scalars]
        if not events:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.started and self.fresh:
            for old in self.folder.glob(f"{_EVENT_FILE}*"):
                old.unlink(missing_ok=True)
        self.started = True
        new = not self.path.exists()
        with open(self.path, "ab") as file:
            records = record_writer(file)
            if new:
                records.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
            for event in events:
                records.write(event.SerializeToString())


class RunBoard:
    """DIR/<run id>/: the candidates of a run (each written once, when final) and its selections."""

    def __init__(self, root: Path, store: RunStore) -> None:
        self.store = store
        self.folder = Path(root) / store.root.name
        self.files: dict[str, EventFile] = {}
        self.written: set[str] = set()

    def _file(self, name: str) -> EventFile:
        if name not in self.files:
            self.files[name] = EventFile(self.folder / name)
        return self.files[name]

    def candidate(self, cand: Candidate) -> None:
        """Written once, when final: evaluated or failed (the check reports candidates before training)."""
        if cand.id in self.written or not (cand.status is Status.EVALUATED or cand.status.failed):
            return
        self.written.add(cand.id)
        rows = [*curve_scalars(cand), (cand.generation, generation_scalars(cand))]
        self._file(cand.id).write(rows)

    def generation(self, gen: int) -> None:
        """The generation's candidates not written yet and, once it is ranked, the selected best so far."""
        for cand in self.store.candidates(gen):
            self.candidate(cand)
        selection = self.store.load_selection(gen)
        if selection is not None:
            scalars: Scalars = {}
            _put(scalars, "generation/task_score", selection.best_overall_fitness)
            self._file(SELECTED).write([(gen, scalars)])

    def on_event(self, event: Event) -> None:
        if isinstance(event, CandidateUpdate) and event.status not in (Status.PENDING, Status.CHECKED):
            self.candidate(self.store.find_candidate(event.id))
        elif isinstance(event, SelectionMade):
            self.generation(event.selection.generation)


def board_report(store: RunStore, cfg: RunConfig, report: Report) -> Report:
    """evolve's reporter, writing the run's TensorBoard scalars as candidates finish (`report` unchanged when the
    run has no --tensorboard)."""
    if cfg.tensorboard is None:
        return report
    board = RunBoard(Path(cfg.tensorboard), store)

    def hooked(event: Event) -> None:
        report(event)
        board.on_event(event)

    return hooked


def export_run(store: RunStore, root: str | None, echo: Callable[..., None]) -> Path | None:
    """`show RUN --tensorboard DIR`: every generation of the run written anew; echoes where (None: no DIR)."""
    if root is None:
        return None
    board = RunBoard(Path(root), store)
    for gen in store.generations():
        board.generation(gen)
    echo(f"tensorboard: {board.folder} (view: tensorboard --logdir {root})", soft_wrap=True)
    return board.folder


@contextlib.contextmanager
def train_board(report: Report, root: str | None, run_dir: Path) -> Iterator[Report]:
    """`train --tensorboard DIR`: `report` that also writes each seed's checkpoints as they arrive, and its
    evaluation when it is done, under DIR/<train run id>/seed_<S>/."""
    if root is None:
        yield report
        return
    folder = Path(root) / run_dir.name
    files: dict[str, EventFile] = {}

    def file(key: str) -> EventFile:
        name = key.replace(" ", "_")
        return files.setdefault(name, EventFile(folder / name))

    def hooked(event: Event) -> None:
        report(event)
        if isinstance(event, TrainProgress):  # its point was checked where the training child's line came in
            file(event.id).write([(event.point.step, point_scalars(event.point))])
        elif isinstance(event, SeedFinished) and event.status == "ok":
            scalars: Scalars = {}
            for tag, value in (("eval/task_score", event.fitness), ("eval/success_rate", event.success_rate),
                               ("eval/return", event.return_mean)):
                _put(scalars, tag, value)
            file(event.training).write([(event.steps or 0, scalars)])

    yield hooked
