"""Summaries of a stored run, as row records for `show`, the end-of-run table and the review page's overview (derived,
never stored)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.confidence import intervals
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.records import Candidate, Status
from rewardsmith.runs.store import PLACEMENT_FILE, RunStore, read_json


def _cost(store: RunStore, gen: int) -> float:
    return sum(float(read_json(p).get("cost_usd", 0.0)) for p in store.usage_paths(gen))


def _judge_tokens(store: RunStore, gen: int) -> int | None:
    """Tokens the vision judge used on the generation (both looks of hybrid, prompt and reply; judge.py writes
    usage_judge*.json); None where it was not asked."""
    paths = [p for p in store.usage_paths(gen) if p.name.startswith("usage_judge")]
    if not paths:
        return None
    usages = [read_json(p) for p in paths]
    return sum(int(u.get("prompt_tokens") or 0) + int(u.get("completion_tokens") or 0) for u in usages)


def _prompt_tokens(store: RunStore, gen: int) -> int | None:
    """The size of the generation's prompt (llm/prompting.py counts it), with --islands of all its islands' prompts;
    None when no prompt was sent (LLM-free)."""
    paths = [store.prompt_tokens_path(gen)] + [store.prompt_tokens_path(gen, i) for i in range(store.config().islands)]
    sizes = [int(read_json(path)["prompt_tokens"]) for path in paths if path.is_file()]
    return sum(sizes) if sizes else None


@dataclass(frozen=True)
class GenerationRow:
    """One generation of a run, as `show`, the end-of-run table and the review page's overview list it."""

    gen: int
    candidates: int
    evaluated: int
    failed: int
    best: str | None
    best_fitness: float | None
    cost_usd: float
    prompt_tokens: int | None  # None: no prompt was sent (LLM-free)
    decided_by: str  # who decided, in words ("" where nobody was recorded)
    choice: str = ""  # the selection rule's pick and its confidence, in words (metrics feedback)
    judge_tokens: int | None = None  # the vision judge's prompt and reply tokens; None: no judge was asked

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CandidateRow:
    """One candidate of a run, as `show` and the overview list it."""

    id: str
    gen: int
    status: str  # as people read it ("stopped at N steps", ...)
    status_code: str  # the bare stage of Status
    source: str  # the LLM that wrote it, or "LLM-free mutations" / "your --init reward" (", island N": --islands)
    fitness: float | None  # the mean over training seeds when there are several
    seeds: int
    success: float | None
    return_mean: float | None
    train_s: float | None
    reason: str | None
    ran_on: str | None
    score_interval: str = ""  # "0.718 [0.682, 0.751]": the task score with its 95% interval (confidence.py)
    success_interval: str = ""  # "1.00 [0.81, 1.00]": the success rate with its Wilson interval
    reference: bool = False  # the run's starting reward as it was: the task's reference reward or the --init one
    # evolve --select-robust: the task score under its worst case under stress, which condition that was, and the
    # unperturbed score on the same episodes ("0.412 (push 1 m/s; unperturbed 0.998)"); "" where not stressed
    worst_case: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["return"] = data.pop("return_mean")  # the page's name for it
        return data


@dataclass(frozen=True)
class ModelRow:
    """Per source of programs (each LLM, the LLM-free mutations, the user's --init reward)."""

    source: str
    programs: int
    passed_check: int
    evaluated: int
    mean_fitness: float | None
    best_fitness: float | None


def generation_rows(store: RunStore) -> list[GenerationRow]:
    rows = []
    for gen in store.generations():
        cands = store.candidates(gen)
        selection = store.load_selection(gen)
        best = selection.best if selection else None
        rows.append(GenerationRow(
            gen=gen, candidates=len(cands), evaluated=sum(c.status is Status.EVALUATED for c in cands),
            failed=sum(c.status.failed for c in cands), best=best,
            best_fitness=selection.fitness.get(best) if selection and best else None,
            cost_usd=_cost(store, gen), prompt_tokens=_prompt_tokens(store, gen),
            decided_by=selection.decided_by_text if selection else "",
            choice=selection.choice.statement() if selection and selection.choice else "",
            judge_tokens=_judge_tokens(store, gen)))
    return rows


def candidate_rows(store: RunStore) -> list[CandidateRow]:
    threshold = _threshold(store)
    init = store.config().init_source is not None
    islands = store.config().islands > 1  # evolve --islands: each candidate's island beside its source
    rows = []
    for gen in store.generations():
        for cand in store.candidates(gen):
            evaluation = cand.evaluation
            score, success = intervals(cand, threshold)
            reference = is_reference(cand, init)
            source = REFERENCE_LABEL if reference and cand.origin == "mutation" else _origin_label(cand.origin)
            rows.append(CandidateRow(
                id=cand.id, gen=gen, status=cand.status_text, status_code=cand.status.value,
                source=(cand.model or source) + (f", island {cand.island}" if islands else ""), fitness=cand.fitness,
                seeds=len(cand.seeds) or (1 if evaluation else 0), success=cand.success_rate,
                return_mean=evaluation.return_mean if evaluation else None,
                train_s=cand.train.wall_s if cand.train else None, reason=cand.reason,
                ran_on=ran_on(store.work_dir(gen, cand.index)), score_interval=score, success_interval=success,
                reference=reference, worst_case=worst_case(cand)))
    return rows


def worst_case(cand: Candidate) -> str:
    """The candidate's worst case under stress in words (CandidateRow.worst_case), "" where it was not stressed."""
    stressed = cand.stress
    if stressed is None or stressed.worst_score is None:
        return ""
    where = ", ".join(dict.fromkeys(stressed.worst))  # per seed; the same condition once
    base = stressed.baseline_score
    return f"{stressed.worst_score:.3f} ({where}; unperturbed {'—' if base is None else f'{base:.3f}'})"


REFERENCE_LABEL = "the task's reference reward, unchanged"


def is_reference(cand: Candidate, init: bool) -> bool:
    """Whether a candidate is the run's starting reward as it was: the user's --init reward (origin "init"), or, in
    an LLM-free run without one, generation 0's first program (llm/sample.py puts the task's reference reward there
    unmutated; its origin says "mutation" like its siblings, so its place is what tells it)."""
    if cand.origin == "init":
        return True
    return cand.origin == "mutation" and not init and cand.generation == 0 and cand.index == 0


def _threshold(store: RunStore) -> float | None:
    """The run's task's success threshold (None: none, or the env is not found here)."""
    config = store.config()
    try:
        return resolve_task(get_env(config.env), config.task).success_threshold
    except UserError:
        return None


def ran_on(workdir: Path) -> str | None:
    """Where a candidate's training ran, from its placement.json (written by the Ray executor and by --parallel
    slots): the node or host, the CPUs and GPU of a slot, and how many attempts it took. None when not recorded."""
    try:
        attempts = json.loads((workdir / PLACEMENT_FILE).read_text())["attempts"]
        last = attempts[-1]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    if "node" in last:
        where = f"node {last['node']} ({last.get('ip') or last.get('host') or '?'})"
    else:
        cpus = last.get("cpus") or []
        where = f"{last.get('host') or 'this machine'}, CPUs {','.join(map(str, cpus)) or 'shared'}"
        where += f", GPU {last['gpu']}" if last.get("gpu") is not None else ""
    return where + (f", attempt {len(attempts)}" if len(attempts) > 1 else "")


def model_rows(store: RunStore) -> list[ModelRow]:
    """How many programs each source wrote, how many passed the check and were evaluated, and their task scores —
    to compare models on one task."""
    groups: dict[str, list[Candidate]] = {}
    for gen in store.generations():
        for cand in store.candidates(gen):
            groups.setdefault(cand.model or _origin_label(cand.origin), []).append(cand)
    rows = []
    for source, cands in groups.items():
        scores = [c.fitness for c in cands if c.fitness is not None]
        rows.append(ModelRow(source=source, programs=len(cands), passed_check=sum(c.status.passed_check for c in cands),
                             evaluated=sum(c.status is Status.EVALUATED for c in cands),
                             mean_fitness=sum(scores) / len(scores) if scores else None,
                             best_fitness=max(scores) if scores else None))
    return rows


def _origin_label(origin: str) -> str:
    return {"mutation": "LLM-free mutations", "init": "your --init reward"}.get(origin, origin)
