"""Progress bars for `evolve` and `train`: on a terminal, rich bars with elapsed time and ETA (the run's
generations, the trainings of the current generation or the seeds of `train`, and one bar per training in flight,
with its latest return), with every other event printed above them as a line. Anywhere else (a pipe, a log file,
CI) the same events print as the plain lines of ui.print_event, one per event, so logs stay greppable.

The generations bar's ETA is the whole run's, estimated by cli/eta.py once a training has finished and labelled as an
estimate; without bars it is a line at the start of each generation."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from rewardsmith.cli.eta import TRAINED, RunClock, duration_words
from rewardsmith.cli.ui import console as default_console
from rewardsmith.cli.ui import print_event
from rewardsmith.events import CandidateUpdate, Event, GenerationStarted, Report, SeedFinished, TrainProgress

RUN_ETA = "run_eta"  # a task field: this bar shows the whole run's estimate, not rich's own


class EtaColumn(TimeRemainingColumn):
    """rich's time remaining ("eta 0:01:10"), except on the generations bar: the run's estimate (cli/eta.py)."""

    def __init__(self, clock: RunClock) -> None:
        super().__init__()
        self.clock = clock

    def __call__(self, task: Task) -> Text:
        if task.fields.get(RUN_ETA):  # rich keeps a render for half a second; the run's estimate is cheap and current
            return self.render(task)
        return super().__call__(task)  # type: ignore[return-value]

    def render(self, task: Task) -> Text:
        if not task.fields.get(RUN_ETA):
            return Text("eta ") + super().render(task)
        left = self.clock.seconds_left()
        if left is not None:
            text = f"eta {duration_words(left)} (estimate)"
        else:  # none yet, or no generation left (the final confirmation may still train)
            text = "eta: after the first training" if not self.clock.trainings_done else "eta —"
        return Text(text, style="progress.remaining")


class ProgressView:
    """Takes the run's events (call it with each); use it as a context manager around the run."""

    def __init__(self, generations: int | None = None, per_generation: int | None = None, seeds: int | None = None,
                 console: Console | None = None, print_line: Report = print_event) -> None:
        self.console = console or default_console
        self.print_line = print_line
        self.bars = self.console.is_terminal
        self.generations, self.per_generation, self.seeds = generations, per_generation, seeds
        self.progress: Progress | None = None
        self.overall: TaskID | None = None  # generations of evolve, or seeds of train
        self.batch: TaskID | None = None  # the trainings of the current generation
        self.trainings: dict[str, TaskID] = {}
        self.clock = RunClock(per_generation)
        self.told_rounding = False

    def __enter__(self) -> ProgressView:
        if not self.bars:
            return self
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), EtaColumn(self.clock), console=self.console)
        self.progress.start()
        if self.generations:
            self.overall = self.progress.add_task("generations", total=self.generations, **{RUN_ETA: True})
        elif self.seeds:
            self.overall = self.progress.add_task("seeds", total=self.seeds)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.progress is None:
            return
        if exc_type is None and self.overall is not None and self.generations:  # the run ended: all done
            self.progress.update(self.overall, completed=self.generations)
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        self.clock(event)
        if isinstance(event, TrainProgress) and event.asked is not None and not self.told_rounding:
            self.told_rounding = True  # once a run: every training of it rounds the same way
            self.console.print(f"  note: PPO trains whole iterations of every env's rollout, so a training asked "
                               f"for {event.asked:,} env steps trains {event.total:,}", soft_wrap=True)
        if self.progress is None:
            self.print_line(event)
            if isinstance(event, GenerationStarted) and (left := self.clock.seconds_left()) is not None:
                self.console.print(f"  time left for the run: {duration_words(left)} (estimate from "
                                   f"{self.clock.basis})", soft_wrap=True)
            return
        if isinstance(event, TrainProgress):
            self._training(event)
            return  # the bar says it: no line per checkpoint
        self.print_line(event)  # above the bars (rich's live display moves them down)
        if isinstance(event, GenerationStarted):
            self._generation(event)
        elif isinstance(event, CandidateUpdate) and event.status in TRAINED:
            self._finished(event.id, count=True)
        elif isinstance(event, SeedFinished):  # `train`'s seeds, or evolve's final re-evaluation of the best
            self._finished(event.training, count=False)
            if self.seeds and self.overall is not None:
                self.progress.advance(self.overall)

    def _generation(self, event: GenerationStarted) -> None:
        assert self.progress is not None
        if self.overall is not None:
            self.progress.update(self.overall, completed=event.gen, total=event.of or self.generations)
        if self.batch is not None:
            self.progress.remove_task(self.batch)
        self.batch = self.progress.add_task(f"generation {event.gen + 1}: trainings", total=self.per_generation)

    def _training(self, event: TrainProgress) -> None:
        assert self.progress is not None
        ret = event.point.episode_return
        label = f"  {event.id}" + (f"  return {ret:.1f}" if ret is not None else "")
        if event.id not in self.trainings:
            self.trainings[event.id] = self.progress.add_task(label, total=event.total)
        self.progress.update(self.trainings[event.id], completed=event.point.step, description=label)

    def _finished(self, key: str, count: bool) -> None:
        assert self.progress is not None
        for name in [k for k in self.trainings if k == key or k.startswith(key + "#")]:  # every seed of it
            self.progress.remove_task(self.trainings.pop(name))
        if count and self.batch is not None:
            self.progress.advance(self.batch)
