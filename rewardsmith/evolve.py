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

from rewardsmith.feedback import rankers as feedback
from rewardsmith.feedback import reflect
from rewardsmith.llm import prompts
from rewardsmith.program.preflight import check_in_sandbox
from rewardsmith.config import RunConfig, train_config_for
from rewardsmith.env.registry import EnvSpec, get_env, resolve_task
from rewardsmith.program.extract import ExtractError, extract_program
from rewardsmith.llm.mutate import mutated_programs
from rewardsmith.train.seeds import outcome_of, train_in_sandbox, train_seeds
from rewardsmith.runs.store import RunStore, read_json, write_json, write_text
from rewardsmith.env.task import Task

Report = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class Context:
    """What every stage of one run needs, resolved once."""

    store: RunStore
    cfg: RunConfig
    env: EnvSpec
    task: Task
    report: Report


def prepare(cfg: RunConfig) -> tuple[EnvSpec, Task]:
    """Resolves and cross-checks a run's configuration; raises ValueError (one line) before anything is written."""
    cfg.validate()
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    if cfg.feedback in ("metrics", "synthetic") and not task.has_fitness:
        raise ValueError(f"task {cfg.task!r} has no fitness metric, so --feedback {cfg.feedback} cannot rank it; "
                         "use --feedback human, or a named task (see `rewardsmith envs`)")
    if cfg.llm_free and not env.reference_reward_path(task.name).is_file():
        raise ValueError(f"--llm-free evolves a task's reference reward, and {cfg.task!r} has none; "
                         "use a named task (see `rewardsmith envs`) or an LLM")
    return env, task


def evolve(store: RunStore, cfg: RunConfig, report: Report = lambda event: None) -> dict:
    env, task = prepare(cfg)
    ctx = Context(store, cfg, env, task, report)
    server = None
    if cfg.feedback == "human":
        from rewardsmith.feedback.review.server import serve

        server = serve(store, port=cfg.review_port, port_flag="--review-port")
        report({"event": "review", "url": server.url})
    try:
        best = _run_generations(ctx, server)
    finally:
        if server is not None:
            server.close()
    result = {"best": best["id"] if best else None,
              "fitness": feedback.fitness(best) if best and feedback.fitness(best) > -math.inf else None,
              "generations": cfg.iterations}
    if best and cfg.final_seeds:
        result["final"] = _final_evaluation(ctx, best)
    write_json(store.root / "result.json", result)
    return result


def _final_evaluation(ctx: Context, best: dict) -> dict:
    """Eureka's last step: the winner retrained on fresh seeds, so its score is not one lucky training."""
    path = ctx.store.root / "final" / "summary.json"
    if path.is_file():
        return read_json(path)
    seeds = [ctx.cfg.seed + 1 + i for i in range(ctx.cfg.final_seeds)]
    ctx.report({"event": "final", "id": best["id"], "seeds": seeds})
    summary = train_seeds(ctx.env, ctx.cfg.task, best["source"], training_config(ctx.env, ctx.task, ctx.cfg, 0),
                          seeds, ctx.store.root / "final", ctx.report, ctx.cfg.trainer).to_dict()
    write_json(path, summary)
    return summary


def _run_generations(ctx: Context, server) -> dict | None:
    best = None  # the parent of the next generation (see feedback.py for who chooses it)
    for gen in range(ctx.cfg.iterations):
        ctx.report({"event": "generation", "gen": gen, "of": ctx.cfg.iterations})
        selection = ctx.store.load_selection(gen)
        if selection is None:
            candidates = run_generation(ctx, gen, best)
            selection = _select(ctx, gen, candidates, best, server)
            ctx.store.save_selection(gen, selection)
        best = _load(ctx.store, selection["best_overall"]) if selection["best_overall"] else best
        ctx.report({"event": "selection", "gen": gen, **selection})
    return best


def _select(ctx: Context, gen: int, candidates: list[dict], best: dict | None, server) -> dict:
    if ctx.cfg.feedback == "metrics":
        return feedback.select_by_metrics(gen, candidates, best)
    if ctx.cfg.feedback == "synthetic":
        return feedback.select_synthetic(ctx.store, gen, candidates, best, ctx.cfg.synthetic_noise, ctx.cfg.seed)
    announce = lambda g: ctx.report({"event": "awaiting_ranking", "gen": g, "of": ctx.cfg.iterations,  # noqa: E731
                                     "url": server.url, "run": str(ctx.store.root)})
    return feedback.select_by_person(ctx.store, gen, candidates, best, announce)


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
        if cand["status"] == "evaluated" and ctx.cfg.video:
            _film(ctx, gen, cand)
    return candidates


def _film(ctx: Context, gen: int, cand: dict) -> None:
    """Films the evaluation rollout for the review page; a rendering failure never fails the candidate."""
    from rewardsmith.evaluate.film import RenderError, film_candidate

    try:
        filmed = film_candidate(ctx.store, gen, cand["index"])
    except RenderError as err:
        ctx.report({"event": "film_failed", "id": cand["id"], "reason": str(err)})
        return
    if filmed.get("filmed"):
        ctx.report({"event": "filmed", "id": cand["id"], "seconds": filmed.get("seconds")})


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
    if ctx.cfg.feedback == "metrics":
        return prompts.render(
            "next", first_prompt=first, best_source=best["source"].strip(),
            reflection=reflect.reflection(best, ctx.task.episode_steps), failures=failure_text,
        )
    return _ranked_prompt(ctx, gen, first, best, failure_text)


def _ranked_prompt(ctx: Context, gen: int, first: str, best: dict, failure_text: str) -> str:
    """ICPL's prompt: best and worst of the last ranking, the reviewer's words, the history of chosen programs."""
    selection = ctx.store.load_selection(gen - 1)
    worst = _load(ctx.store, selection["worst"]) if selection.get("worst") else None
    chosen = [_load(ctx.store, s["best"]) for g in range(gen) if (s := ctx.store.load_selection(g)) and s["best"]]
    steps = ctx.task.episode_steps
    return prompts.render(
        "next_ranked", first_prompt=first, best_id=best["id"], worst_id=worst["id"] if worst else "none",
        best_source=best["source"].strip(),
        best_reflection=reflect.reflection(best, steps, show_score=False),
        worst_source=worst["source"].strip() if worst else "# (no second program could be compared)",
        worst_reflection=reflect.reflection(worst, steps, show_score=False) if worst else "",
        comments=reflect.comments_text(selection), history=reflect.history_text(chosen), failures=failure_text,
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
        from rewardsmith.llm import client as llm  # litellm takes seconds to import; the LLM-free mode never needs it

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
