"""The jobs a sandboxed worker can run, side by side, found by name: each is `run(payload, workdir, progress)`.

  check     the pre-flight check of a reward program (jobs/check.py)
  train     train a policy on a reward program, evaluate it, save policy and trace (jobs/train.py)
  population  train a generation's reward programs together on MJX, evaluate them together (jobs/population.py)
  play      one filmed episode of a trained policy on a new seed (jobs/play.py)
  selftest  trusted probes for the sandbox's own tests (jobs/selftest.py)

Each job module is imported only when its job runs (the train job pulls in jax and MuJoCo).
"""

from __future__ import annotations

from rewardsmith.registry import Registry
from rewardsmith.sandbox.protocol import Job

JOBS: Registry[Job] = Registry("sandbox job")


def _check() -> Job:
    from rewardsmith.sandbox.jobs import check

    return check.run


def _train() -> Job:
    from rewardsmith.sandbox.jobs import train

    return train.run


def _population() -> Job:
    from rewardsmith.sandbox.jobs import population

    return population.run


def _play() -> Job:
    from rewardsmith.sandbox.jobs import play

    return play.run


def _selftest() -> Job:
    from rewardsmith.sandbox.jobs import selftest

    return selftest.run


JOBS.register("check", _check)
JOBS.register("train", _train)
JOBS.register("population", _population)
JOBS.register("play", _play)
JOBS.register("selftest", _selftest)
