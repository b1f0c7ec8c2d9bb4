"""How the sandboxed worker confines itself (worker.py calls `confine` first, while it is single-threaded).

Order matters: join the cgroups (needs write access to cgroupfs) -> rlimits -> new network namespace (needs
CAP_SYS_ADMIN, or a user namespace) -> Landlock (no writes outside the workdir, reads only where Python, the package
and the system libraries live, no TCP, no signals to or sockets with processes outside the sandbox).
Standard library only: nothing else may be imported before the confinement holds.
"""

from __future__ import annotations

import ctypes
import os
import resource
import site
import sys
from pathlib import Path

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


def libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib


def _landlock_handled_fs(abi: int) -> int:
    bits = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        bits |= 1 << 13  # REFER
    if abi >= 3:
        bits |= 1 << 14  # TRUNCATE
    if abi >= 5:
        bits |= 1 << 15  # IOCTL_DEV
    return bits


def read_paths(extra: list[str]) -> list[str]:
    """Read-only: system dirs, the Python install, this package and envs/. Not /proc as a whole (other processes'
    environ, the parent's API keys included), not /tmp, /home, /root or the rest of the repository (runs/, .env)."""
    from rewardsmith.resources import ENVS_DIR, PACKAGE_DIR, user_envs_dir

    user = user_envs_dir()  # the user's own envs folder (REWARDSMITH_ENVS), read-only like envs/
    paths = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/sys", "/proc/cpuinfo",
             "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/driver",
             sys.prefix, sys.base_prefix, sys.exec_prefix, str(PACKAGE_DIR), str(ENVS_DIR)]
    if user is not None and user.is_dir():
        paths.append(str(user))
    return paths + list(site.getsitepackages()) + _import_paths(PACKAGE_DIR) + list(extra)


def _import_paths(package: Path) -> list[str]:
    """The directories Python imports from (sys.path, .pth additions included: a venv may take its dependencies
    from another installation), except the one that holds this package: in a source checkout that is the
    repository root, whose runs/ and secrets the jobs must not read (the package itself is allowed above)."""
    found = []
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and not package.resolve().is_relative_to(path):
            found.append(str(path))
    return found


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
    lib = libc()
    abi = lib.syscall(_SYS_CREATE, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return []
    handled = _landlock_handled_fs(abi)
    attr = _RulesetAttr(handled, 0b11 if (deny_tcp and abi >= 4) else 0, 0b11 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = lib.syscall(_SYS_CREATE, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return []
    try:
        rules = [(p, _FS_READ) for p in read_paths(read_extra)]
        rules += [(p, _FS_FILE_RW | _FS_READ) for p in _read_write_paths()] + [(str(workdir), handled)]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine lacks
            try:
                if not os.path.isdir(path):
                    access &= _FS_FILE_ONLY
                lib.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(_PathBeneath(access & handled, fd)), 0)
            finally:
                os.close(fd)
        if lib.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or lib.syscall(_SYS_RESTRICT, ruleset, 0) != 0:
            return []
    finally:
        os.close(ruleset)
    applied = ["no-new-privs", "landlock-fs"]
    return applied + (["landlock-net"] if attr.handled_access_net else []) + (["landlock-scope"] if attr.scoped else [])


def _unshare_network() -> list[str]:
    lib = libc()
    if lib.unshare(_CLONE_NEWNET) == 0:
        return ["netns"]
    if lib.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:  # unprivileged: a user namespace grants CAP_SYS_ADMIN
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
