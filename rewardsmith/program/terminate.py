"""A program's own termination (evolve --evolve-termination): an optional `def terminate(s, xp)` beside the reward.

Contract: the same as reward_terms' (pure array code, `xp` the array module, the state view `s` after the step, the
same static policy and sandbox), returning a boolean array of the batch shape; True ends the episode in training.
It is OR'ed with the task's own termination by the trainers and never used by the evaluation, whose episodes and task
score keep the task's own termination, so a termination cannot make a score look better than it is.

Text only here (nothing is executed): whether a source defines terminate, and the source without it. A run that
does not evolve terminations removes a terminate the LLM wrote anyway (rather than failing the candidate: its reward
may be good) and says so in the check's warnings, so the LLM learns that it was not used; what is stored, trained
and exported is then the same program.
"""

from __future__ import annotations

import ast
from typing import Any

TERMINATE = "terminate"
TERMINATE_PARAMS = ("s", "xp")
LEARNED_TERMINATION = "learned_termination"  # CurvePoint.extra: share of the finished training episodes it ended
LEARNED_END = "learned_end"  # a trainer's per-episode sum: 1 where the program's terminate ended it, else 0
REMOVED_WARNING = ("the program defines terminate(s, xp), but this run does not evolve terminations: it was removed "
                   "and training used the task's own termination only; write only SCALES and reward_terms")


def _terminate_defs(tree: ast.Module) -> list[ast.stmt]:
    return [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == TERMINATE]


def defines_terminate(source: str | None) -> bool:
    """The module defines a top-level `terminate` function (a source that does not parse defines nothing)."""
    try:
        return bool(source) and bool(_terminate_defs(ast.parse(source or "")))
    except (SyntaxError, ValueError):
        return False


def without_terminate(source: str) -> str:
    """The source with its top-level `terminate` definitions cut out (their lines, decorators included); the rest
    is left as written."""
    lines = source.splitlines(keepends=True)
    cut: set[int] = set()
    for node in _terminate_defs(ast.parse(source)):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])  # type: ignore[attr-defined]
        cut.update(range(first - 1, node.end_lineno or node.lineno))
    kept = "".join(line for i, line in enumerate(lines) if i not in cut)
    return kept.rstrip() + "\n"


def admitted(source: str, evolve_termination: bool) -> tuple[str, str | None]:
    """The source a run trains, and a warning for the LLM where its terminate was removed (the run does not evolve
    terminations)."""
    if evolve_termination or not defines_terminate(source):
        return source, None
    return without_terminate(source), REMOVED_WARNING


def program_ends(terminate: Any, s: Any, xp: Any, shape: tuple[int, ...]) -> Any:
    """The program's terminate on the batch `s` as a bool array of `shape` (numpy or jax.numpy); call it only where
    the program may run (the sandboxed worker)."""
    return xp.broadcast_to(xp.asarray(terminate(s, xp)).astype(bool), shape)
