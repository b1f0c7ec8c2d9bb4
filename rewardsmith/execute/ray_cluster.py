"""A small Ray cluster on this machine, for the executor's tests and benchmark: a head and more nodes, each its
own `ray start --block` process (its own process group, temp dir and ports), stopped by those process groups only,
never with `ray stop` (which would end every Ray process on the machine, other people's clusters included).

`read_only` paths are bind-mounted read-only in the nodes' mount namespace (needs root): what the tasks on those
nodes cannot write, e.g. the driver's run directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_sessions(sessions: set[int]) -> list[int]:
    """Processes whose session is one of `sessions` (those started by this cluster's nodes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) in sessions:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def sandbox_workers_under(sessions: set[int]) -> list[tuple[int, int]]:
    """(sandbox child, its parent) for every sandboxed job whose parent runs in one of the cluster's nodes."""
    cluster = set(in_sessions(sessions))
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"rewardsmith.sandbox.worker" in cmdline and ppid in cluster:
            found.append((int(entry.name), ppid))
    return found


class LocalCluster:
    def __init__(self, nodes: int = 2, cpus: int = 1, read_only: tuple[Path, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.nodes, self.cpus, self.read_only = nodes, cpus, read_only
        self.env = {**os.environ, **RAY_ENV, **(env or {})}  # the nodes' environment (their workers inherit it)
        self.root = Path(tempfile.mkdtemp(prefix="rsray", dir="/tmp"))  # short: Ray's unix sockets live there
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout_s: float = 180) -> LocalCluster:
        try:
            self._start_node(head=True)
            self.wait_for(1, timeout_s)
            for _ in range(self.nodes - 1):
                self._start_node(head=False)
            self.wait_for(self.nodes, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, head: bool) -> None:
        index = len(self.procs)
        temp = self.root / f"n{index}"
        temp.mkdir()
        ports = {"--node-manager-port": free_port(), "--object-manager-port": free_port(),
                 "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                 "--metrics-export-port": free_port(), "--runtime-env-agent-port": free_port()}
        args = [str(Path(sys.executable).with_name("ray")), "start", "--block", f"--num-cpus={self.cpus}",
                "--num-gpus=0", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}", "--disable-usage-stats",
                "--object-store-memory=100000000", "--include-log-monitor=false",
                *(f"{k}={v}" for k, v in ports.items())]
        if head:
            args += ["--head", f"--port={self.port}", "--include-dashboard=false"]
        else:
            args += [f"--address={self.address}"]
        command = shlex.join(args)
        if self.read_only:
            mounts = " && ".join(f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))} && mount -o "
                                 f"remount,ro,bind {shlex.quote(str(p))}" for p in self.read_only)
            probes = " && ".join(f"! touch {shlex.quote(str(p / '.probe'))} 2>/dev/null" for p in self.read_only)
            command = f"unshare -m sh -c {shlex.quote(f'{mounts} && {probes} && exec {command}')}"
        log = open(self.root / f"n{index}.log", "wb")  # the node outlives this call
        self.procs.append(subprocess.Popen(command, shell=True, stdout=log, stderr=subprocess.STDOUT,
                                           env=self.env, start_new_session=True))
        log.close()

    def wait_for(self, count: int, timeout_s: float) -> None:
        """Until `count` nodes are alive in the cluster (asked by a short-lived driver in a child process)."""
        probe = ("import sys, time, ray\n"
                 f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
                 f"deadline = time.monotonic() + {timeout_s}\n"
                 f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
                 "    if time.monotonic() > deadline: sys.exit(1)\n"
                 "    time.sleep(0.5)\n")
        try:
            out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s + 60,
                                 env={**os.environ, **RAY_ENV})
        except subprocess.TimeoutExpired:
            out = None
        if out is None or out.returncode != 0:
            dead = [p.returncode for p in self.procs if p.poll() is not None]
            raise RuntimeError(f"{count} Ray node(s) not up in {timeout_s:g} s (exited: {dead}): "
                               f"{(out.stderr[-400:] if out else '')} {self.log_tail()}")

    def log_tail(self) -> str:
        return " | ".join((p.read_text(errors="replace")[-600:]) for p in sorted(self.root.glob("n*.log")))

    def stop(self) -> None:
        """Ends the nodes this cluster started (each node's process group), nothing else."""
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 20
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        sessions = {proc.pid for proc in self.procs}
        for proc in self.procs:  # whatever is left of each group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        for pid in in_sessions(sessions):  # Ray's workers lead groups of their own, in the node's session
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
