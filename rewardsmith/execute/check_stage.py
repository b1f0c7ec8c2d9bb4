"""The check stage, parent side: the static policy in this process (nothing is executed here), then the dynamic
check (rewardsmith.program.check, the sandbox's "check" job) in a sandboxed worker, whose outcome, timeouts and
kills included, becomes a CheckReport. The env's states the worker checks a program on are sampled once per process
here (stepping the env runs no program) and placed in each check's folder.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.context import RunContext
from rewardsmith.errors import UserError
from rewardsmith.events import CandidateUpdate
from rewardsmith.jobs import run_job
from rewardsmith.jobs.messages import CheckJob
from rewardsmith.program.check import STATES_FILE, sample_states, save_states
from rewardsmith.program.extract import ExtractError, extract_program
from rewardsmith.program.static import static_check
from rewardsmith.program.terminate import admitted
from rewardsmith.records import Candidate, CheckReport, Sample, Status
from rewardsmith.runs.store import write_text
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.sandbox.runner import Limits, SandboxResult


def _strings(value: Any, limit: int = 50) -> tuple[str, ...]:
    return tuple(str(v)[:2000] for v in value[:limit]) if isinstance(value, list) else ()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def report_from_result(res: SandboxResult) -> CheckReport:
    """A CheckReport for any sandbox outcome. The worker's JSON is untrusted data: fields are type-checked."""
    data = res.result or {}
    if res.status is JobStatus.OK and isinstance(data.get("errors"), list):
        errors = _strings(data.get("errors"))
        return CheckReport(data.get("passed") is True and not errors, errors, _strings(data.get("warnings")),
                           _strings(data.get("terms"), 100), res.wall_s, _number(data.get("per_call_ms")),
                           res.isolation)
    reason = res.reason or "the worker returned no report"
    if res.status is JobStatus.TIMEOUT:
        message = (f"the check was stopped: it {reason}. reward_terms probably runs a huge Python loop or builds "
                   "enormous arrays; a reward must be a few vectorized array expressions that return in milliseconds")
    elif res.status is JobStatus.KILLED and "memory" in reason:
        message = (f"the check was stopped: it {reason}. The reward builds huge arrays; every intermediate should "
                   "have about the batch's size")
    elif res.status is JobStatus.ERROR and "MemoryError" in reason:
        message = f"the reward ran out of memory ({reason}); avoid building huge arrays"
    else:
        message = f"the check failed inside the sandbox ({res.status}): {reason}"
    return CheckReport(False, (message,), (), (), res.wall_s, None, res.isolation)


States = tuple[dict[str, np.ndarray], np.ndarray]  # program/check.sample_states' output


@functools.lru_cache(maxsize=8)
def sampled_states(env_name: str, task_name: str, samples: int, seed: int) -> States | None:
    """The states every check of a run's rewards is given, sampled once in this process (stepping the env is trusted
    code; no program runs here). None where the env or task does not resolve: the worker then says why, as before."""
    try:
        return sample_states(env_name, task_name, samples, seed)
    except UserError:
        return None


def check_in_sandbox(env_name: str, task_name: str, source: str, workdir: Path,
                     limits: Limits = Limits(wall_s=120)) -> CheckReport:
    """The static policy in this process (no execution), then the dynamic check in a sandboxed worker, given the
    states sampled here (each check sampling its own took ~2.6 s of a humanoid check's ~4.6 s)."""
    start = time.monotonic()
    violations = static_check(source)
    if violations:
        return CheckReport(False, tuple(f"line {v.line}: {v.message}" for v in violations), (), (),
                           time.monotonic() - start, None, ())
    job = CheckJob(env_name, task_name, source)
    states = sampled_states(env_name, task_name, job.samples, job.seed)
    if states is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        save_states(Path(workdir) / STATES_FILE, *states)
        job = dataclasses.replace(job, given_states=True)
    return report_from_result(run_job(job, Path(workdir), limits))


# --- the check stage over a generation ----------------------------------------------------------------------------


def check_all(ctx: RunContext, gen: int, first_index: int, samples: list[Sample]) -> list[Candidate]:
    """One candidate per sample, ids in order of arrival from `first_index`: extracted, then checked. A resumed
    run keeps candidates already past the check."""
    return [_checked(ctx, gen, first_index + i, sample) for i, sample in enumerate(samples)]


def _checked(ctx: RunContext, gen: int, index: int, sample: Sample) -> Candidate:
    store = ctx.store
    existing = store.load_candidate(gen, index)
    if existing is not None and existing.status is not Status.PENDING:
        return existing
    cand = Candidate(id=Candidate.make_id(gen, index), generation=gen, index=index, origin=sample.origin,
                     model=sample.model, island=sample.island)
    write_text(store.response_path(gen, index), sample.text or "")
    if sample.text is None:
        cand = cand.replace(status=Status.LLM_FAILED, reason=f"the LLM request failed: {sample.error}")
    else:
        try:
            program = extract_program(sample.text)
        except ExtractError as err:  # a reply cut short says so: that is what the LLM has to fix
            note = f" ({sample.error})" if sample.error else ""
            cand = cand.replace(status=Status.EXTRACT_FAILED, reason=f"{err}{note}")
        else:
            source, removed = admitted(program.source, ctx.cfg.evolve_termination)
            write_text(store.reward_path(gen, index), source)
            report = check_in_sandbox(ctx.env.name, ctx.cfg.task, source, store.check_dir(gen, index))
            if removed:  # told to the LLM with the check's warnings
                report = dataclasses.replace(report, warnings=(*report.warnings, removed))
            cand = cand.replace(source=source, scales=program.scales, check=report,
                                status=Status.CHECKED if report.passed else Status.CHECK_FAILED,
                                reason=None if report.passed else "; ".join(report.errors))
    store.save_candidate(cand)
    ctx.report(CandidateUpdate(cand.id, cand.status, cand.reason))
    return cand
