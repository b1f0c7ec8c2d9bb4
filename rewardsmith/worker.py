"""The sandboxed child's entry point: `python -P -s -m rewardsmith.worker JOBFILE` (started by sandbox.run_job).

The worker first confines itself, while it is still single-threaded and before any untrusted code exists in the
process, then runs one job from JOBS and writes its JSON result atomically. Confinement happens here rather than in
a Popen `preexec_fn` because preexec_fn is not safe in a multi-threaded parent (the evolve loop checks candidates
from a thread pool) and because some steps (Landlock, unshare) only bind the calling thread: they must run before
numpy/jax start their thread pools. So this module imports only the standard library at the top.

Order matters: join the cgroups (needs write access to cgroupfs) → rlimits → new network namespace (needs
CAP_SYS_ADMIN, or a user namespace) → Landlock (no writes outside the workdir, reads only where Python, the package
and the system libraries live, no TCP, no signals to or sockets with processes outside the sandbox).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import site
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

RESULT_FILE = "result.json"
ISOLATION_FILE = "isolation.json"
MAX_RESULT_BYTES = 32 * 2**20

# --- Landlock (Linux >= 5.13), through raw syscalls: no dependency, x86_64 / aarch64 numbers are the same ---------
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE | READ_FILE | READ_DIR
_FS_FILE_RW = (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
_FS_FILE_ONLY = (1 << 0) | _FS_FILE_RW  # the rights a rule on a non-directory may carry
_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _landlock_handled_fs(abi: int) -> int:
    bits = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        bits |= 1 << 13  # REFER
    if abi >= 3:
        bits |= 1 << 14  # TRUNCATE
    if abi >= 5:
        bits |= 1 << 15  # IOCTL_DEV
    return bits


def _read_paths(extra: list[str]) -> list[str]:
    """Read-only: system dirs, the Python install, this package and envs/. Not /proc as a whole (other processes'
    environ, the parent's API keys included), not /tmp, /home, /root or the rest of the repository (runs/, .env)."""
    package = Path(__file__).resolve().parent
    paths = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/sys", "/proc/cpuinfo",
             "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/driver",
             sys.prefix, sys.base_prefix, sys.exec_prefix, str(package), str(package.parent / "envs")]
    return paths + list(site.getsitepackages()) + list(extra)


def _read_write_paths() -> list[str]:
    """Files the jobs may open read-write besides the workdir: harmless character devices, GPU nodes (train job),
    and this process's own /proc/<pid> (the CUDA driver's cuInit fails with CUDA_ERROR_OPERATING_SYSTEM without
    write access there; other processes' /proc entries, /proc/<parent>/environ included, stay unreadable)."""
    dev = Path("/dev")
    names = ["null", "zero", "full", "random", "urandom"]
    gpus = [p.name for p in dev.glob("nvidia*")] if dev.is_dir() else []
    paths = [str(dev / n) for n in names + gpus] + (["/dev/dri"] if (dev / "dri").is_dir() else [])
    return paths + [f"/proc/{os.getpid()}"]


def _landlock(workdir: Path, read_extra: list[str], deny_tcp: bool) -> list[str]:
    libc = _libc()
    abi = libc.syscall(_SYS_CREATE, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return []
    handled = _landlock_handled_fs(abi)
    attr = _RulesetAttr(handled, 0b11 if (deny_tcp and abi >= 4) else 0, 0b11 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(_SYS_CREATE, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return []
    try:
        rules = [(p, _FS_READ) for p in _read_paths(read_extra)]
        rules += [(p, _FS_FILE_RW | _FS_READ) for p in _read_write_paths()] + [(str(workdir), handled)]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine lacks
            try:
                if not os.path.isdir(path):
                    access &= _FS_FILE_ONLY
                libc.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(_PathBeneath(access & handled, fd)), 0)
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(_SYS_RESTRICT, ruleset, 0) != 0:
            return []
    finally:
        os.close(ruleset)
    applied = ["no-new-privs", "landlock-fs"]
    return applied + (["landlock-net"] if attr.handled_access_net else []) + (["landlock-scope"] if attr.scoped else [])


def _unshare_network() -> list[str]:
    libc = _libc()
    if libc.unshare(_CLONE_NEWNET) == 0:
        return ["netns"]
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:  # unprivileged: a user namespace grants CAP_SYS_ADMIN
        return ["netns", "userns"]
    return []


def _set_rlimits(limits: dict) -> list[str]:
    table = {"cpu": resource.RLIMIT_CPU, "data": resource.RLIMIT_DATA, "fsize": resource.RLIMIT_FSIZE,
             "core": resource.RLIMIT_CORE, "nproc": resource.RLIMIT_NPROC}
    for name, (soft, hard) in limits.items():
        _, current_hard = resource.getrlimit(table[name])
        if current_hard != resource.RLIM_INFINITY:  # without privileges a hard limit can only be lowered
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(table[name], (soft, hard))
    return ["rlimits"] if limits else []


def _join_cgroups(paths: list[str]) -> list[str]:
    applied = []
    for path in paths:
        try:
            Path(path, "cgroup.procs").write_text(str(os.getpid()))
            applied.append(_cgroup_label(path))
        except OSError:
            pass
    return applied


def _cgroup_label(path: str) -> str:
    return "cgroup-memory" if "/memory/" in path else "cgroup-pids" if "/pids/" in path else "cgroup"


def confine(spec: dict, workdir: Path) -> list[str]:
    """Apply every protection the parent asked for; returns the names of those that took effect."""
    single_threaded = len(os.listdir("/proc/self/task")) == 1 if os.path.isdir("/proc/self/task") else True
    applied = _join_cgroups(spec.get("cgroups", []))
    applied += _set_rlimits({k: tuple(v) for k, v in spec.get("rlimits", {}).items()})
    if not spec.get("network", False):
        applied += _unshare_network()
    if spec.get("landlock", True) and single_threaded:
        applied += _landlock(workdir, spec.get("read_paths", []), deny_tcp=not spec.get("network", False))
    return applied


# --- jobs ---------------------------------------------------------------------------------------------------------


def _check_job(payload: dict, workdir: Path, progress: Callable[[dict], None]) -> dict:
    from rewardsmith.check import run_check_job

    return run_check_job(payload, workdir, progress)


def _train_job(payload: dict, workdir: Path, progress: Callable[[dict], None]) -> dict:
    from rewardsmith.train.job import run  # written by the trainer's owner; imported only when a train job runs

    return run(payload, workdir, progress)


# --- selftest: trusted probes that behave like code which escaped the Python-level sandbox --------------------------


def _try(action: Callable[[], Any]) -> str:
    try:
        value = action()
        return "ok" if value is None else str(value)
    except Exception as exc:  # noqa: BLE001 - the probe reports what the OS refused
        return f"{type(exc).__name__}: {exc}"


def _probe_network(p: dict, workdir: Path) -> dict:
    import socket

    out = {f"{h}:{port}": _try(lambda h=h, port=port: socket.create_connection((h, port), timeout=2).close())
           for h, port in p.get("targets", [])}
    return {"connect": out, "interfaces": [name for _, name in socket.if_nameindex()]}


def _probe_fork_bomb(p: dict, workdir: Path) -> dict:
    import time

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
    import time

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
    """Children that each stay under RLIMIT_DATA but together exceed the memory cgroup: some must be killed."""
    pids = []
    for _ in range(p["n"]):
        pid = os.fork()
        if pid == 0:
            block = bytearray(p["mb"] * 2**20)
            for i in range(0, len(block), 4096):
                block[i] = 1  # touch every page so it is really allocated
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
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _selftest(payload: dict, workdir: Path, progress: Callable[[dict], None]) -> dict:
    """Probes for the sandbox tests; each reports what the OS allowed. Only the parent chooses them."""
    import time

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


JOBS: dict[str, Callable[[dict, Path, Callable[[dict], None]], dict]] = {
    "check": _check_job,
    "train": _train_job,
    "selftest": _selftest,
}


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
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    jobfile = Path(argv[1]).resolve()
    workdir = jobfile.parent
    spec = json.loads(jobfile.read_text())
    _die_with_parent(spec.get("parent_pid"))
    applied = confine(spec.get("confine", {}), workdir)
    (workdir / ISOLATION_FILE).write_text(json.dumps(applied))
    progress = _progress_writer(spec.get("progress_fd"))
    try:
        job = JOBS.get(spec["job"])
        if job is None:
            raise KeyError(f"unknown job {spec['job']!r}; known: {sorted(JOBS)}")
        result = job(spec.get("payload", {}), workdir, progress)
        if not isinstance(result, dict):
            raise TypeError(f"job {spec['job']!r} returned {type(result).__name__}, not a dict")
    except BaseException as exc:  # noqa: BLE001 - every failure of the job becomes a result the parent can read
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
