"""The "check" job: the pre-flight check of an untrusted reward program (rewardsmith.program.check), in the worker.

Payload: a CheckJob (jobs/messages.py); result: the CheckReport's fields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rewardsmith.jobs.messages import CheckJob
from rewardsmith.program.check import STATES_FILE, check_reward, load_states
from rewardsmith.sandbox.protocol import Progress


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    job = CheckJob.from_payload(payload)
    states = load_states(Path(workdir) / STATES_FILE) if job.given_states else None
    return dataclasses.asdict(check_reward(job.env, job.task, job.source, samples=job.samples, seed=job.seed,
                                           states=states))
