"""The evolution loop (Eureka's algorithm box), resumable from the run store.

    for each generation:
        programs  <- K samples from the LLM (or K mutations of the best SCALES, LLM-free)
        each program: extract -> static + sandboxed check   (resample while fewer than K pass, bounded)
        each passing program: train PPO + evaluate, in the sandbox
        ranking   <- task fitness (NaN and failures never win)
        feedback  <- reflection on the best program + every failure's reason -> the next prompt

Every product is saved as soon as it exists; a resumed run reloads finished work instead of redoing it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

from rewardsmith import prompts, reflect
from rewardsmith.check import check_in_sandbox
from rewardsmith.config import RunConfig, train_config_for
from rewardsmith.envs import EnvSpec, get_env, resolve_task
from rewardsmith.extract import ExtractError, extract_program
from rewardsmith.mutate import mutated_programs
from rewardsmith.retrain import outcome_of, train_in_sandbox
from rewardsmith.store import RunStore, read_json, write_json, write_text
from rewardsmith.tasks import Task

Report = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class Context:
    """What every stage of one run needs, resolved once."""

    store: RunStore
    cfg: RunConfig
    env: EnvSpec
    task: Task
    report: Report


def evolve(store: RunStore, cfg: RunConfig, report: Report = lambda event: None) -> dict:
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    if cfg.feedback == "metrics" and not task.has_fitness:
        raise ValueError(f"task {cfg.task!r} has no fitness metric, so --feedback metrics cannot rank it; "
                         "use a named task (see `rewardsmith envs`)")
    ctx = Context(store, cfg, env, task, report)
    best = None
    for gen in range(cfg.iterations):
        report({"event": "generation", "gen": gen, "of": cfg.iterations})
        selection = store.load_selection(gen)
        if selection is None:
            candidates = run_generation(ctx, gen, best)
            selection = select(gen, candidates, best)
            store.save_selection(gen, selection)
        best = _load(store, selection["best_overall"]) if selection["best_overall"] else best
        report({"event": "selection", "gen": gen, **selection})
    result = {"best": best["id"] if best else None,
              "fitness": best["evaluation"]["fitness_mean"] if best else None,
              "generations": cfg.iterations}
    write_json(store.root / "result.json", result)
    return result


def _load(store: RunStore, candidate_id: str) -> dict:
    return store.load_candidate(*store.find_candidate(candidate_id))


def run_generation(ctx: Context, gen: int, best: dict | None) -> list[dict]:
    messages = None if ctx.cfg.llm_free else _messages(ctx, gen, best)
    candidates: list[dict] = []
    for round_index in range(ctx.cfg.max_sample_rounds):
        passing = sum(c["status"] in ("checked", "evaluated", "train_failed") for c in candidates)
        if passing >= ctx.cfg.samples:
            break
        entries = _sample_round(ctx, gen, round_index, ctx.cfg.samples - passing, messages, best)
        for entry in entries:
            candidates.append(_checked_candidate(ctx, gen, len(candidates), entry))
    for cand in candidates:
        if cand["status"] == "checked":
            cand.update(_train(ctx, gen, cand))
            ctx.store.save_candidate(gen, cand["index"], cand)
    return candidates


# ---- sampling -------------------------------------------------------------------------------------------------

def _messages(ctx: Context, gen: int, best: dict | None) -> list[dict]:
    path = ctx.store.gen_dir(gen) / "messages.json"
    if path.is_file():  # a resumed run sends the very prompt it sent before
        return read_json(path)
    messages = prompts.chat(prompts.render("system"), _user_prompt(ctx, gen, best))
    write_json(path, messages)
    return messages


def _first_prompt(ctx: Context) -> str:
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(ctx.env.model_path))
    return prompts.render(
        "first", env_name=ctx.env.name, env_description=ctx.env.description,
        state_view=ctx.env.state_view_source.strip(), action_dim=model.nu,
        control_dt=f"{model.opt.timestep * ctx.env.frame_skip:g}", episode_steps=ctx.task.episode_steps,
        task_description=ctx.task.description,
    )


def _user_prompt(ctx: Context, gen: int, best: dict | None) -> str:
    first = _first_prompt(ctx)
    if gen == 0:
        return first
    previous = [ctx.store.load_candidate(gen - 1, i) for i in ctx.store.candidate_indices(gen - 1)]
    failures = reflect.failure_list(previous)
    if best is None:
        return prompts.render("error_only", first_prompt=first, failure_list=failures or "(no details recorded)")
    failure_text = prompts.render("failures", failure_list=failures) if failures else ""
    return prompts.render(
        "next", first_prompt=first, best_source=best["source"].strip(),
        reflection=reflect.reflection(best, ctx.task.episode_steps), failures=failure_text,
    )


def _sample_round(ctx: Context, gen: int, round_index: int, count: int, messages, best) -> list[dict]:
    """The entries of one round ({"text", "error"}: LLM completions or mutated programs), saved so that a
    resumed run replays them instead of asking again."""
    path = ctx.store.gen_dir(gen) / f"round_{round_index}.json"
    if path.is_file():
        return read_json(path)
    if ctx.cfg.llm_free:
        entries = [{"text": f"```python\n{src}```\n", "error": None, "origin": "mutation"}
                   for src in _llm_free_programs(ctx, gen, round_index, count, best)]
    else:
        from rewardsmith import llm  # litellm takes seconds to import; the LLM-free mode never needs it

        config = llm.LLMConfig(model=ctx.cfg.model, api_base=ctx.cfg.api_base, temperature=ctx.cfg.temperature)
        ctx.report({"event": "llm", "gen": gen, "round": round_index, "n": count})
        completions = llm.sample(config, messages, count, log_dir=ctx.store.gen_dir(gen) / "llm")
        entries = [dataclasses.asdict(c) for c in completions]
        write_json(ctx.store.gen_dir(gen) / f"usage_{round_index}.json", llm.usage_totals(completions))
    write_json(path, entries)
    return entries


def _llm_free_programs(ctx: Context, gen: int, round_index: int, count: int, best: dict | None) -> list[str]:
    reference = ctx.env.reference_reward_path(ctx.task.name).read_text()
    ref_program = extract_program(f"```python\n{reference}```")
    parent = best["source"] if best else reference
    parent_scales = best["scales"] if best else ref_program.scales
    seed = ctx.cfg.seed * 1000 + gen * 10 + round_index
    programs = mutated_programs(parent, parent_scales, count, seed, reference=ref_program.scales)
    if gen == 0 and round_index == 0:  # the reference itself competes, so evolution can only improve on it
        programs[0] = reference
    return programs


# ---- check and train ------------------------------------------------------------------------------------------

def _checked_candidate(ctx: Context, gen: int, index: int, entry: dict) -> dict:
    existing = ctx.store.load_candidate(gen, index)
    if existing is not None and existing["status"] != "pending":
        return existing
    cand_dir = ctx.store.cand_dir(gen, index)
    cand = {"id": f"g{gen}c{index:02d}", "generation": gen, "index": index, "status": "pending", "reason": None,
            "source": None, "scales": None, "check": None, "train": None, "evaluation": None}
    text = entry["text"]
    write_text(cand_dir / "response.md", text or "")
    if text is None:
        cand.update(status="llm_failed", reason=f"the LLM request failed: {entry['error']}")
    else:
        try:
            program = extract_program(text)
        except ExtractError as err:
            cand.update(status="extract_failed", reason=str(err))
        else:
            cand.update(_check(ctx, cand_dir, program))
    ctx.store.save_candidate(gen, index, cand)
    ctx.report({"event": "candidate", "id": cand["id"], "status": cand["status"], "reason": cand["reason"]})
    return cand


def _check(ctx: Context, cand_dir: Path, program) -> dict:
    write_text(cand_dir / "reward.py", program.source)
    report = check_in_sandbox(ctx.env.name, ctx.cfg.task, program.source, cand_dir / "check")
    update = {"source": program.source, "scales": program.scales, "check": dataclasses.asdict(report)}
    if report.passed:
        return {**update, "status": "checked"}
    return {**update, "status": "check_failed", "reason": "; ".join(report.errors)}


def training_config(env: EnvSpec, task: Task, cfg: RunConfig, seed: int):
    overrides = {"steps": cfg.train_steps or task.train_steps, "seed": seed, **cfg.train}
    return train_config_for(env.ppo, **overrides)


def _train(ctx: Context, gen: int, cand: dict) -> dict:
    train_cfg = training_config(ctx.env, ctx.task, ctx.cfg, seed=ctx.cfg.seed)
    workdir = ctx.store.cand_dir(gen, cand["index"]) / "work"
    on_progress = lambda m: ctx.report({"event": "train", "id": cand["id"], "total": train_cfg.steps, **m})  # noqa: E731
    outcome = outcome_of(train_in_sandbox(ctx.env, ctx.cfg.task, cand["source"], train_cfg, workdir, on_progress,
                                          trainer=ctx.cfg.trainer))
    if outcome["status"] != "ok":
        update = {"status": "train_failed", "reason": f"training failed: {outcome['reason']}"}
    else:
        update = {"status": "evaluated", "train": outcome["train"], "evaluation": outcome["evaluation"]}
    ctx.report({"event": "candidate", "id": cand["id"], **update})
    return update


# ---- selection ------------------------------------------------------------------------------------------------

def _fitness(cand: dict) -> float:
    value = (cand.get("evaluation") or {}).get("fitness_mean")
    return value if value is not None and math.isfinite(value) else -math.inf


def select(gen: int, candidates: list[dict], best: dict | None) -> dict:
    """Ranks the generation by fitness; only evaluated candidates with a finite fitness can be chosen."""
    ranked = sorted((c for c in candidates if c["status"] == "evaluated" and _fitness(c) > -math.inf),
                    key=_fitness, reverse=True)
    gen_best = ranked[0] if ranked else None
    overall = gen_best if gen_best and (best is None or _fitness(gen_best) > _fitness(best)) else best
    return {
        "generation": gen,
        "mode": "metrics",
        "ranking": [c["id"] for c in ranked],
        "fitness": {c["id"]: _fitness(c) for c in ranked},
        "best": gen_best["id"] if gen_best else None,
        "best_overall": overall["id"] if overall else None,
        "best_overall_fitness": _fitness(overall) if overall else None,
        "failed": {c["id"]: c["reason"] for c in candidates if c["status"].endswith("_failed")},
    }
