"""The sandboxed child's entry point: `python -P -s -m rewardsmith.sandbox.worker JOBFILE` (started by
runner.run_in_sandbox).

The worker first confines itself (confine.py), while it is still single-threaded and before any untrusted code
exists in the process, then runs one job and writes its JSON result atomically. The job is named by its entry,
"package.module:function" (the job file is written by the trusted parent before the child starts): the sandbox
knows no job, the jobs layer above it (rewardsmith/jobs/) names its own.
Confinement happens here rather than in a Popen `preexec_fn` because preexec_fn is not safe in a multi-threaded
parent (the evolve loop checks candidates from a thread pool) and because some steps (Landlock, unshare) only bind
the calling thread: they must run before numpy/jax start their thread pools. So this module and confine.py import
only the standard library (and rewardsmith's stdlib-only modules) at the top; a job's imports happen after.
"""


from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import cast

from rewardsmith.sandbox.confine import confine, libc
from rewardsmith.sandbox.protocol import ISOLATION_FILE, MAX_RESULT_BYTES, RESULT_FILE, Job

_PR_SET_PDEATHSIG = 1


def _progress_writer(fd: int | None) -> Callable[[dict], None]:
    def progress(event: dict) -> None:
        if fd is None:
            return
        data = (json.dumps(event, default=str) + "\n").encode()
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError:
            pass  # the parent stopped listening; progress is best-effort

    return progress


def _error_result(exc: BaseException, memory_mb: int | None) -> dict:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MemoryError):
        message = f"out of memory{f' (the memory limit is {memory_mb} MB)' if memory_mb else ''} {message}".strip()
    try:
        tb = traceback.format_exc()[-8000:]
    except MemoryError:
        tb = ""
    return {"error": f"{type(exc).__name__}: {message}"[:500], "traceback": tb}


def _write_result(workdir: Path, result: dict) -> None:
    data = json.dumps(result, default=str)
    if len(data) > MAX_RESULT_BYTES:
        data = json.dumps({"error": f"ResultTooLarge: the job's result is {len(data)} bytes "
                           f"(limit {MAX_RESULT_BYTES})"})
    tmp = workdir / (RESULT_FILE + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, workdir / RESULT_FILE)  # atomic: the parent never reads half a result


def _die_with_parent(parent: int | None) -> None:
    """The kernel kills this worker when the rewardsmith process that started it dies, even by SIGKILL: a job must
    never outlive its run (it runs in its own session, out of reach of a terminal's signals)."""
    libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _job(entry: str) -> Job:
    module, _, name = entry.partition(":")
    job = getattr(importlib.import_module(module), name, None)
    if not callable(job):
        raise LookupError(f"job entry {entry!r} names no function")
    return cast(Job, job)


def main(argv: list[str]) -> int:
    jobfile = Path(argv[1]).resolve()
    workdir = jobfile.parent
    spec = json.loads(jobfile.read_text())
    _die_with_parent(spec.get("parent_pid"))
    applied = confine(spec.get("confine", {}), workdir)
    (workdir / ISOLATION_FILE).write_text(json.dumps(applied))
    progress = _progress_writer(spec.get("progress_fd"))
    try:
        job = _job(spec["entry"])  # after confinement: a job's imports happen inside the sandbox
        result = job(spec.get("payload", {}), workdir, progress)
        if not isinstance(result, dict):
            raise TypeError(f"job {spec['entry']!r} returned {type(result).__name__}, not a dict")
    except BaseException as exc:
        result = _error_result(exc, spec.get("memory_mb"))
    _write_result(workdir, result)
    return 0


if __name__ == "__main__":
    code = 1
    try:
        code = main(sys.argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # e.g. stdout hit the file-size limit
                pass
        os._exit(code)  # skip interpreter teardown: a job's leftover threads must not keep the worker alive
