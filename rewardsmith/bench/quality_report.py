"""The quality benchmark's report: the Markdown table printed and written as quality.md, and quality.json (every
number of the table, from the same records)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardsmith.bench.quality import TaskResult
from rewardsmith.bench.quality_rules import (
    AT_LEAST_RULE,
    BEATS_RULE,
    EPSILON,
    FAILED_RULE,
    HUMAN_RULE,
    RANDOM_RULE,
    NormalisedScore,
    Stat,
    share,
)
from rewardsmith.config import RunConfig
from rewardsmith.evaluate.exploits import EXPLOITS, ExploitShare
from rewardsmith.runs.store import write_json, write_text

COST_NOTE = ("Evolve columns: the evolve run's own cost (runs/cost.py run_cost: every candidate's training and "
             "evaluation, env steps and CPU seconds; GPU seconds are the wall time of trainings whose updates ran on a "
             "GPU; LLM calls are logical requests, a retry not counted; tokens prompt + completion). Retrain columns: "
             "the benchmark's own trainings on the fresh seeds — evolved (none when the evolve kept the reference), "
             "reference and sparse — their training steps and the CPU seconds of training and evaluation. Neither "
             "counts the random policy's evaluation (its wall time is in the last columns).")


def tally(results: Sequence[TaskResult], field: str) -> tuple[int, int, float | None]:
    """How many tasks have `field` (beats_reference, at_least_reference) true, of how many, the fraction."""
    return share([getattr(r, field) for r in results])


def _ms(stat: Stat | None, digits: int = 3) -> str:
    return "—" if stat is None else f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def _pct(stat: Stat | None) -> str:
    return "—" if stat is None else f"{100 * stat.mean:.0f}% ± {100 * stat.std:.0f}%"


def score_cell(score: NormalisedScore) -> str:
    return f"{score.value:.3f}" if score.value is not None else f"undefined: {score.reason}"


def exploit_cell(exploits: ExploitShare | None) -> str:
    if exploits is None:
        return "no detector"
    if not exploits.episodes:
        return "not recorded (no trace with velocities and sensors)"
    named = ", ".join(f"{name} {count}" for name, count in exploits.by_name.items() if count)
    return f"{exploits.matched}/{exploits.episodes}" + (f" ({named})" if named else "")


def _models(base: RunConfig) -> str:
    return ", ".join(base.models) if base.models else "LLM-free (the reference reward's scales mutated)"


def _task_rows(results: Sequence[TaskResult]) -> list[str]:
    rows = ["| task | steps × seeds | evolved fitness | evolved success | reference fitness | reference success "
            "| sparse fitness | random fitness | human-normalised | random-normalised | beats reference "
            "| at least reference | exploit episodes | wall time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        evolved = _ms(r.fitness("evolved")) + (" (= reference)" if r.best_is_reference else "")
        rows.append(f"| {r.env}/{r.task} v{r.fitness_version} | {r.train_steps:,} × {len(r.seeds)} | {evolved} "
                    f"| {_pct(r.success('evolved'))} | {_ms(r.fitness('reference'))} "
                    f"| {_pct(r.success('reference'))} | {_ms(r.fitness('sparse'))} | {_ms(r.random_fitness)} "
                    f"| {score_cell(r.human_normalised)} | {score_cell(r.random_normalised)} "
                    f"| {'yes' if r.beats_reference else 'no'} | {'yes' if r.at_least_reference else 'no'} "
                    f"| {exploit_cell(r.exploits)} | {r.wall_s['total']:.0f} s |")
    return rows


def _model_rows(results: Sequence[TaskResult]) -> list[str]:
    rows = ["| task | model | programs | passed check | evaluated | mean task score | best |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for m in r.models:
            mean = "—" if m.mean_fitness is None else f"{m.mean_fitness:.3f}"
            best = "—" if m.best_fitness is None else f"{m.best_fitness:.3f} ({m.best_id})"
            rows.append(f"| {r.env}/{r.task} | {m.model} | {m.candidates} | {m.passed_check} | {m.evaluated} "
                        f"| {mean} | {best} |")
    return rows


def _cost_rows(results: Sequence[TaskResult]) -> list[str]:
    rows = ["| task | candidates trained | evolve env steps | evolve CPU s | evolve GPU s | LLM calls | tokens "
            "| LLM $ | retrain env steps | retrain CPU s | wall: evolve | retrain | random policy | total | winner |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        c, w = r.evolve_cost, r.wall_s
        retrain_steps = sum(x.env_steps for x in r.retrain_cost.values())
        retrain_cpu = sum(x.cpu_s for x in r.retrain_cost.values())
        rows.append(f"| {r.env}/{r.task} | {c.candidates_trained} | {c.env_steps:,} | {c.cpu_s:.0f} | {c.gpu_s:.0f} "
                    f"| {c.llm_requests} | {c.prompt_tokens + c.completion_tokens:,} | {c.cost_usd:.4f} "
                    f"| {retrain_steps:,} | {retrain_cpu:.0f} | {w['evolve']:.0f} s | {w['retrain']:.0f} s "
                    f"| {w['random']:.1f} s | {w['total']:.0f} s | {r.best_id or '—'} ({r.best_model or 'no LLM'}) |")
    return rows


def _detector_lines(results: Sequence[TaskResult]) -> list[str]:
    looked = {(r.env, r.task) for r in results}
    return [f"- {e.env}/{'/'.join(e.tasks)}: \"{e.name}\": {e.rule}" for e in EXPLOITS
            if any((e.env, t) in looked for t in e.tasks)]


def markdown(results: Sequence[TaskResult], base: RunConfig) -> str:
    wins, total, _ = tally(results, "beats_reference")
    at_least, _, _ = tally(results, "at_least_reference")
    lines = [
        "# Quality benchmark", "",
        f"Model(s): {_models(base)}. Evolve: {base.iterations} generation(s) × {base.samples} sample(s), metrics "
        f"feedback, trainer {base.trainer}. Fitness is the task's hidden score per episode (mean over evaluation "
        "episodes), given as mean ± std over the retrain seeds; success is the share of evaluation episodes at or "
        "above the task's success threshold. Exploit episodes: the evolved policy's evaluation episodes (every "
        "retrain seed) that match a known exploit of the task, and which.", "",
        *_task_rows(results), "",
        f"Evolved beats reference beyond the seed spread on {wins}/{total} task(s); evolved is at least the "
        f"reference on {at_least}/{total} task(s).", "",
        f"Rules: {HUMAN_RULE}; {RANDOM_RULE}; {BEATS_RULE}; {AT_LEAST_RULE}; {FAILED_RULE}.", "",
    ]
    detectors = _detector_lines(results)
    if detectors:
        lines += ["Exploit detectors (rewardsmith/evaluate/exploits.py):", "", *detectors, ""]
    lines += ["## Per model", "", "Task scores of the evolve itself (each candidate trained once, on the run's seed).",
              "", *_model_rows(results), "", "## Cost", "", COST_NOTE, "", *_cost_rows(results)]
    return "\n".join(lines) + "\n"


def report_dict(results: Sequence[TaskResult], base: RunConfig) -> dict[str, Any]:
    config = {k: v for k, v in dataclasses.asdict(base).items() if k not in ("env", "task")}
    counts = {}
    for field in ("beats_reference", "at_least_reference"):
        count, of, fraction = tally(results, field)
        counts[field] = {"tasks": count, "of": of, "fraction": fraction}
    return {"config": config,
            "rules": {"human_normalised": HUMAN_RULE, "random_normalised": RANDOM_RULE, "beats": BEATS_RULE,
                      "at_least": AT_LEAST_RULE, "failed": FAILED_RULE, "epsilon": EPSILON, "cost": COST_NOTE},
            **counts, "tasks": [r.to_dict() for r in results]}


def write_report(results: Sequence[TaskResult], base: RunConfig, out: Path) -> tuple[Path, Path]:
    json_path, md_path = out / "quality.json", out / "quality.md"
    write_json(json_path, report_dict(results, base))
    write_text(md_path, markdown(results, base))
    return json_path, md_path
