"""The population trainer on a Ray cluster: a generation (2 cart-pole candidates, with halving, so the survivor's
checkpoint goes to the node and back) trained as ONE Ray task on a real two-node local cluster records exactly what
the same evolve records locally, and the nodes never write into the driver's run directory. Slow (two population
evolves with their JAX compilations, ~4 min on 2 cores): `pytest -m slow tests/train/test_ray_population.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import without_noise

from rewardsmith.execute.ray_cluster import RAY_ENV, LocalCluster

ARGS = ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1", "--samples", "2",
        "--train-steps", "20480", "--trainer", "population", "--halving", "--no-video", "--seed", "1"]


def evolve(out: Path, *extra: str) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")} | RAY_ENV
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", *ARGS, "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = out.iterdir()
    return run


@pytest.mark.slow
def test_a_population_on_the_cluster_records_what_a_local_one_does(tmp_path):
    local = evolve(tmp_path / "local")
    out = tmp_path / "ray"
    out.mkdir()
    with LocalCluster(nodes=2, cpus=1, read_only=(out,)) as cluster:
        remote = evolve(out, "--executor", "ray", "--ray-address", cluster.address)
    for index in (0, 1):
        mine, theirs = (run / "gen_00" / f"cand_{index:02d}" for run in (remote, local))
        ray_cand = json.loads((mine / "candidate.json").read_text())
        assert ray_cand["status"] == "evaluated", ray_cand.get("reason")
        assert without_noise(ray_cand) == without_noise(json.loads((theirs / "candidate.json").read_text()))
        for name in ("policy.npz", "trace.npz"):
            with np.load(mine / "work" / name) as a, np.load(theirs / "work" / name) as b:
                assert a.files == b.files
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"cand_{index:02d}/{name}:{key}")
        placement = json.loads((mine / "work" / "placement.json").read_text())["attempts"]
        assert placement[-1]["outcome"] == "ok" and placement[-1]["node"]
    # one task per rung: both members on the first rung, the survivor alone on the second, its checkpoint shipped
    assert len(list((remote / "gen_00" / "population").glob("*/checkpoint.npz"))) == 2
    assert not list((remote / "gen_00" / "population").glob("job.json"))  # no sandbox ran in the driver's run
