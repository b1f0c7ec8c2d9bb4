"""Running trainings side by side and hearing about them on one thread: `fan_in` runs a job per request on worker
threads (a local sandboxed training, or one waiting on a Ray task) and hands their progress and reports to the
caller's thread, so the train stage's callbacks print and save without locks."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardsmith.errors import Stopped
from rewardsmith.execute.sandboxed import OnProgress, TrainReport, TrainRequest

# one training as a job for fan_in: (request, emit its events) -> its report
Job = Callable[[TrainRequest, OnProgress], TrainReport]


class ExecutorUnavailable(Stopped):
    """Where the trainings should run is not there (a Ray cluster that cannot be reached or went away): the run
    stops with this one line and continues later with --resume."""


def fan_in(requests: Sequence[TrainRequest], job: Job, workers: int,
           on_progress: OnProgress) -> Iterator[TrainReport]:
    """Runs `job` for every request on up to `workers` threads; their progress and reports come out here, on the
    caller's thread, as they happen. A job that raises ends the run with its exception (after the others stop
    being waited for: their threads finish on their own)."""
    events: queue.Queue[tuple[str, TrainRequest, Any]] = queue.Queue()

    def work(request: TrainRequest) -> None:
        try:
            report = job(request, lambda event: events.put(("progress", request, event)))
        except BaseException as err:  # handed to the caller's thread
            events.put(("error", request, err))
            return
        events.put(("report", request, report))

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(requests))), thread_name_prefix="train")
    try:
        for request in requests:
            pool.submit(work, request)
        left = len(requests)
        while left:
            kind, request, value = events.get()
            if kind == "progress":
                on_progress(value)
            elif kind == "error":
                raise value
            else:
                left -= 1
                yield value
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
