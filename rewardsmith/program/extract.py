"""LLM text -> RewardProgram. Strict: only fenced code blocks count, and the code must parse.

No regex fall-backs that guess at code in prose: a response without a usable fenced block is a failed candidate
whose reason is sent back to the LLM.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from rewardsmith.errors import RewardsmithError
from rewardsmith.program.terminate import TERMINATE, defines_terminate

# ```python ... ``` (also ```py / ```Python); the closing fence must start a line.
_FENCE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class ExtractError(RewardsmithError, ValueError):
    """The response holds no usable reward program; the message is written for the LLM."""


@dataclass(frozen=True)
class RewardProgram:
    source: str
    scales: dict[str, float]
    terms: tuple[str, ...]  # the SCALES keys, in order
    has_terminate: bool = False  # it defines the optional `def terminate(s, xp)` (program/terminate.py)


def code_blocks(text: str) -> list[str]:
    """Fenced python blocks; untagged fences count only when no block is tagged python."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    tagged = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    return tagged or [body for lang, body in blocks if lang == ""]


def _defines(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _program_source(blocks: list[str]) -> str:
    """The block that defines both SCALES and reward_terms (the last one if the LLM revised itself), else the
    blocks joined in order when together they define both."""
    parsed = []
    for i, block in enumerate(blocks):
        try:
            parsed.append((block, _defines(ast.parse(block))))
        except SyntaxError as err:
            raise ExtractError(
                f"code block {i + 1} has a Python syntax error at line {err.lineno}: {err.msg}. "
                "Return one complete, valid ```python block."
            ) from None
    complete = [block for block, names in parsed if {"SCALES", "reward_terms"} <= names]
    if complete:
        return complete[-1] + _separate_terminate(complete[-1], parsed)
    joined = "\n\n".join(block for block, _ in parsed)
    missing = {"SCALES", "reward_terms"} - _defines(ast.parse(joined))
    if missing:
        raise ExtractError(
            f"the code does not define {' and '.join(sorted(missing))}. A reward program defines a module-level "
            "`SCALES = {...}` dict and `def reward_terms(s, action, xp):` returning a dict with the same keys."
        )
    return joined


def _separate_terminate(program: str, parsed: list[tuple[str, set[str]]]) -> str:
    """A terminate the LLM wrote in a block of its own, after a complete program without one ("" if none)."""
    if TERMINATE in _defines(ast.parse(program)):
        return ""
    alone = [block for block, names in parsed if TERMINATE in names and not names & {"SCALES", "reward_terms"}]
    return "\n\n" + alone[-1] if alone else ""


def _scales(source: str) -> dict[str, float]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ExtractError(
                    f"SCALES (line {node.lineno}) must be a literal dict of term name -> number, "
                    "with no expressions or names in it."
                ) from None
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in value.items()
            ):
                raise ExtractError(f"SCALES (line {node.lineno}) must map term names (strings) to numbers.")
            return {k: float(v) for k, v in value.items()}
    raise ExtractError("no module-level `SCALES = {...}` assignment found.")


def literal_scales(source: str) -> dict[str, float]:
    """A program's SCALES literal, term -> scale (ExtractError when it has none or it is not term -> number)."""
    return _scales(source)


def extract_program(text: str | None) -> RewardProgram:
    if not text or not text.strip():
        raise ExtractError("the response was empty. Reply with one ```python block holding the reward program.")
    blocks = code_blocks(text)
    if not blocks:
        raise ExtractError("no fenced code block found. Put the whole reward program in one ```python block.")
    source = _program_source(blocks).strip() + "\n"
    scales = _scales(source)
    return RewardProgram(source=source, scales=scales, terms=tuple(scales), has_terminate=defines_terminate(source))


def replace_scales(source: str, scales: dict[str, float]) -> str:
    """The same program with a new SCALES literal (used by the LLM-free mode's mutations)."""
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets):
            body = ", ".join(f"{k!r}: {v:.6g}" for k, v in scales.items())
            start, end = node.lineno - 1, node.end_lineno
            return "".join(lines[:start]) + f"SCALES = {{{body}}}\n" + "".join(lines[end:])
    raise ExtractError("no module-level `SCALES = {...}` assignment found.")
