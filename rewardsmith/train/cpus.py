"""CPU shares for trainings that run side by side on one machine (`--parallel N`, or several Ray tasks on a node).

A training uses every CPU its process may run on: the native trainer sizes MuJoCo's threads to the process's CPU
affinity (env/sim.py) and XLA sizes its pool the same way. So dividing the threads between N trainings means
pinning each one's sandboxed child to its own CPUs: the thread that starts the child pins itself first (a child
inherits the affinity of the thread that forked it) and the child's threads follow.

Which CPUs are free is agreed through lock files, one per CPU, in a directory every process on the machine sees
(the temp dir): a claim is an flock on the file, released when its holder lets go or dies. So the trainings of one
run, two runs, or two Ray nodes on one machine (the cluster test) never pin two children to the same CPU while
another sits idle. When fewer CPUs are free than asked, a claim takes what is free, and none at all leaves the
child unpinned (sharing, never waiting).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "rewardsmith-cpus"


def available_cpus() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def share(parallel: int, cpus: int | None = None) -> int:
    """How many CPUs each of `parallel` trainings gets on a machine of `cpus` (at least one each)."""
    total = len(available_cpus()) if cpus is None else cpus
    return max(1, total // max(1, parallel))


@contextlib.contextmanager
def claimed(count: int, lock_dir: Path = LOCK_DIR) -> Iterator[list[int]]:
    """Claims up to `count` free CPUs of this process's set and yields them (maybe fewer, maybe none); all of
    them when `count` covers the whole set (nothing to divide)."""
    cpus = available_cpus()
    if count >= len(cpus):
        yield cpus
        return
    held: list[tuple[int, int]] = []
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        for cpu in cpus:
            if len(held) == count:
                break
            fd = os.open(lock_dir / f"cpu{cpu}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append((cpu, fd))
    except OSError:
        pass  # no lock directory: the claims are advisory, the training runs unpinned
    try:
        yield [cpu for cpu, _ in held]
    finally:
        for _, fd in held:
            os.close(fd)  # closing the file releases its flock


@contextlib.contextmanager
def pinned(cpus: list[int]) -> Iterator[None]:
    """The calling thread (and every child it starts meanwhile) runs on `cpus`; unpinned when `cpus` is empty."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)  # pid 0: the calling thread only
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
