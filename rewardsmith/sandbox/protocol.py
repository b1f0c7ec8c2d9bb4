"""The files through which the parent (runner.py) and the sandboxed worker (worker.py) talk, and the shape of a job;
both sides and every job import this (standard library only)."""

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"  # the job's JSON result, written atomically by the worker
ISOLATION_FILE = "isolation.json"  # the names of the protections that took effect in the child
MAX_RESULT_BYTES = 32 * 2**20

# A job is `run(payload, workdir, progress) -> result`; `progress(event)` streams JSON events to the parent.
Progress = Callable[[dict[str, Any]], None]
Job = Callable[[dict[str, Any], Path, Progress], dict[str, Any]]


class JobStatus(enum.StrEnum):
    """How a sandboxed job ended: the one status vocabulary of a job, its result records and what is made of them
    (a training's report, a seed's result, placement.json's outcome). A StrEnum: it is stored as its plain value."""

    OK = "ok"  # the job ran and did what it was asked
    FAILED = "failed"  # the job ran and reports that the untrusted program failed (its reason says how)
    ERROR = "error"  # the job raised (its first line is the reason)
    TIMEOUT = "timeout"  # the wall-clock limit stopped it
    KILLED = "killed"  # a limit killed it: memory, CPU time, file size
    CRASHED = "crashed"  # the child died without a result (a signal, an exit)
