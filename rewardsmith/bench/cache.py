"""`python -m rewardsmith.bench cache`: one training of a task's reference reward three ways in one run, side by side:
without the XLA cache, with an empty cache (the trusted warm-up compiles into it first), and with the warm cache
(every later training of a run). Wall time of the whole sandboxed training call and the trainer's own wall time,
and whether the three trained to the same task score (they must: the cache changes when compiling happens, not
what runs)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def compare_cache(env_name: str, task_name: str, steps: int, seed: int) -> None:
    from rewardsmith.config import train_config_for
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.execute.sandboxed import TrainRequest, train_in_sandbox
    from rewardsmith.train.xla_cache import CACHE_ENV

    env = get_env(env_name)
    task = resolve_task(env, task_name)
    source = env.reference_reward_path(task.name).read_text()
    cfg = train_config_for(env.ppo, steps=steps, seed=seed)
    before = os.environ.get(CACHE_ENV)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rewardsmith-cache-bench-") as tmp:
        for label, cache in (("no cache", "off"), ("empty cache", str(Path(tmp) / "xla")),
                             ("warm cache", str(Path(tmp) / "xla"))):
            os.environ[CACHE_ENV] = cache
            start = time.monotonic()
            report = train_in_sandbox(TrainRequest("bench#0", env.name, task.name, source, cfg,
                                                   Path(tmp) / label.replace(" ", "_")))
            wall = time.monotonic() - start
            if not report.ok or report.train is None or report.evaluation is None:
                raise SystemExit(f"{label}: the training failed: {report.reason}")
            rows.append((label, wall, report.train.wall_s, report.evaluation.fitness_mean, report.train.steps))
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before
    print(f"{env.name}/{task.name}, {rows[0][4]:,} steps, seed {seed}, native trainer, {os.cpu_count()} CPUs")
    base_wall, base_train = rows[0][1], rows[0][2]
    for label, wall, train_s, fitness, _ in rows:
        print(f"  {label:<12} call {wall:6.1f} s ({base_wall / wall:4.2f}x)   training {train_s:6.1f} s "
              f"({base_train / train_s:4.2f}x)   task score {fitness if fitness is None else round(fitness, 3)}")
    same = len({r[3] for r in rows}) == 1
    print(f"  same task score all three ways: {'yes' if same else 'NO'}")
