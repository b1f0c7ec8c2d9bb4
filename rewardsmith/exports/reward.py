"""A run's reward -> a standalone module in one of several formats (text only: the program is never run here)."""

from __future__ import annotations

import ast
from pathlib import Path

import mujoco

import rewardsmith.exports.templates as templates
from rewardsmith.env.registry import get_env
from rewardsmith.errors import UserError
from rewardsmith.records import Candidate
from rewardsmith.runs.store import RunStore, write_text

FORMATS = ("numpy", "gymnasium", "jax", "torch", "isaaclab")

_IMPORTS = {
    "numpy": "",
    "gymnasium": "import gymnasium\nimport numpy as np\n",
    "jax": "import jax.numpy as jnp\n",
    "torch": "import math\nfrom typing import Dict, Tuple\n\nimport torch\nfrom torch import Tensor\n",
    "isaaclab": "import math\n\nimport torch\nfrom isaaclab.managers import RewardTermCfg as RewTerm\n"
                "from isaaclab.utils import configclass\n",
}


class ExportError(UserError):
    """The named candidate has no trained reward, the format is unknown, or the output cannot be written."""


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
    if output.exists() and not force:
        raise ExportError(f"{output} already exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise ExportError(f"directory {output.parent} does not exist")


def _scale_names(source: str) -> list[str]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                return [str(k) for k in value]
    raise ExportError("the reward program has no literal SCALES dict")


def _split_docstring(source: str) -> str:
    """The program without its own module docstring (the export's docstring replaces it)."""
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        lines = source.splitlines()
        return "\n".join(lines[tree.body[0].end_lineno or 0:]).strip()
    return source.strip()


class _AstypeToTorch(ast.NodeTransformer):
    """x.astype(T) -> torch_xp.astype(x, T): torch tensors have no .astype."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "astype" and len(node.args) == 1:
            func = ast.Attribute(value=ast.Name("torch_xp", ast.Load()), attr="astype", ctx=ast.Load())
            return ast.copy_location(ast.Call(func=func, args=[node.func.value, *node.args], keywords=[]), node)
        return node


def _for_torch(body: str) -> str:
    """The program with its .astype calls rewritten (re-printed by ast only when it has any: comments then go)."""
    tree = ast.parse(body)
    if not any(isinstance(n, ast.Attribute) and n.attr == "astype" for n in ast.walk(tree)):
        return body
    return ast.unparse(ast.fix_missing_locations(_AstypeToTorch().visit(tree)))


def control_dt(env_name: str) -> float:
    env = get_env(env_name)
    return float(mujoco.MjModel.from_xml_path(str(env.model_path)).opt.timestep) * env.frame_skip


def render(fmt: str, source: str, *, run: str, cand: str, env: str, task: str, score: str, module: str) -> str:
    """The exported module's text."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    dt = control_dt(env)
    usage = templates.USAGE[fmt].format(module=module, env=env, task=task, dt=dt)
    header = (f'"""Reward exported by rewardsmith ({fmt}) from run {run}, candidate {cand} '
              f'(env {env}, task {task!r}).\n\n{score}{usage}\n"""\n\n')
    body = _split_docstring(source)
    prelude = _IMPORTS[fmt]
    if fmt in ("torch", "isaaclab"):
        prelude += templates.TORCH_XP
        body = _for_torch(body)
    if fmt == "isaaclab":
        footer = templates.isaaclab_footer(_scale_names(source), dt)
    else:
        footer = templates.FOOTER[fmt]
    text = header + (prelude + "\n\n" if prelude else "") + body + "\n" + footer
    ast.parse(text)  # a bug here, not in the user's program: the program already parsed
    return text


def export_reward(store: RunStore, candidate_id: str | None, output: Path, force: bool = False,
                  fmt: str = "numpy") -> Path:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    cand = chosen_candidate(store, candidate_id)
    check_output(output, force)
    config = store.config()
    evaluation = cand.evaluation
    fitness = evaluation.fitness_mean if evaluation else None
    score = f"Task score after training: {fitness:.3f} (success rate {evaluation.success_rate}).\n\n" \
        if evaluation and fitness is not None else "No task score recorded for this candidate.\n\n"
    text = render(fmt, cand.source or "", run=store.root.name, cand=cand.id, env=config.env, task=config.task,
                  score=score, module=output.stem)
    write_text(output, text)
    return output
