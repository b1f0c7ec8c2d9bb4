"""One `evolve` per run at a time: an advisory lock (flock) on the run directory itself.

Nothing is written for it (a refused start leaves the run as it was), the kernel drops it when its process dies,
kill -9 included, so a crashed run never needs cleaning up, and the descriptor is not inherited by sandboxed
children (Python opens files non-inheritable), so a worker that outlived its parent could not keep a run locked.
The holder's pid comes from the kernel's table of locks (/proc/locks).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rewardsmith.runs.store import RunStore, StoreError


class RunInUse(StoreError):
    """Another process holds the run's lock (pid: the holder, None where /proc/locks does not say)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


@contextmanager
def run_lock(store: RunStore) -> Iterator[None]:
    """Holds the run's lock for the block; StoreError naming the holder's pid when another process has it."""
    try:
        fd = os.open(store.root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise StoreError(f"run {store.root} cannot be opened: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise StoreError(f"run {store.root} cannot be locked: {err.strerror or err}") from None
            holder = lock_holder(store.root)
            pid = str(holder) if holder else "unknown"
            raise RunInUse(f"run {store.root} is in use by another rewardsmith evolve (pid {pid}); wait for it "
                           f"to finish or stop it{f' (kill {pid})' if holder else ''}, then --resume", holder) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_holder(run: Path) -> int | None:
    """The pid holding a flock on the run directory, or None (no holder, or /proc/locks is not readable)."""
    try:
        info = os.stat(run)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device and fields[4].isdigit():
            return int(fields[4])
    return None
