"""Executors: where and how a generation's trainings run. `train_all` hands an executor the whole generation at
once and takes the reports as they finish, so an executor may run them one by one, in parallel, remotely, or
stop weak ones early; the records it returns are the same.

  local  sandboxed child processes on this machine: one training at a time (--parallel 1: each uses every
         core), or N at once (--parallel N), each pinned to its share of the CPUs and given a GPU of its own where
         there are GPUs (execute/cpus.py); placement.json in its workdir says which. A call with fewer trainings
         than N shares the CPUs among those it has (a lone one, halving's last rung or one racing seed, runs
         unpinned on every core). The default (parallel_of) is 2 for a CPU trainer on a machine of 2 CPUs or more
         and no GPU, else 1
  ray    one Ray task per training on a Ray cluster (execute/ray_executor.py): the task starts the same sandboxed
         child on its node and ships the artifacts back; the driver keeps the run store and the LLM calls

With the population trainer the whole generation is one sandboxed job: here, or as one Ray task on a node with a GPU
(execute/ray_population.py).

Progress and reports reach the caller on its own thread (execute/fanin.py): the stage's callbacks print and save without
locks, whichever thread or node did the work.
"""

from __future__ import annotations

import importlib.util
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from rewardsmith.config import RunConfig
from rewardsmith.errors import UserError
from rewardsmith.events import Placed
from rewardsmith.execute.cpus import GpuSlots, available_cpus, claimed, pinned, share, visible_gpus
from rewardsmith.execute.fanin import fan_in
from rewardsmith.execute.sandboxed import (
    OnProgress,
    TrainReport,
    TrainRequest,
    same_settings,
    train_in_sandbox,
    train_together,
)
from rewardsmith.registry import Registry
from rewardsmith.runs.store import PLACEMENT_FILE, write_json
from rewardsmith.train.trainers import trainer

RAY_EXTRA = "ray"  # pip install 'rewardsmith[ray]'


class Executor(Protocol):
    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        """Trains every request; yields each report as soon as its training ends (in any order). `on_progress`
        gets each training's events on the caller's thread, their id the request's key."""
        ...


class LocalExecutor:
    """Sandboxed trainings on this machine, `parallel` at a time; with parallel > 1 each child runs on its own
    share of the CPUs, so its trainer's threads are divided, not oversubscribed."""

    def __init__(self, parallel: int = 1) -> None:
        self.parallel = parallel

    def slots(self) -> int:
        """Trainings at once (adaptive allocation hands out that many slices a round)."""
        return self.parallel

    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        if requests and requests[0].group_dir is not None:  # the population trainer: one job per settings
            for group in same_settings(requests):
                yield from train_together(group, on_progress)
            return
        at_once = min(self.parallel, len(requests))  # a lone training (a last rung, one racing seed): every core
        if at_once <= 1:
            for request in requests:
                yield train_in_sandbox(request, on_progress)
            return
        cpus, gpus = share(at_once), GpuSlots()

        def job(request: TrainRequest, emit: OnProgress) -> TrainReport:
            with claimed(cpus) as mine, pinned(mine), gpus.one() as (gpu, gpu_env):
                placed: dict[str, Any] = {"attempt": 1, "host": socket.gethostname(), "cpus": mine, "gpu": gpu}
                emit(Placed(request.key, 1, placed["host"], cpus=tuple(mine), gpu=gpu))
                report = train_in_sandbox(request, emit, env=gpu_env)
            request.workdir.mkdir(parents=True, exist_ok=True)
            placed["outcome"] = report.status.value
            write_json(request.workdir / PLACEMENT_FILE, {"attempts": [placed]})
            return report

        yield from fan_in(requests, job, at_once, on_progress)


def check_executor(cfg: RunConfig) -> None:
    """The executor settings of a run, checked before anything is written; ValueError (one line) otherwise."""
    EXECUTORS.check(cfg.executor)
    if cfg.parallel is not None and cfg.parallel < 1:
        raise UserError(f"--parallel must be a positive integer, got {cfg.parallel}")
    if cfg.executor != "local" and cfg.parallel not in (None, 1):
        raise UserError(f"--parallel is for --executor local; --executor {cfg.executor} runs as many trainings "
                         "at once as the cluster has room for")
    if cfg.ray_address is not None and cfg.executor != "ray":
        raise UserError(f"--ray-address is the Ray cluster of --executor ray; with --executor {cfg.executor} it would "
                        "be ignored: add --executor ray, or leave --ray-address out")
    if cfg.ray_address is not None and not re.fullmatch(r"auto|ray://\S+|[^\s:/]+:\d{1,5}", cfg.ray_address):
        raise UserError(f"--ray-address {cfg.ray_address!r} is not a Ray address; give the head's HOST:PORT, "
                         "e.g. 10.0.0.5:6379")
    if cfg.executor == "ray":
        if importlib.util.find_spec("ray") is None:
            raise UserError(f"--executor ray needs Ray, which is not installed: pip install "
                             f"'rewardsmith[{RAY_EXTRA}]' (or scripts/setup.sh test {RAY_EXTRA})")


AUTO_PARALLEL = 2  # the default's trainings at once, where parallel_of says they pay


def parallel_of(cfg: RunConfig) -> int:
    """Trainings at once on this machine: --parallel where given; else AUTO_PARALLEL for a trainer that trains one
    candidate per process on the CPU, on a machine of that many CPUs or more and no GPU, and 1 otherwise.

    Why two: a training's PPO update is single-threaded, and one core idles through it; two trainings, each pinned to
    its own core, keep both cores on physics and updates. On 2 idle cores (`bench cpu`, humanoid, median of 3 runs)
    two at once stepped 0.98 of raw stepping's env steps/s against 0.76 for one training on both cores, and the kneel
    arm's records were identical candidate by candidate (training is deterministic per seed, and one MuJoCo thread or
    two step the same physics), so only the wall time changes. Not more by default: only 2 cores were measured. Not
    with a GPU: two XLA processes would share (and preallocate on) one device."""
    if cfg.parallel is not None:
        return cfg.parallel
    plug = trainer(cfg.trainer)
    if cfg.executor != "local" or plug.together or plug.device != "cpu" or len(available_cpus()) < AUTO_PARALLEL:
        return 1
    return 1 if visible_gpus()[0] else AUTO_PARALLEL


def make_executor(cfg: RunConfig) -> Executor:
    return EXECUTORS.get(cfg.executor)(cfg)


EXECUTORS: Registry[Callable[..., Executor]] = Registry("--executor")


def _local() -> Callable[..., Executor]:
    def local(cfg: RunConfig | None = None) -> Executor:
        return LocalExecutor(parallel_of(cfg) if cfg is not None else 1)

    return local


def _ray() -> Callable[..., Executor]:
    from rewardsmith.execute.ray_executor import RayExecutor
    from rewardsmith.execute.ray_population import RayPopulationExecutor

    def on_ray(cfg: RunConfig | None = None) -> Executor:
        if cfg is not None and trainer(cfg.trainer).together:
            return RayPopulationExecutor(cfg.ray_address)
        return RayExecutor(cfg.ray_address if cfg is not None else None)

    return on_ray


EXECUTORS.register("local", _local)
EXECUTORS.register("ray", _ray)
