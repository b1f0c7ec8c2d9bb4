"""The sandbox's job bodies, above every layer they use (program, train, evaluate): each is
`run(payload, workdir, progress) -> result`, run inside the confined worker (sandbox/worker.py), found by its entry.

  check     the pre-flight check of a reward program (jobs/check.py)
  train     train a policy on a reward program, evaluate it, save policy and trace (jobs/train.py)
  population  train a generation's reward programs together on MJX, evaluate them together (jobs/population.py)
  play      one filmed episode of a trained policy on a new seed (jobs/play.py)
  selftest  trusted probes for the sandbox's own tests (jobs/selftest.py)

`run_job(request, ...)` runs the job a request record names (jobs/messages.py: one record per job and the result
records the jobs return). Each job module is imported only in the child, when its job runs (the train
job pulls in jax and MuJoCo).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rewardsmith.jobs.messages import JobRequest
from rewardsmith.registry import Registry
from rewardsmith.sandbox.runner import Limits, SandboxResult, run_in_sandbox

JOBS: Registry[str] = Registry("sandbox job")  # name -> the job's entry, "module:function"
for _name in ("check", "train", "population", "play", "selftest"):
    JOBS.register_entry(_name, f"rewardsmith.jobs.{_name}:run")


def run_job(request: JobRequest, workdir: Path, limits: Limits = Limits(),
            on_progress: Callable[[dict], None] | None = None, env: dict[str, str] | None = None) -> SandboxResult:
    """Runs the job a request names (jobs/messages.py) in a confined child; its result comes back as untrusted JSON
    (read it with the result record's from_untrusted). `on_progress` gets the child's raw progress lines."""
    return run_in_sandbox(JOBS.get(request.JOB), request.to_payload(), workdir, limits, on_progress, env)
