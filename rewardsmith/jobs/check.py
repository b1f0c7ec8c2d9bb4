"""The "check" job: the pre-flight check of an untrusted reward program (rewardsmith.program.check), in the worker.

Payload: {"env", "task", "source", "seed", "samples"?}; result: the CheckReport's fields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rewardsmith.program.check import check_reward
from rewardsmith.sandbox.protocol import Progress


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    report = check_reward(payload["env"], payload["task"], payload["source"], samples=int(payload.get("samples", 256)),
                          seed=int(payload.get("seed", 0)))
    return dataclasses.asdict(report)
