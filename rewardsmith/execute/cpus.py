"""CPU and GPU shares for trainings that run side by side on one machine (`--parallel N`, or several Ray tasks on a
node).

A training uses every CPU its process may run on: the native trainer sizes MuJoCo's threads to the process's CPU
affinity (env/sim.py) and XLA sizes its pool the same way. So dividing the threads between N trainings means
pinning each one's sandboxed child to its own CPUs: the thread that starts the child pins itself first (a child
inherits the affinity of the thread that forked it) and the child's threads follow.

Which CPUs are free is agreed through lock files, one per CPU, in a directory every process on the machine sees
(the temp dir): a claim is an flock on the file, released when its holder lets go or dies. So the trainings of one
run, two runs, or two Ray nodes on one machine (the cluster test) never pin two children to the same CPU while
another sits idle. When fewer CPUs are free than asked, a claim takes what is free, and none at all leaves the
child unpinned (sharing, never waiting).

GPUs are claimed the same way, one per training (lock files gpu-<id>.lock): the child sees only its GPU through
CUDA_VISIBLE_DEVICES, so XLA's memory preallocation and kernels of two trainings never land on one device while
another idles. With more trainings than GPUs, the ones left over share a GPU, chosen round-robin. (On a Ray
cluster Ray assigns the GPUs itself and sets CUDA_VISIBLE_DEVICES for its task, which the sandbox passes on.)
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
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
    with _claimed(available_cpus(), count, lock_dir, lambda cpu: f"cpu{cpu}.lock") as cpus:
        yield cpus


@contextlib.contextmanager
def _claimed(items: list, count: int, lock_dir: Path, lock_name) -> Iterator[list]:
    if count >= len(items):
        yield items
        return
    held: list[tuple[object, int]] = []
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        for item in items:
            if len(held) == count:
                break
            fd = os.open(lock_dir / lock_name(item), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append((item, fd))
    except OSError:
        pass  # no lock directory: the claims are advisory, the training runs unpinned
    try:
        yield [item for item, _ in held]
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


def visible_gpus() -> tuple[list[str], dict[str, str]]:
    """The GPUs this process may hand out, and the variables that make a child's CUDA_VISIBLE_DEVICES name them:
    the entries of CUDA_VISIBLE_DEVICES when it is set (in the order the user's CUDA_DEVICE_ORDER gives them),
    else nvidia-smi's indices, which count in PCI bus order. None without an NVIDIA driver."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        ids = []
        for entry in (e.strip() for e in given.split(",")):
            if not entry or entry.startswith("-"):
                break  # CUDA stops at the first invalid entry: "-1" or "" hides every GPU
            ids.append(entry)
        return ids, {}
    if shutil.which("nvidia-smi") is None:
        return [], {}
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return [], {}
    ids = [line.strip() for line in listed.stdout.splitlines() if line.strip().isdigit()]
    return (ids, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}) if listed.returncode == 0 else ([], {})


class GpuSlots:
    """One GPU per training while there are free ones (claimed by lock file, so two runs on a machine agree),
    then round-robin sharing; nothing when the machine has no GPU."""

    def __init__(self, gpus: Sequence[str] | None = None, order_env: dict[str, str] | None = None,
                 lock_dir: Path = LOCK_DIR) -> None:
        if gpus is None:
            found, order_env = visible_gpus()
            gpus = found
        self.gpus, self.order_env, self.lock_dir = list(gpus), dict(order_env or {}), lock_dir
        self._spill = itertools.count()

    @contextlib.contextmanager
    def one(self) -> Iterator[tuple[str | None, dict[str, str]]]:
        """Yields (the GPU, the child's variables for it); (None, {}) without GPUs: the child sees what we see."""
        if not self.gpus:
            yield None, {}
            return
        name = lambda gpu: "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", gpu) + ".lock"  # noqa: E731 - ids may be UUIDs
        with _claimed(self.gpus, 1, self.lock_dir, name) as mine:
            gpu = mine[0] if mine else self.gpus[next(self._spill) % len(self.gpus)]
            yield gpu, {"CUDA_VISIBLE_DEVICES": gpu, **self.order_env}
