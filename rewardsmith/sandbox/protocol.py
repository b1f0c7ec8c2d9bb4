"""The files through which the parent (runner.py) and the sandboxed worker (worker.py) talk, and the shape of a job;
both sides and every job import this (standard library only)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"  # the job's JSON result, written atomically by the worker
ISOLATION_FILE = "isolation.json"  # the names of the protections that took effect in the child
MAX_RESULT_BYTES = 32 * 2**20

# A job is `run(payload, workdir, progress) -> result`; `progress(event)` streams JSON events to the parent.
Progress = Callable[[dict[str, Any]], None]
Job = Callable[[dict[str, Any], Path, Progress], dict[str, Any]]
