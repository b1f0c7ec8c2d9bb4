"""The persistent XLA cache for the native trainer: a trusted warm-up compiles the PPO update into it once; the
sandboxed trainings read it, never write it (a reward program cannot plant code for another candidate's training),
and train exactly as they would without it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.execute.sandboxed import TrainRequest, train_in_sandbox
from rewardsmith.jobs import run_job
from rewardsmith.jobs.messages import SelftestJob
from rewardsmith.resources import ENVS_DIR
from rewardsmith.sandbox.runner import Limits
from rewardsmith.train.xla_cache import cache_dir, marker

SOURCE = (ENVS_DIR / "cartpole" / "rewards" / "balance.py").read_text()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and p.name != "warm.lock"}


def train(workdir: Path, seed: int = 1):
    cfg = TrainConfig(steps=2048, seed=seed)
    report = train_in_sandbox(TrainRequest("g0c00#0", "cartpole", "balance", SOURCE, cfg, workdir))
    assert report.ok, report.reason
    with np.load(workdir / "policy.npz") as policy:
        return report, {k: policy[k] for k in policy.files}


def test_a_warm_cache_is_read_not_written_and_trains_exactly_as_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_XLA_CACHE", "off")
    assert cache_dir() is None
    _, uncached = train(tmp_path / "uncached")

    cache = tmp_path / "xla"
    monkeypatch.setenv("REWARDSMITH_XLA_CACHE", str(cache))
    _, first = train(tmp_path / "first")  # warms the cache, then trains from it
    done = cache / "warmed" / marker("cartpole", "balance", dataclasses.asdict(TrainConfig(steps=2048, seed=1)))
    assert done.exists() and any(p.name.startswith("jit_update") for p in cache.iterdir())
    before = snapshot(cache)
    report, second = train(tmp_path / "second")
    assert snapshot(cache) == before  # the sandboxed trainings only read it
    assert report.train is not None and report.train.steps == 2048
    for key, value in uncached.items():  # the cached executable computes what a fresh compilation does
        np.testing.assert_array_equal(first[key], value, err_msg=key)
        np.testing.assert_array_equal(second[key], value, err_msg=key)


def test_a_sandboxed_job_cannot_write_into_the_cache_it_may_read(tmp_path):
    cache = tmp_path / "xla"
    cache.mkdir()
    entry = cache / "jit_update-0123-cache"
    entry.write_bytes(b"compiled")
    limits = Limits(wall_s=30, read_paths=(str(cache),))
    read = run_job(SelftestJob("read", {"paths": [str(entry)]}), tmp_path / "r", limits)
    wrote = run_job(SelftestJob("write", {"paths": [str(entry), str(cache / "planted-cache")]}),
                    tmp_path / "w", limits)
    assert read.result == {str(entry): "compiled"}
    if "landlock-fs" in wrote.isolation:  # where the kernel has Landlock (the CI machines and these do)
        assert all("Permission" in v for v in wrote.result.values()), wrote.result
        assert entry.read_bytes() == b"compiled" and not (cache / "planted-cache").exists()
    else:
        raise AssertionError(f"no Landlock here ({wrote.isolation}): the cache would be writable by programs")
