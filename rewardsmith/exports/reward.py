"""A run's reward -> a standalone module in one of several formats (text only: the program is never run here)."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from rewardsmith.env.registry import get_env
from rewardsmith.errors import UserError
from rewardsmith.exports.formats import FORMATS, ExportError
from rewardsmith.exports.torch_xp import TORCH_XP, for_torch
from rewardsmith.program.terminate import defines_terminate
from rewardsmith.records import Candidate
from rewardsmith.resources import ENVS_DIR
from rewardsmith.runs.store import RunStore, read_json, write_text


def chosen_candidate(store: RunStore, candidate_id: str | None) -> Candidate:
    if candidate_id is None:
        best = (store.load_result() or {}).get("best")
        if best is None:
            best = next((s.best_overall for g in reversed(store.generations())
                         if (s := store.load_selection(g)) and s.best_overall), None)
        if best is None:
            raise ExportError(f"run {store.root} has no evaluated candidate yet; name one with --candidate")
        candidate_id = best
    cand = store.find_candidate(candidate_id)
    if cand.source is None or not cand.source.strip():
        raise ExportError(f"candidate {candidate_id} has no reward program ({cand.status.value}: {cand.reason})")
    return cand


def check_output(output: Path, force: bool) -> None:
    """Where an export goes, checked before anything is written: a file path (not a folder, even with --force) in a
    folder that exists and this user may write to."""
    if output.is_dir():
        raise ExportError(f"{output} is a folder; give a file path in it, e.g. {output / 'reward.py'}")
    if output.exists() and not force:
        raise ExportError(f"{output} already exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise ExportError(f"directory {output.parent} does not exist")
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {output.parent} (permission denied); choose a folder you can write to")
    if output.exists() and not os.access(output, os.W_OK):
        raise ExportError(f"cannot overwrite {output} (permission denied); choose another file")


def _split_docstring(source: str) -> str:
    """The program without its own module docstring (the export's docstring replaces it)."""
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        lines = source.splitlines()
        return "\n".join(lines[tree.body[0].end_lineno or 0:]).strip()
    return source.strip()


def control_dt(env_name: str) -> float:
    import mujoco  # here, not at the top: the command imports this package to list the formats at every start

    env = get_env(env_name)
    return float(mujoco.MjModel.from_xml_path(str(env.model_path)).opt.timestep) * env.frame_skip


def env_folder(env_name: str) -> str:
    """The env's folder as an export's docstring names it: rewardsmith's own envs/<env>, or the path of the user's
    own env folder (an own env's state_view.py is not in rewardsmith); "envs/<env>" where the env no longer
    resolves (a policy export needs nothing else from it)."""
    try:
        folder = get_env(env_name).folder
    except UserError:
        return f"envs/{env_name}"
    return f"rewardsmith's envs/{env_name}" if folder.parent == ENVS_DIR else str(folder)


def render(fmt: str, source: str, *, run: str, cand: str, env: str, task: str, score: str, module: str) -> str:
    """The exported module's text: a docstring naming its origin and usage, the format's imports, the program
    (without its own docstring), the format's footer."""
    form = FORMATS.get(fmt)
    dt = control_dt(env)
    usage = form.usage.format(module=module, env=env, env_folder=env_folder(env), task=task, dt=dt)
    if form.terminate_usage and defines_terminate(source):  # the program's own termination (--evolve-termination)
        usage += "\n" + form.terminate_usage
    header = (f'"""Reward exported by rewardsmith ({fmt}) from run {run}, candidate {cand} '
              f'(env {env}, task {task!r}).\n\n{score}{usage}\n"""\n\n')
    body = _split_docstring(source)
    prelude = form.imports
    if form.on_torch:
        prelude += TORCH_XP
        body = for_torch(body)
    text = header + (prelude + "\n\n" if prelude else "") + body + "\n" + form.footer(source, dt)
    ast.parse(text)  # a bug here, not in the user's program: the program already parsed
    return text


def _confidence(store: RunStore, cand_id: str) -> str:
    """The run's statement of its answer (result.json: the selection rule's pick, confirmed from scratch where the
    run did), when the exported candidate is that answer."""
    result = store.load_result() or {}
    choice = result.get("choice") or {}
    if result.get("best") != cand_id or not choice.get("statement"):
        return ""
    return f"Selection: {choice['statement']}.\nRule: {choice.get('rule', '')}.\n\n"


def pruned_program(store: RunStore, cand: Candidate) -> str:
    """The reward `rewardsmith ablate` pruned for `cand` (RUN/ablation/<id>/pruned_reward.py); ExportError saying
    why there is none."""
    path = store.pruned_reward_path(cand.id)
    if path.is_file():
        return path.read_text()
    why = ("its ablation found no term to drop, or the pruned reward did not retrain as well (see "
           f"{store.ablation_path(cand.id)})" if store.ablation_path(cand.id).is_file() else "it was never ablated")
    raise ExportError(f"candidate {cand.id} has no pruned reward: {why}; run `rewardsmith ablate {store.root} "
                      f"--candidate {cand.id}` first, or export without --pruned")


def _pruned_note(store: RunStore, cand_id: str) -> str:
    """What the ablation said of the pruned reward: the terms it dropped and its retraining against the full one."""
    path = store.ablation_path(cand_id)
    tried = (read_json(path) if path.is_file() else {}).get("pruned") or []
    pruned: dict[str, Any] = next((p for p in tried if p.get("as_well")), {})
    dropped = ", ".join(pruned.get("dropped") or ()) or "?"
    return (f"Pruned by `rewardsmith ablate` (without {dropped}); the score above is the original's, the pruned one "
            f"{pruned.get('reason', 'was retrained')} ({path.relative_to(store.root)}).\n\n")


def export_reward(store: RunStore, candidate_id: str | None, output: Path, force: bool = False,
                  fmt: str = "numpy", pruned: bool = False) -> Path:
    FORMATS.check(fmt)  # an unknown format fails before anything else is looked at
    cand = chosen_candidate(store, candidate_id)
    if pruned:  # the pruned program in place of the original (its score below is the original's: see the note)
        cand = cand.replace(source=pruned_program(store, cand))
    check_output(output, force)
    config = store.config()
    evaluation = cand.evaluation
    fitness = evaluation.fitness_mean if evaluation else None
    score = f"Task score after training: {fitness:.3f} (success rate {evaluation.success_rate}).\n\n" \
        if evaluation and fitness is not None else "No task score recorded for this candidate.\n\n"
    score += _confidence(store, cand.id)
    if pruned:
        score += _pruned_note(store, cand.id)
    text = render(fmt, cand.source or "", run=store.root.name, cand=cand.id, env=config.env, task=config.task,
                  score=score, module=output.stem)
    write_text(output, text)
    return output
