"""Run a job on untrusted code in a confined child process (`python -m rewardsmith.sandbox.worker`), parent side.

Protections (each one that took effect is named in SandboxResult.isolation):
- "new-session": the child leads a new session/process group; the whole group is SIGKILLed on timeout and again
  after the child ends, so helpers it left behind die with it.
- "scrubbed-env": the child's environment is an allow-list (PATH, locale, MuJoCo/JAX/XLA/thread
  settings, REWARDSMITH_ENVS: the user's envs folder); names that look like secrets (KEY, TOKEN, SECRET, AWS_,
  OPENAI_, ...) are never passed, even if allow-listed.
- "tmp-cwd": cwd, HOME and TMPDIR are the job's own workdir.
- "safe-sys-path": `python -P -s`: the workdir is not on sys.path (a planted numpy.py is never imported) and the
  user site is ignored.
- "cgroup-pids" / "cgroup-memory" (cgroup v1, when this process may create cgroups, e.g. as root): a task cap for
  the whole tree (threads included) that holds where RLIMIT_NPROC does not (root), a memory cap for the whole
  tree, reliable "killed: out of memory" detection, and a kill of every process of the job, even those that
  escaped the process group with setsid.
- In the child (worker.confine): "rlimits" (CPU seconds, RLIMIT_DATA, file size, no core dumps), "netns" (an
  empty network namespace), "landlock-fs" (writes only under the workdir; reads only system dirs, the Python
  install and this package), "landlock-net" (no TCP), "landlock-scope" (no signals or abstract-socket
  connections to processes outside the sandbox), "no-new-privs".

Memory: RLIMIT_DATA, not RLIMIT_AS. RLIMIT_DATA counts private writable mappings (heap, numpy buffers, thread
stacks), so a memory bomb fails with MemoryError, while the large PROT_NONE address-space reservations that
XLA and the CUDA driver make do not count (RLIMIT_AS would break JAX on GPU). `import jax` + jit + MuJoCo fit in
well under 1 GB of RLIMIT_DATA.

The child's result is untrusted data: read with O_NOFOLLOW from regular files only, size-capped, parsed as JSON.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rewardsmith.resources import PACKAGE_DIR
from rewardsmith.sandbox.protocol import ISOLATION_FILE, MAX_RESULT_BYTES, RESULT_FILE, JobStatus

PACKAGE_ROOT = PACKAGE_DIR.parent  # on the child's PYTHONPATH: the directory that holds the package
_ENV_ALLOW = frozenset(
    "PATH LANG LANGUAGE LC_ALL LC_CTYPE TZ MUJOCO_GL PYOPENGL_PLATFORM EGL_PLATFORM JAX_PLATFORMS JAX_PLATFORM_NAME "
    "JAX_ENABLE_X64 JAX_DEFAULT_MATMUL_PRECISION XLA_FLAGS XLA_PYTHON_CLIENT_PREALLOCATE "
    "XLA_PYTHON_CLIENT_MEM_FRACTION XLA_PYTHON_CLIENT_ALLOCATOR TF_CPP_MIN_LOG_LEVEL OMP_NUM_THREADS "
    "MKL_NUM_THREADS OPENBLAS_NUM_THREADS NUMEXPR_NUM_THREADS CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES "
    "CUDA_DEVICE_ORDER NVIDIA_DRIVER_CAPABILITIES LD_LIBRARY_PATH CUDA_HOME PYTHONHASHSEED REWARDSMITH_ENVS".split()
)
_ENV_DENY = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|CERT|^AWS_|^OPENAI|^ANTHROPIC|^AZURE|^GOOGLE|"
    r"^GCP|^GEMINI|^HF_|^HUGGING|^GITHUB|^GH_|^LITELLM|^WANDB|^COHERE|^MISTRAL|^GROQ|^TOGETHER|^DEEPSEEK|^RAY_",
    re.IGNORECASE,
)
_STDERR_TAIL = 4000
_MAX_PROGRESS_LINE = 64 * 1024
_DEFAULT_TASKS = 1024  # threads count as tasks: JAX + MuJoCo use tens to a few hundred on big machines


@dataclass(frozen=True)
class Limits:
    wall_s: float = 600
    cpu_s: float | None = None  # None: wall_s * cpu count + 60
    memory_mb: int = 8192  # RLIMIT_DATA per process; the memory cgroup caps the tree at this + 512 MB
    file_mb: int = 256  # largest file the job may write (RLIMIT_FSIZE)
    max_processes: int | None = None  # tasks (processes + threads) in the pids cgroup; None: 1024
    network: bool = False
    read_paths: tuple[str, ...] = field(default=())  # extra directories the job may read (Landlock)

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.wall_s * (os.cpu_count() or 1) + 60


@dataclass(frozen=True)
class SandboxResult:
    status: JobStatus  # how the child ended (ok, error, timeout, killed, crashed)
    reason: str | None  # one line, for people and the LLM; None when ok
    result: dict | None  # the JSON the job returned
    returncode: int | None
    wall_s: float
    stderr_tail: str
    isolation: tuple[str, ...]


def scrubbed_env(workdir: Path, parent: dict[str, str] | None = None) -> dict[str, str]:
    parent = dict(os.environ if parent is None else parent)
    secrets = [v for k, v in parent.items() if _ENV_DENY.search(k) and len(v) >= 8]
    env = {k: v for k, v in parent.items()
           if k in _ENV_ALLOW and not _ENV_DENY.search(k) and not any(s in v for s in secrets)}
    env.update(HOME=str(workdir), TMPDIR=str(workdir / "tmp"), PYTHONPATH=str(PACKAGE_ROOT),
               PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1", PYTHONUNBUFFERED="1")
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


# --- cgroups (v1) -------------------------------------------------------------------------------------------------


def own_cgroup_dir(controller: str) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            base = Path("/sys/fs/cgroup", controller, path.lstrip("/"))
            return base if base.is_dir() and os.access(base, os.W_OK) else None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _no_swap_beyond_the_cap(path: Path, memory_bytes: int) -> None:
    """On a host with swap the memory cap alone only pushes the job's pages out to swap (seen on CI: four 280 MB
    children all finished under an 812 MB cap). Capping memory + swap at the same figure, and swappiness 0, make
    the cap mean what it says. Best-effort each: memsw exists only where the kernel accounts swap."""
    for name, value in (("memory.memsw.limit_in_bytes", memory_bytes), ("memory.swappiness", 0)):
        try:
            (path / name).write_text(str(value))
        except OSError:
            pass


class _Cgroups:
    """One pids and one memory cgroup per job; every method is best-effort (none of this exists without root)."""

    def __init__(self, max_tasks: int, memory_bytes: int) -> None:
        self.name = f"rewardsmith-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.paths: dict[str, Path] = {}
        for ctrl, settings in (("pids", {"pids.max": max_tasks}), ("memory", {"memory.limit_in_bytes": memory_bytes})):
            base = own_cgroup_dir(ctrl)
            if base is None:
                continue
            _sweep_stale(base)
            path = base / self.name
            try:
                path.mkdir()
                for name, value in settings.items():
                    (path / name).write_text(str(value))
                self.paths[ctrl] = path
            except OSError:
                _rmdir(path)
        if "memory" in self.paths:
            _no_swap_beyond_the_cap(self.paths["memory"], memory_bytes)

    def procs(self) -> set[int]:
        pids: set[int] = set()
        for path in self.paths.values():
            try:
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def kill_all(self, rounds: int = 200) -> None:
        """SIGKILL every process in the job's cgroups until none is left (a fork bomb refills it for a while)."""
        for _ in range(rounds):
            pids = self.procs()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        path = self.paths.get("memory")
        if path is None:
            return False
        try:
            control = (path / "memory.oom_control").read_text()
            match = re.search(r"oom_kill (\d+)", control)
            if match:
                return int(match.group(1)) > 0
            return int((path / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def remove(self) -> None:
        for path in self.paths.values():
            _rmdir(path)


def _rmdir(path: Path) -> None:
    for _ in range(50):  # a killed task leaves the cgroup a moment after SIGKILL
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _sweep_stale(base: Path) -> None:
    """Remove empty cgroups left by a parent that died without cleaning up."""
    try:
        for path in base.glob("rewardsmith-*-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not _alive(int(pid)) and not (path / "cgroup.procs").read_text().strip():
                path.rmdir()
    except OSError:
        pass


# --- waiting, progress, reading the outcome -----------------------------------------------------------------------


def _forward_lines(buffer: bytes, on_progress: Callable[[dict], None] | None) -> bytes:
    """Complete JSON-object lines go to on_progress (untrusted data: oversized lines and non-objects are dropped);
    the incomplete tail is returned."""
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        if len(line) > _MAX_PROGRESS_LINE:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if on_progress is not None and isinstance(event, dict):
            on_progress(event)
    return rest if len(rest) <= _MAX_PROGRESS_LINE else b""  # an endless line is dropped, not buffered


def _exited(pid: int) -> bool:
    """Has the child exited? WNOWAIT leaves it a zombie so its pid (and process group id) cannot be reused yet."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _wait(pid: int, read_fd: int, deadline: float, on_progress: Callable[[dict], None] | None) -> bool:
    """Block (no busy loop: poll on a pidfd and the progress pipe) until the child exits or the deadline; True on
    timeout. Without pidfd support the child is checked every 0.2 s."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    buffer = b""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            wait_ms = remaining * 1000 if pidfd is not None else min(remaining, 0.2) * 1000
            for fd, _ in poller.poll(max(wait_ms, 1)):
                if fd == read_fd:
                    chunk = _read_nonblocking(read_fd)
                    if chunk is None:
                        poller.unregister(read_fd)  # EOF: without this, POLLHUP would spin the loop
                    else:
                        buffer = _forward_lines(buffer + chunk, on_progress)
            if _exited(pid):
                _forward_lines(buffer + (_read_nonblocking(read_fd) or b"") + b"\n", on_progress)
                return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _read_nonblocking(fd: int) -> bytes | None:
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""
    return data or None


def read_untrusted_file(path: Path, limit: int, tail: bool = False) -> bytes | None:
    """A regular file written by the child, without following links or blocking on FIFOs; None if absent/odd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size > limit and not tail):
            return None
        if tail and info.st_size > limit:
            os.lseek(fd, info.st_size - limit, os.SEEK_SET)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _load_json(path: Path, limit: int) -> object:
    data = read_untrusted_file(path, limit)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _classify(rc: int, timed_out: bool, result: object, limits: Limits, cg: _Cgroups,
              stderr: str) -> tuple[JobStatus, str | None]:
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")[:300]
    if timed_out:
        return JobStatus.TIMEOUT, f"exceeded the wall-clock limit of {limits.wall_s:g} s and was killed"
    if isinstance(result, dict) and "error" in result:
        return JobStatus.ERROR, str(result["error"]).strip().split("\n")[0][:500] or "the job failed"
    if isinstance(result, dict):
        return JobStatus.OK, None
    if rc < 0:
        sig = -rc
        if cg.oom_killed():
            return JobStatus.KILLED, f"exceeded the memory limit of {limits.memory_mb} MB and was killed"
        if sig == signal.SIGXCPU:
            return JobStatus.KILLED, f"exceeded the CPU time limit of {limits.cpu_seconds:g} s and was killed"
        if sig == signal.SIGXFSZ:
            return JobStatus.KILLED, f"wrote a file larger than the limit of {limits.file_mb} MB and was killed"
        if sig == signal.SIGKILL:
            return JobStatus.KILLED, "was killed by SIGKILL (probably out of memory)"
        hint = " (out of memory?)" if re.search(r"memory|alloc", stderr, re.IGNORECASE) else ""
        return JobStatus.CRASHED, f"crashed with {signal.Signals(sig).name}{hint}: {last}".rstrip(": ")
    return JobStatus.CRASHED, f"exited with code {rc} without a result: {last}".rstrip(": ")


def _isolation(workdir: Path) -> list[str]:
    names = _load_json(workdir / ISOLATION_FILE, 4096)
    return [n for n in names if isinstance(n, str) and len(n) < 40][:20] if isinstance(names, list) else []


def _spec(entry: str, payload: dict, workdir: Path, limits: Limits, cg: _Cgroups, progress_fd: int) -> dict:
    cpu = int(limits.cpu_seconds)
    rlimits = {"cpu": [cpu, cpu + 5], "data": [limits.memory_mb * 2**20] * 2, "fsize": [limits.file_mb * 2**20] * 2,
               "core": [0, 0]}
    if limits.max_processes is not None and os.geteuid() != 0:  # root ignores RLIMIT_NPROC; it is per user anyway
        rlimits["nproc"] = [limits.max_processes] * 2
    confine = {"rlimits": rlimits, "network": limits.network, "landlock": True,
               "cgroups": [str(p) for p in cg.paths.values()], "read_paths": list(limits.read_paths)}
    return {"entry": entry, "payload": payload, "progress_fd": progress_fd, "memory_mb": limits.memory_mb,
            "confine": confine, "parent_pid": os.getpid()}


def run_in_sandbox(
    entry: str,
    payload: dict,
    workdir: Path,
    limits: Limits = Limits(),
    on_progress: Callable[[dict], None] | None = None,
    env: dict[str, str] | None = None,
) -> SandboxResult:
    """Run the job `entry` ("package.module:function", a `protocol.Job`; the jobs layer names them) in a confined
    child; never raises for anything the child does. `env`:
    variables set for the child over its scrubbed environment (the GPU a --parallel slot owns)."""
    start = time.monotonic()
    workdir = Path(workdir).resolve()
    cg = _Cgroups(limits.max_processes or _DEFAULT_TASKS, (limits.memory_mb + 512) * 2**20)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(read_fd, False)
    try:
        _prepare(workdir)
        jobfile = workdir / "job.json"
        with _create(jobfile) as f:
            f.write(json.dumps(_spec(entry, payload, workdir, limits, cg, write_fd)).encode())
        with _create(workdir / "stdout.txt") as out, _create(workdir / "stderr.txt") as err:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-s", "-m", "rewardsmith.sandbox.worker", str(jobfile)],
                cwd=workdir, env=scrubbed_env(workdir) | (env or {}), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                pass_fds=(write_fd,), start_new_session=True,
            )
        os.close(write_fd)
        write_fd = -1
        try:
            timed_out = _wait(proc.pid, read_fd, start + limits.wall_s, on_progress)
        finally:
            _kill_group(proc.pid)  # before reaping: the group id cannot have been reused yet
            cg.kill_all()
            rc = proc.wait()
        wall = time.monotonic() - start
        stderr_bytes = read_untrusted_file(workdir / "stderr.txt", _STDERR_TAIL, tail=True) or b""
        stderr = stderr_bytes.decode("utf-8", "replace")
        result = _load_json(workdir / RESULT_FILE, MAX_RESULT_BYTES + 1024)
        status, reason = _classify(rc, timed_out, result, limits, cg, stderr)
        isolation = ["new-session", "scrubbed-env", "tmp-cwd", "safe-sys-path"] + _isolation(workdir)
        return SandboxResult(status, reason, result if isinstance(result, dict) else None, rc, wall, stderr,
                             tuple(dict.fromkeys(isolation)))
    except OSError as exc:
        return SandboxResult(JobStatus.CRASHED, f"the sandbox could not run the worker: {exc}", None, None,
                             time.monotonic() - start, "", ())
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        cg.kill_all()
        cg.remove()


def _prepare(workdir: Path) -> None:
    """Create the workdir and its tmp/, and remove what an earlier job there left where this one writes."""
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "tmp").is_symlink():
        (workdir / "tmp").unlink()
    (workdir / "tmp").mkdir(exist_ok=True)
    for stale in (RESULT_FILE, ISOLATION_FILE, RESULT_FILE + ".tmp"):
        path = workdir / stale
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)


def _create(path: Path):
    """A new file for writing, never through a link or into an existing file: an earlier job in the same workdir
    may have planted `stdout.txt -> /etc/passwd`, and this process may be root."""
    try:
        if path.is_symlink() or path.exists():
            path.unlink()
    except IsADirectoryError:
        raise OSError(f"{path} is a directory") from None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "wb")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
