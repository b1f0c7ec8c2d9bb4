"""`python -m rewardsmith.bench evolve --executor local|ray`: the same small LLM-free evolve (one generation, the
same seeded programs) run sequentially (--parallel 1), with --parallel 2, and (ray) on a local Ray cluster of two
1-CPU nodes started for the purpose, wall times side by side. Ray's overhead per training is the Ray run's wall
time over the --parallel 2 run's (both train two at a time), spread over the trainings of the run; the cluster's
start is timed apart and not counted."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rewardsmith.config import RunConfig
from rewardsmith.events import Event, RungStarted


def one_run(out: Path, label: str, cfg: RunConfig) -> dict[str, Any]:
    from rewardsmith.evolve import evolve
    from rewardsmith.runs.store import RunStore, new_run_id

    store = RunStore.create(out, f"{label}-{new_run_id(cfg.env, cfg.task)}", cfg)
    events: list[Event] = []
    start = time.monotonic()
    result = evolve(store, cfg, events.append)
    wall = time.monotonic() - start
    rungs = [e for e in events if isinstance(e, RungStarted)]
    trainings = sum(len(e.candidates) for e in rungs) if rungs else cfg.samples
    scores = {c.id: c.fitness for c in store.candidates(0)}
    best = result.best.id if result.best else None
    print(f"  {label}: {wall:.1f} s, {trainings} trainings, best {best} task score {result.fitness}", flush=True)
    return {"wall": wall, "trainings": trainings, "scores": scores}


def compare_executors(env: str, task: str, samples: int, steps: int, seed: int, with_ray: bool) -> None:
    out = Path(tempfile.mkdtemp(prefix="rewardsmith-bench-executors-"))
    base = RunConfig(env=env, task=task, iterations=1, samples=samples, train_steps=steps, seed=seed, video=False)
    runs = {"sequential": one_run(out, "sequential", base),
            "parallel2": one_run(out, "parallel2", dataclasses.replace(base, parallel=2))}
    cluster_s = None
    if with_ray:
        import ray

        from rewardsmith.execute.ray_cluster import RAY_ENV, LocalCluster

        os.environ.update(RAY_ENV)
        start = time.monotonic()
        with LocalCluster(nodes=2, cpus=1) as cluster:
            cluster_s = time.monotonic() - start
            try:
                runs["ray"] = one_run(out, "ray", dataclasses.replace(base, executor="ray",
                                                                      ray_address=cluster.address))
            finally:
                ray.shutdown()
    seq, par = runs["sequential"], runs["parallel2"]
    print(f"{env}/{task}, K = {samples}, {steps:,} steps per full training, {seq['trainings']} trainings per run, "
          f"{len(os.sched_getaffinity(0))} CPUs, runs in {out}")
    print(f"sequential (--parallel 1)   {seq['wall']:7.1f} s")
    print(f"local --parallel 2          {par['wall']:7.1f} s = {seq['wall'] / par['wall']:.2f}x sequential's speed")
    if "ray" in runs:
        ray_run = runs["ray"]
        per = (ray_run["wall"] - par["wall"]) / (ray_run["trainings"] / 2)
        print(f"ray, two 1-CPU nodes        {ray_run['wall']:7.1f} s = {seq['wall'] / ray_run['wall']:.2f}x "
              f"sequential's speed, {par['wall'] / ray_run['wall']:.2f}x --parallel 2's (cluster start "
              f"{cluster_s:.1f} s, not counted)")
        print(f"Ray's overhead per training: ({ray_run['wall']:.1f} - {par['wall']:.1f} s) / "
              f"({ray_run['trainings']} trainings / 2 at a time) = {per:.1f} s")
    same = all(run["scores"] == seq["scores"] for run in runs.values())
    print(f"same task scores for every candidate in every run: {'yes' if same else 'NO'}")
