"""Executors: where and how a generation's trainings run. `train_all` hands an executor the whole generation at
once and takes the reports as they finish, so an executor may run them one by one, in parallel, remotely, or
stop weak ones early; the records it returns are the same.

  local  one training at a time, in order, in sandboxed child processes on this machine (with the population
         trainer: one sandboxed job trains them all together)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from rewardsmith.registry import Registry
from rewardsmith.train.sandboxed import TrainReport, TrainRequest, train_in_sandbox, train_together

OnProgress = Callable[[TrainRequest, dict[str, Any]], None]


class Executor(Protocol):
    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        """Trains every request; yields each report as soon as its training ends (in any order)."""
        ...


class LocalExecutor:
    """One sandboxed training after the other: the whole machine for each (the trainers use every core)."""

    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        if requests and requests[0].group_dir is not None:  # the population trainer: all of them in one job
            yield from train_together(requests, on_progress)
            return
        for request in requests:
            def forward(metrics: dict[str, Any], request: TrainRequest = request) -> None:
                on_progress(request, metrics)

            yield train_in_sandbox(request, forward)


EXECUTORS: Registry[Callable[[], Executor]] = Registry("--executor")
def _local() -> Callable[[], Executor]:
    return LocalExecutor


EXECUTORS.register("local", _local)
