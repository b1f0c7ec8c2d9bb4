"""The population trainer on a Ray cluster: a generation's candidates trained together as ONE Ray task, on a node with
a GPU where the cluster has one (Ray sets the task's CUDA_VISIBLE_DEVICES, which the sandbox passes on).

The task runs the same sandboxed population job as a local run (sandboxed.train_together) in a temporary directory
of its node; what goes out is the requests (no path of the driver's) and, on a halving rung, each member's
checkpoint; what comes back through Ray is the reports and each member's policy, trace and checkpoint, written into
the generation's population folder and the members' own folders of the driver's run. A task whose worker or node
dies is submitted once more, like a single training (ray_executor.py); its attempts land in every member's
placement.json.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.events import Retry, TrainingEvent
from rewardsmith.execute.fanin import ExecutorUnavailable
from rewardsmith.execute.ray_executor import (
    ATTEMPTS,
    RayExecutor,
    TaskPlaced,
    check_cluster,
    one_line,
    placed_here,
    shipped_user_envs,
    stream,
    streamed,
    sweep_stale_task_dirs,
    worker_lost_errors,
)
from rewardsmith.execute.ray_executor import CHECKPOINT as CHECKPOINT_FILE  # population_train's name too (no jax here)
from rewardsmith.execute.sandboxed import (
    COPIED_FILES,
    MAX_COPIED_BYTES,
    OnProgress,
    TrainReport,
    TrainRequest,
    copy_outputs,
    member_folder,
    same_settings,
    train_together,
)
from rewardsmith.runs.store import PLACEMENT_FILE, write_json
from rewardsmith.sandbox.runner import read_untrusted_file


@dataclass(frozen=True)
class PopulationDone:
    """A population task's last stream item: the members' reports (in the requests' order) and their files' bytes
    (member folder -> file name -> bytes)."""

    reports: list[TrainReport]
    files: dict[str, dict[str, bytes]]


class RayPopulationExecutor(RayExecutor):
    """--executor ray with --trainer population: a generation's requests (they carry its population folder) as one
    Ray task; a lone training (a re-evaluation seed) as any other."""

    def run(self, requests: Sequence[TrainRequest], on_progress: OnProgress) -> Iterator[TrainReport]:
        if not requests or requests[0].group_dir is None:
            yield from super().run(requests, on_progress)
            return
        self.connect()
        import ray

        together = ray.remote(population_task).options(num_cpus=self.cpus_per_task,
                                                       num_gpus=self.gpus_for(requests[0]), max_retries=0)
        for group in same_settings(requests):  # one job per settings (--inherit's children train a shorter budget)
            yield from train_population_on_ray(together, group, on_progress, max(1, int(self.cpus_per_task)))


def train_population_on_ray(remote: Any, requests: Sequence[TrainRequest], on_progress: OnProgress,
                            cpus: int) -> list[TrainReport]:
    """Driver side: the generation's population as one Ray task, tried again once if its worker dies; progress
    reaches `on_progress` on the calling thread; reports in the requests' order."""
    from ray import exceptions as rx

    group = requests[0].group_dir
    assert group is not None, "population requests carry their job directory"
    by_key = {r.key: r for r in requests}
    checkpoints = {member_folder(r): data for r in requests if r.checkpoint
                   for data in [read_untrusted_file(group / member_folder(r) / CHECKPOINT_FILE, MAX_COPIED_BYTES)]
                   if data is not None}
    shipped = [dataclasses.replace(r, workdir=Path("work") / member_folder(r), group_dir=Path("group"))
               for r in requests]
    attempts: list[dict[str, Any]] = []
    reports: list[TrainReport] | None = None
    for attempt in range(1, ATTEMPTS + 1):
        placed: dict[str, Any] = {"attempt": attempt}
        attempts.append(placed)
        try:
            for item in stream(remote.remote(shipped, checkpoints, cpus)):
                if isinstance(item, TaskPlaced):
                    placed.update(dataclasses.asdict(item))
                    for request in requests:
                        on_progress(item.event(request.key, attempt))
                elif isinstance(item, PopulationDone):
                    reports = _landed(requests, group, item.reports, item.files)
                    placed["outcome"] = "ok"
                    break
                elif isinstance(item, TrainingEvent) and item.id in by_key:  # a member's progress
                    on_progress(item)
        except worker_lost_errors() as err:
            placed["outcome"] = f"worker lost: {one_line(err)}"
            check_cluster()
            if attempt < ATTEMPTS:
                for request in requests:
                    on_progress(Retry(request.key, attempt + 1, placed["outcome"]))
                continue
            reports = [TrainReport.failed(r.key, f"its Ray worker died {ATTEMPTS} times (last: {one_line(err)})")
                       for r in requests]
        except rx.RayTaskError as err:
            placed["outcome"] = "error"
            reports = [TrainReport.failed(r.key, f"the Ray task failed: {one_line(err)}") for r in requests]
        except (rx.RaySystemError, ConnectionError) as err:
            raise ExecutorUnavailable(f"lost the Ray cluster: {one_line(err)}") from None
        break
    for request in requests:
        request.workdir.mkdir(parents=True, exist_ok=True)
        write_json(request.workdir / PLACEMENT_FILE, {"attempts": attempts})
    return reports or [TrainReport.failed(r.key, "the Ray task ended without a report") for r in requests]


def _landed(requests: Sequence[TrainRequest], group: Path, reports: list[TrainReport],
            files: dict[str, dict[str, bytes]]) -> list[TrainReport]:
    """The task's files into the population folder (only the names expected, in the members' own folders), then
    each member's policy and trace into its workdir, as a local population run leaves them."""
    landed = []
    for request, report in zip(requests, reports, strict=True):
        folder = group / member_folder(request)
        folder.mkdir(parents=True, exist_ok=True)
        for name in (*COPIED_FILES, CHECKPOINT_FILE):
            data = files.get(member_folder(request), {}).get(name)
            if isinstance(data, bytes):
                (folder / (name + ".tmp")).write_bytes(data)
                (folder / (name + ".tmp")).replace(folder / name)
        landed.append(copy_outputs(request, folder, report) if report.ok else report)
    return landed


def population_task(requests: Sequence[TrainRequest], checkpoints: dict[str, bytes],
                    cpus: int) -> Iterator[Any]:
    """On a node (a Ray streaming task): the population job in a temporary directory of this node; yields where it
    runs (TaskPlaced), the members' progress (TrainProgress, id: the member's key), then the reports with each
    member's files (PopulationDone)."""
    yield placed_here()
    sweep_stale_task_dirs()
    root = Path(tempfile.mkdtemp(prefix=f"rewardsmith-task-{os.getpid()}-"))
    try:
        group = root / "group"
        for name, data in checkpoints.items():
            if Path(name).name == name:  # a plain member folder name, nothing else
                (group / name).mkdir(parents=True, exist_ok=True)
                (group / name / CHECKPOINT_FILE).write_bytes(data)
        local = [dataclasses.replace(r, workdir=root / "work" / member_folder(r), group_dir=group) for r in requests]
        reports: list[TrainReport] = yield from streamed(
            lambda emit: train_together(local, emit, env=shipped_user_envs()), cpus)
        files: dict[str, dict[str, bytes]] = {}
        for request, report in zip(requests, reports, strict=True):
            names = (*COPIED_FILES, CHECKPOINT_FILE) if request.checkpoint else COPIED_FILES
            folder = group / member_folder(request)
            files[member_folder(request)] = {name: data for name in names if report.ok
                                             for data in [read_untrusted_file(folder / name, MAX_COPIED_BYTES)]
                                             if data is not None}
        yield PopulationDone(reports, files)
    finally:
        shutil.rmtree(root, ignore_errors=True)
