"""The check stage, parent side: the static policy in this process (nothing is executed here), then the dynamic
check (rewardsmith.program.check, the sandbox's "check" job) in a sandboxed worker, whose outcome, timeouts and
kills included, becomes a CheckReport. The env's states the worker checks a program on are sampled once per process
here (stepping the env runs no program) and placed in each check's folder.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.context import RunContext
from rewardsmith.errors import UserError
from rewardsmith.events import CandidateUpdate
from rewardsmith.execute.cpus import available_cpus
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
_SAMPLING = threading.Lock()


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
    with _SAMPLING:  # a generation's first checks start together: the states are sampled once, not once each
        states = sampled_states(env_name, task_name, job.samples, job.seed)
    given = Path(workdir) / STATES_FILE
    if states is not None:
        given.parent.mkdir(parents=True, exist_ok=True)
        save_states(given, *states)
        job = dataclasses.replace(job, given_states=True)
    try:
        return report_from_result(run_job(job, Path(workdir), limits))
    finally:  # 0.27 MB for a humanoid, in every candidate's folder; sample_states remakes them from the job's seed
        given.unlink(missing_ok=True)


# --- the check stage over a generation ----------------------------------------------------------------------------

MAX_CHECKS_AT_ONCE = 4  # each worker holds numpy, MuJoCo and jax (~0.25 GB on a humanoid check)


@dataclass
class _Check:
    """One sample on its way through the check: its candidate, and the sandboxed check under way where it got one."""

    cand: Candidate
    report: Future[CheckReport] | None = None
    removed: str | None = None  # what admitted() took out of the program, told to the LLM with the warnings
    kept: bool = False  # a resumed run's candidate already past the check: neither saved nor reported again


def checks_at_once(count: int) -> int:
    """Sandboxed checks side by side: a check is a short CPU process (mostly imports and a jax trace, ~2 s), so
    a generation's checks need not wait for one another on a machine with spare CPUs."""
    return max(1, min(count, len(available_cpus()), MAX_CHECKS_AT_ONCE))


def check_all(ctx: RunContext, gen: int, first_index: int, samples: list[Sample]) -> list[Candidate]:
    """One candidate per sample, ids in order of arrival from `first_index`: extracted, then checked, the sandboxed
    checks side by side; records are saved and reported on this thread, in id order. A resumed run keeps candidates
    already past the check."""
    with ThreadPoolExecutor(max_workers=checks_at_once(len(samples))) as pool:
        begun = [_begin(ctx, gen, first_index + i, sample, pool) for i, sample in enumerate(samples)]
        return [_end(ctx, check) for check in begun]


def _begin(ctx: RunContext, gen: int, index: int, sample: Sample, pool: ThreadPoolExecutor) -> _Check:
    store = ctx.store
    existing = store.load_candidate(gen, index)
    if existing is not None and existing.status is not Status.PENDING:
        return _Check(existing, kept=True)
    cand = Candidate(id=Candidate.make_id(gen, index), generation=gen, index=index, origin=sample.origin,
                     model=sample.model, island=sample.island)
    write_text(store.response_path(gen, index), sample.text or "")
    if sample.text is None:
        return _Check(cand.replace(status=Status.LLM_FAILED, reason=f"the LLM request failed: {sample.error}"))
    try:
        program = extract_program(sample.text)
    except ExtractError as err:  # a reply cut short says so: that is what the LLM has to fix
        note = f" ({sample.error})" if sample.error else ""
        return _Check(cand.replace(status=Status.EXTRACT_FAILED, reason=f"{err}{note}"))
    source, removed = admitted(program.source, ctx.cfg.evolve_termination)
    write_text(store.reward_path(gen, index), source)
    report = pool.submit(check_in_sandbox, ctx.env.name, ctx.cfg.task, source, store.check_dir(gen, index))
    return _Check(cand.replace(source=source, scales=program.scales), report, removed)


def _end(ctx: RunContext, check: _Check) -> Candidate:
    if check.kept:
        return check.cand
    cand = check.cand
    if check.report is not None:
        report = check.report.result()
        if check.removed:
            report = dataclasses.replace(report, warnings=(*report.warnings, check.removed))
        cand = cand.replace(check=report, status=Status.CHECKED if report.passed else Status.CHECK_FAILED,
                            reason=None if report.passed else "; ".join(report.errors))
    ctx.store.save_candidate(cand)
    ctx.report(CandidateUpdate(cand.id, cand.status, cand.reason))
    return cand
