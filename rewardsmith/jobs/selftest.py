"""The "selftest" job: trusted probes that behave like code which escaped the Python-level sandbox.

Only the sandbox tests choose them (the parent sends the probe's name); each reports what the OS allowed.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _try(action: Callable[[], Any]) -> str:
    try:
        value = action()
        return "ok" if value is None else str(value)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _probe_network(p: dict, workdir: Path) -> dict:
    import socket

    out = {f"{h}:{port}": _try(lambda h=h, port=port: socket.create_connection((h, port), timeout=2).close())
           for h, port in p.get("targets", [])}
    return {"connect": out, "interfaces": [name for _, name in socket.if_nameindex()]}


def _probe_fork_bomb(p: dict, workdir: Path) -> dict:
    pids = []
    for _ in range(p.get("n", 10_000)):
        try:
            pid = os.fork()
        except OSError as exc:
            return {"forked": len(pids), "stopped_by": f"{type(exc).__name__}: {exc}", "pids": pids}
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        pids.append(pid)
    return {"forked": len(pids), "stopped_by": None, "pids": pids}


def _probe_orphan(p: dict, workdir: Path) -> dict:
    """A daemon that leaves the worker's process group (double fork + setsid); the cgroup must still kill it."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        pid = os.fork()
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        os.write(write_end, str(pid).encode())
        os._exit(0)
    pid = int(os.read(read_end, 32))
    return {"pid": pid}


def _probe_memory_children(p: dict, workdir: Path) -> dict:
    """Children that each stay under RLIMIT_DATA but together exceed the memory cgroup: some must be killed.
    Each holds its block for `hold_s` after touching it, so the children's memory overlaps for certain: without the
    hold a fast child could exit before the last one started, and the tree would never exceed the cap."""
    pids = []
    for _ in range(p["n"]):
        pid = os.fork()
        if pid == 0:
            block = bytearray(p["mb"] * 2**20)
            for i in range(0, len(block), 4096):
                block[i] = 1  # touch every page so it is really allocated
            time.sleep(p.get("hold_s", 0.0))
            os._exit(0)
        pids.append(pid)
    return {"statuses": [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]}


def _probe_jax(p: dict, workdir: Path) -> dict:
    """Imports jax and runs a jit (on a GPU where there is one): the confinement must not break the backends."""
    import jax
    import jax.numpy as jnp

    value = jax.jit(lambda a: (a * 2.0).sum())(jnp.ones(p.get("n", 1000)))
    return {"devices": [str(d) for d in jax.devices()], "value": float(value), "backend": jax.default_backend()}


def _probe_spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def run(payload: dict, workdir: Path, progress: Callable[[dict], None]) -> dict:
    """Probes for the sandbox tests; each reports what the OS allowed. Only the parent chooses them."""
    probe, p = payload.get("probe"), payload
    if probe == "environ":
        return {"environ": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid(), "sys_path": sys.path,
                "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_CPU", "RLIMIT_DATA",
                            "RLIMIT_FSIZE", "RLIMIT_CORE")}}
    if probe == "write":
        return {path: _try(lambda path=path: Path(path).write_text("pwned")) for path in p["paths"]}
    if probe == "delete":
        return {path: _try(lambda path=path: os.remove(path)) for path in p["paths"]}
    if probe == "read":
        return {path: _try(lambda path=path: Path(path).read_bytes()[:4000].decode("latin-1")) for path in p["paths"]}
    if probe == "signal_parent":
        return {"kill": _try(lambda: os.kill(os.getppid(), 0))}
    if probe == "progress":
        for i in range(p.get("n", 3)):
            progress({"step": i})
        return {"sent": p.get("n", 3)}
    simple = {
        "network": lambda: _probe_network(p, workdir),
        "fork_bomb": lambda: _probe_fork_bomb(p, workdir),
        "orphan": lambda: _probe_orphan(p, workdir),
        "memory_children": lambda: _probe_memory_children(p, workdir),
        "jax": lambda: _probe_jax(p, workdir),
        "memory": lambda: {"len": len(bytearray(p["mb"] * 2**20))},
        "sleep": lambda: time.sleep(p["s"]) or {},
        "spin": lambda: _probe_spin(p["s"]) or {},
        "stdout": lambda: sys.stdout.write("x" * (p["mb"] * 2**20)) and {},
        "big_result": lambda: {"data": "x" * p["n"]},
        "abort": lambda: os.abort(),
        "echo": lambda: {"payload": p},
    }
    if probe not in simple:
        raise KeyError(f"unknown probe {probe!r}")
    return simple[probe]()
