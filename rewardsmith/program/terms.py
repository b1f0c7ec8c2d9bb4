"""Each term of a reward program as a few lines of its own: the expression `reward_terms` returns for it and the
statements it needs (the assignments in the function it reads, transitively, and the module-level helpers and
constants those use), in the program's order. The memory of verified terms (llm/memory.py) keeps and shows a term this
way, so a later prompt can offer one term of an old answer without the rest of its program.

Text only: the program is parsed, never run here. A backward slice over plain statements: a statement is kept when it
binds a name the term still needs (a loop or `with` that binds one is kept whole); reassignments are not told apart,
so a slice may keep a statement more than it needs, never fewer."""

from __future__ import annotations

import ast
import json
import textwrap

from rewardsmith.program.prune import _plain_dict, _returns

_GIVEN = {"s", "action", "xp"}  # reward_terms's parameters: never looked up


def term_sources(source: str) -> dict[str, str] | None:
    """term -> its lines (`"name": expression` last); None where the program's last return in `reward_terms` is not
    a dict literal with string keys (the terms cannot be told apart) or the program does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    returns = _returns(tree)
    returned = _plain_dict(returns[-1].value) if returns else None
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "reward_terms"), None)
    if returned is None or function is None:
        return None
    module = [n for n in tree.body if n is not function and not _is_scales(n)]
    body = [n for n in function.body if not isinstance(n, ast.Return)]
    terms = {}
    for key, value in zip(returned.keys, returned.values, strict=True):
        assert isinstance(key, ast.Constant), "a plain dict has string keys"
        wanted = _loads(value) - _GIVEN
        inside = _slice(body, wanted)
        outside = _slice(module, set().union(*(_loads(n) for n in inside), wanted) - _GIVEN)
        lines = [_text(source, n) for n in (*outside, *inside)]
        returned_line = f"{json.dumps(key.value)}: {ast.get_source_segment(source, value)}"
        terms[str(key.value)] = "\n".join([*lines, returned_line])
    return terms


def _is_scales(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets)


def _slice(statements: list[ast.stmt], wanted: set[str]) -> list[ast.stmt]:
    """The statements that bind a wanted name, and those that bind what they read, in their order."""
    kept: list[ast.stmt] = []
    needed = set(wanted)
    for node in reversed(statements):
        if _binds(node) & needed:
            kept.append(node)
            needed |= _loads(node)
    return kept[::-1]


def _binds(node: ast.stmt) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        names.add(node.name)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _text(source: str, node: ast.stmt) -> str:
    """A statement's source as written, dedented (a statement inside the function loses its indentation)."""
    return textwrap.dedent(ast.get_source_segment(source, node, padded=True) or "")
