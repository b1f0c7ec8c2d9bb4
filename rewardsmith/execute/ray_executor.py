"""The Ray executor (`--executor ray [--ray-address HOST:PORT]`): one Ray task per training on a Ray cluster.

What is sent where:
- The driver (the `rewardsmith evolve` process) keeps the run store and the LLM calls. At connection it ships its
  own copy of the package, with the env folders inside it (rewardsmith/data/envs, the layout of an installed
  wheel), as the tasks' runtime environment (`py_modules`), so every node runs the driver's code and envs; the
  nodes need the dependencies installed (`pip install 'rewardsmith[ray]'`, the same Python). The user's own envs
  folder (REWARDSMITH_ENVS), when there is one, goes along as a module of its own (rewardsmith_user_envs), and the
  task points its sandboxed child at that copy.
- A task gets the training request (env and task names, the reward's source, the PPO settings; no path of the
  driver's) and, when a halving rung continues a training, its checkpoint's bytes. Nothing of the driver's
  environment is sent: no API key reaches a node.
- On its node the task starts the same confined sandbox child as a local training (sandbox/runner.py: scrubbed
  environment, rlimits, no network, Landlock) in a temporary directory of its own, pinned to as many CPUs as the
  task declared (execute/cpus.py), and streams back (pickled by Ray) where it runs (TaskPlaced), the child's
  progress as it trains (TrainProgress events, parsed on the node) and last its report (TaskDone).
- The artifacts (policy.npz, trace.npz, and checkpoint.npz on a halving rung) come back through Ray as bytes with
  the report; the driver writes them into the candidate's directory of its run, and a placement.json there
  records which node ran each attempt. Workers never see the driver's file system.

Faults: a task whose worker process or node dies is submitted once more (Ray places it wherever there is room,
another node if its own is gone); a second death fails the candidate with the reason. A cluster that cannot be
reached stops the run with one line (ExecutorUnavailable); `--resume` then resubmits only the unfinished
candidates, as for any interrupted run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.events import Placed, Retry, TrainingEvent
from rewardsmith.execute.cpus import claimed, pinned
from rewardsmith.execute.fanin import ExecutorUnavailable, fan_in
from rewardsmith.execute.sandboxed import MAX_COPIED_BYTES, OnProgress, TrainReport, TrainRequest, train_in_sandbox
from rewardsmith.resources import ENVS_DIR, PACKAGE_DIR, user_envs_dir
from rewardsmith.runs.store import PLACEMENT_FILE, write_json
from rewardsmith.sandbox.runner import read_untrusted_file
from rewardsmith.train.trainers import trainer

ATTEMPTS = 2  # a training whose worker dies is tried once more
SHIPPED = ("policy.npz", "trace.npz")  # what every training sends back
CHECKPOINT = "checkpoint.npz"  # sent there and back on a halving rung (request.checkpoint)
POLL_S = 2.0  # how often a waiting driver checks that the cluster is still there
USER_ENVS_MODULE = "rewardsmith_user_envs"  # the user's envs folder as shipped to the nodes


@dataclass(frozen=True)
class TaskPlaced:
    """A Ray task's first stream item: where it runs (the attempt's fields in placement.json)."""

    node: str  # the node's id, shortened
    host: str
    ip: str
    pid: int  # the Ray worker process

    def event(self, key: str, attempt: int) -> Placed:
        return Placed(key, attempt, self.host, node=self.node, ip=self.ip, pid=self.pid)


@dataclass(frozen=True)
class TaskDone:
    """A training task's last stream item: its report and the artifacts' bytes (by file name)."""

    report: TrainReport
    files: dict[str, bytes]


class RayExecutor:
    def __init__(self, address: str | None = None, cpus_per_task: float = 1.0) -> None:
        self.address = address  # None: a running cluster if there is one, else a new local one
        self.cpus_per_task = cpus_per_task

    def connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        reachable(self.address)  # Ray itself would retry an unreachable address for minutes
        staged = Path(tempfile.mkdtemp(prefix="rewardsmith-ship-"))
        try:  # ray.init uploads the package to the cluster: the copy is not needed afterwards
            modules = [str(stage_package(staged))] + [str(p) for p in [stage_user_envs(staged)] if p is not None]
            ray.init(address=self.address, runtime_env={"py_modules": modules},
                     log_to_driver=False, logging_level=logging.ERROR, include_dashboard=False)
        except Exception as err:
            raise ExecutorUnavailable(f"cannot reach the Ray cluster at {self.address or 'auto'}: "
                                      f"{one_line(err)}") from None
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def slots(self) -> int:
        """Trainings the cluster runs at once: its CPUs over a task's (adaptive allocation hands out that many
        slices a round)."""
        self.connect()
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_task))

    def gpus_for(self, request: TrainRequest) -> int:
        import ray

        return 1 if trainer(request.trainer).device == "gpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0

    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        if not requests:
            return
        self.connect()
        import ray

        # the GPU trainers take a GPU where the cluster has any (Ray sets the task's CUDA_VISIBLE_DEVICES, which the
        # sandbox passes on); elsewhere they train on the CPU like the others
        gpus = self.gpus_for(requests[0])
        remote = ray.remote(train_task).options(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=0)

        def job(request: TrainRequest, emit: OnProgress) -> TrainReport:
            return train_with_retry(remote, request, emit, max(1, int(self.cpus_per_task)))

        yield from fan_in(requests, job, len(requests), on_progress)  # Ray queues what the cluster has no room for


def reachable(address: str | None, timeout_s: float = 10) -> None:
    """A TCP connection to the cluster's address (host:port) opens; ExecutorUnavailable otherwise. None, "auto"
    and ray:// addresses are left to Ray."""
    if address is None or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as err:
        raise ExecutorUnavailable(f"cannot reach the Ray cluster at {address}: {err}") from None


def stage_user_envs(folder: Path) -> Path | None:
    """A copy of the user's own envs folder (REWARDSMITH_ENVS) as a module of its own, or None without one; on the
    node the task points its sandboxed child's REWARDSMITH_ENVS at it (shipped_user_envs)."""
    user = user_envs_dir()
    if user is None or not user.is_dir():
        return None
    target = folder / USER_ENVS_MODULE
    shutil.copytree(user, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def shipped_user_envs() -> dict[str, str]:
    """On a node: the child's REWARDSMITH_ENVS naming the user's envs the driver shipped (over whatever the node's
    own environment says), or nothing when none were shipped."""
    spec = importlib.util.find_spec(USER_ENVS_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return {"REWARDSMITH_ENVS": locations[0]} if locations else {}


def stage_package(folder: Path) -> Path:
    """A copy of the package as the tasks import it: the code, plus the env folders in rewardsmith/data/envs
    (resources.py looks there first)."""
    target = folder / "rewardsmith"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if not (target / "data" / "envs").is_dir():
        shutil.copytree(ENVS_DIR, target / "data" / "envs", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def worker_lost_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors for a task whose process or node died under it (not the task's own failure)."""
    from ray import exceptions as rx

    return (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError, rx.ObjectLostError)


def train_with_retry(remote: Any, request: TrainRequest, emit: OnProgress, cpus: int,
                     items: Callable[[Any], Iterator[Any]] | None = None,
                     cluster_check: Callable[[], None] | None = None) -> TrainReport:
    """Driver side: one training on the cluster, tried again once if its worker dies; its artifacts written into
    request.workdir, every attempt recorded in placement.json there. `items` (a task's stream -> its items) and
    `cluster_check` default to the watched stream and the head check; a test of the retry logic swaps them."""
    items = items or stream
    cluster_check = cluster_check or check_cluster
    from ray import exceptions as rx

    checkpoint = None
    if request.checkpoint:
        checkpoint = read_untrusted_file(request.workdir / CHECKPOINT, MAX_COPIED_BYTES)
    shipped = dataclasses.replace(request, workdir=Path("work"))  # no path of the driver's goes out
    attempts: list[dict[str, Any]] = []
    report = None
    for attempt in range(1, ATTEMPTS + 1):
        placed: dict[str, Any] = {"attempt": attempt}
        attempts.append(placed)
        try:
            for item in items(remote.remote(shipped, checkpoint, cpus)):
                if isinstance(item, TaskPlaced):
                    placed.update(dataclasses.asdict(item))
                    emit(item.event(request.key, attempt))
                elif isinstance(item, TaskDone):
                    report = item.report
                    write_files(request.workdir, item.files)
                    placed["outcome"] = report.status.value
                    break
                elif isinstance(item, TrainingEvent):  # the training's progress, its id the request's key
                    emit(item)
        except worker_lost_errors() as err:
            placed["outcome"] = f"worker lost: {one_line(err)}"
            cluster_check()  # a node that died with the whole cluster: nowhere to try again
            if attempt < ATTEMPTS:
                emit(Retry(request.key, attempt + 1, placed["outcome"]))
                continue
            report = TrainReport.failed(request.key, f"its Ray worker died {ATTEMPTS} times (last: "
                                                     f"{one_line(err)})")
        except rx.RayTaskError as err:  # the task itself failed on its node (not the sandboxed training)
            placed["outcome"] = "error"
            report = TrainReport.failed(request.key, f"the Ray task failed: {one_line(err)}")
        except (rx.RaySystemError, ConnectionError) as err:
            raise ExecutorUnavailable(f"lost the Ray cluster: {one_line(err)}") from None
        break
    request.workdir.mkdir(parents=True, exist_ok=True)
    write_json(request.workdir / PLACEMENT_FILE, {"attempts": attempts})
    if report is None:
        report = TrainReport.failed(request.key, "the Ray task ended without a report")
    return report


def stream(items: Any) -> Iterator[Any]:
    """A streaming task's items as they come, checking between them that the cluster still answers: without the
    check a driver whose cluster vanished waits until Ray's own client gives up and ends the process (60 s, a
    C++ log line, exit 1) instead of stopping the run in one line."""
    import ray

    while True:
        ready, _ = ray.wait([items], timeout=POLL_S)  # the next item is there, or the stream has ended
        if not ready:
            check_cluster()
            continue
        try:
            ref = next(items)
        except StopIteration:
            return
        yield ray.get(ref)


def check_cluster(tries: int = 3) -> None:
    """ExecutorUnavailable once the cluster's head (its GCS) refuses connections, or `tries` attempts in a row
    time out (a loaded head may be slow to accept; a dead one refuses at once)."""
    import ray

    address = ray.get_runtime_context().gcs_address
    host, _, port = address.rpartition(":")
    for _ in range(tries):
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return
        except ConnectionRefusedError as err:
            raise ExecutorUnavailable(f"lost the Ray cluster at {address}: its head refuses connections "
                                      f"({err.strerror})") from None
        except OSError:
            continue
    raise ExecutorUnavailable(f"lost the Ray cluster at {address}: its head did not answer {tries} times")


def write_files(workdir: Path, files: dict[str, bytes]) -> None:
    """The artifacts a task sent back, into the candidate's directory: only the names expected, never a path."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (*SHIPPED, CHECKPOINT):
        data = files.get(name)
        if not isinstance(data, bytes):
            continue
        tmp = workdir / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(workdir / name)


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def train_task(request: TrainRequest, checkpoint: bytes | None, cpus: int) -> Iterator[Any]:
    """On a worker node (a Ray streaming task): the sandboxed training in a temporary directory of this node;
    yields where it runs (TaskPlaced), then the child's progress (TrainProgress), then the report with the
    artifacts' bytes (TaskDone)."""
    yield placed_here()
    sweep_stale_task_dirs()
    root = Path(tempfile.mkdtemp(prefix=f"rewardsmith-task-{os.getpid()}-"))
    try:
        workdir = root / "work"
        workdir.mkdir()
        if checkpoint is not None:
            (workdir / CHECKPOINT).write_bytes(checkpoint)
        local = dataclasses.replace(request, workdir=workdir)
        report: TrainReport = yield from streamed(
            lambda emit: train_in_sandbox(local, emit, env=shipped_user_envs()), cpus)
        names = SHIPPED + ((CHECKPOINT,) if request.checkpoint else ())
        files: dict[str, bytes] = {}
        for name in names if report.ok else ():
            data = read_untrusted_file(workdir / name, MAX_COPIED_BYTES)
            if data is None:
                report = TrainReport.failed(request.key, f"the training left no {name}")
                files = {}
                break
            files[name] = data
        yield TaskDone(report, files)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def placed_here() -> TaskPlaced:
    """On a worker node: where this Ray task runs."""
    import ray

    return TaskPlaced(ray.get_runtime_context().get_node_id()[:12], socket.gethostname(),
                      ray.util.get_node_ip_address(), os.getpid())


def streamed(work: Callable[[Callable[[Any], None]], Any], cpus: int) -> Generator[Any, None, Any]:
    """A Ray streaming task's body: `work(emit)` runs on a thread pinned to `cpus` claimed CPUs (its sandboxed
    child follows the pinning); what it emits is yielded as it comes, and its result returned (what it raised,
    raised) — `result = yield from streamed(...)`."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            with claimed(cpus) as mine, pinned(mine):
                result = work(lambda item: events.put(("progress", item)))
            events.put(("result", result))
        except BaseException as err:  # raised again in the task's thread
            events.put(("error", err))

    threading.Thread(target=run, daemon=True).start()
    while True:
        kind, value = events.get()
        if kind == "progress":
            yield value
        elif kind == "error":
            raise value
        else:
            return value


def sweep_stale_task_dirs() -> None:
    """Removes the temporary directories of tasks whose worker process died (a killed worker cannot clean up)."""
    for path in Path(tempfile.gettempdir()).glob("rewardsmith-task-*-*"):
        pid = path.name.split("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
