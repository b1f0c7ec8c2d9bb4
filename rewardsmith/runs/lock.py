"""One `evolve` per run at a time: an advisory lock (flock) on <run>/run.lock that holds the owner's pid.

The kernel drops the lock when its process dies, kill -9 included, so a crashed run never needs cleaning up; the
file stays behind and the next evolve takes it over. The descriptor is not inherited by sandboxed children
(Python opens files non-inheritable), so a worker that outlived its parent could not keep a run locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rewardsmith.runs.store import RunStore, StoreError

LOCK_NAME = "run.lock"


@contextmanager
def run_lock(store: RunStore) -> Iterator[None]:
    """Holds the run's lock for the block; StoreError naming the holder's pid when another process has it."""
    path = store.root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StoreError(f"run {store.root}: cannot open {LOCK_NAME}: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise StoreError(f"run {store.root}: cannot lock {LOCK_NAME}: {err.strerror or err}") from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreError(f"run {store.root} is in use by another rewardsmith evolve (pid {holder}); wait for it "
                             f"to finish or stop it (kill {holder}), then --resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def lock_holder(run: Path) -> int | None:
    """The pid holding the run's lock, or None when no process holds it."""
    path = Path(run) / LOCK_NAME
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        return None
    finally:
        os.close(fd)
