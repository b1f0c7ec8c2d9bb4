"""Variants of a reward program for an ablation (`rewardsmith ablate`), and the program without some of its terms.

Text only: the program is parsed, never run here. A variant differs from the program only in its SCALES literal, so it
keeps passing the contract check the program passed: a term removed is its scale set to 0 (total = sum SCALES[k] *
terms[k], so the term no longer reaches the reward, exactly as if it were gone), a term halved or doubled is its scale x
0.5 or x 2. The pruned program drops the terms from SCALES and from the dict `reward_terms` returns where every return
is a dict literal with string keys (the usual shape: an entry on lines of its own goes with its lines, the other
entries' comments stay; a dict laid out otherwise is written again, without its comments); otherwise it keeps them with
scale 0, which means the same reward, so the module stays valid either way (keys of SCALES and of the returned dict must
match)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from rewardsmith.program.extract import literal_scales, replace_scales

FULL = "full"  # the name of the unchanged program among the variants
REMOVED = 0.0  # the scale factor of a removed term
SCALE_FACTORS = (0.5, 2.0)  # the factors of `ablate --scales`


@dataclass(frozen=True)
class Variant:
    """One reward to retrain: the full program (term None) or the program with one term's scale times `factor`."""

    name: str  # "full", "-upright" (removed), "upright x0.5"
    term: str | None
    factor: float
    source: str

    @property
    def removes(self) -> bool:
        return self.term is not None and self.factor == REMOVED

    @property
    def folder(self) -> str:
        """A file-system-safe name for the variant's training folder."""
        if self.term is None:
            return self.name
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in self.term)
        return f"without_{safe}" if self.removes else f"{safe}_x{self.factor:g}"


def variant_name(term: str, factor: float) -> str:
    return f"-{term}" if factor == REMOVED else f"{term} x{factor:g}"


def variants(source: str, with_scales: bool = False) -> list[Variant]:
    """The full program first, then each term removed (and, `with_scales`, each term's scale halved and doubled),
    in SCALES order."""
    scales = literal_scales(source)
    factors = (REMOVED, *SCALE_FACTORS) if with_scales else (REMOVED,)
    out = [Variant(FULL, None, 1.0, source)]
    for term in scales:
        for factor in factors:
            changed = {k: v * factor if k == term else v for k, v in scales.items()}
            out.append(Variant(variant_name(term, factor), term, factor, replace_scales(source, changed)))
    return out


def pruned_source(source: str, drop: Iterable[str]) -> str:
    """The program without the terms `drop` (ValueError for an unknown term or for dropping every term)."""
    scales = literal_scales(source)
    dropped = set(drop)
    unknown = sorted(dropped - set(scales))
    if unknown:
        raise ValueError(f"terms {unknown} are not in SCALES ({', '.join(scales)})")
    if dropped >= set(scales):
        raise ValueError("a reward needs at least one term; not all of them can be dropped")
    kept = {k: v for k, v in scales.items() if k not in dropped}
    edited = _without_returned_keys(replace_scales(source, kept), dropped)
    if edited is not None:
        return edited
    # a return that is not a plain dict literal: the terms stay computed, with scale 0 they add nothing
    return replace_scales(source, {k: REMOVED if k in dropped else v for k, v in scales.items()})


def _returns(tree: ast.Module) -> list[ast.Return] | None:
    """The return statements of the module-level `reward_terms`, or None where there is no such function."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "reward_terms":
            return [n for n in ast.walk(node) if isinstance(n, ast.Return)]
    return None


def _plain_dict(node: ast.expr | None) -> ast.Dict | None:
    """The node as a dict literal whose keys are all string constants (no `**other`), else None."""
    if not isinstance(node, ast.Dict):
        return None
    if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
        return node
    return None


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """The character offset of an AST position (its column counts UTF-8 bytes)."""
    before = sum(len(line) for line in lines[:lineno - 1])
    return before + len(lines[lineno - 1].encode()[:col].decode())


def _without_returned_keys(source: str, dropped: set[str]) -> str | None:
    """`source` with the entries `dropped` taken out of every dict literal `reward_terms` returns; None where a
    return is not such a literal."""
    tree = ast.parse(source)
    returns = _returns(tree)
    dicts = [_plain_dict(r.value) for r in returns or []]
    if not dicts or any(d is None for d in dicts):
        return None
    lines = source.splitlines(keepends=True)
    edits = []
    for node in (d for d in dicts if d is not None):
        own_lines = _entry_lines(node, dropped, lines)
        if own_lines is not None:  # each dropped entry on lines of its own: delete them, comments elsewhere stay
            edits += [(_offset(lines, first, 0), _offset(lines, last + 1, 0), "") for first, last in own_lines]
            continue
        entries = [(ast.get_source_segment(source, k), ast.get_source_segment(source, v))
                   for k, v in zip(node.keys, node.values, strict=True)
                   if isinstance(k, ast.Constant) and k.value not in dropped]
        start = _offset(lines, node.lineno, node.col_offset)
        end = _offset(lines, node.end_lineno or node.lineno, node.end_col_offset or 0)
        edits.append((start, end, _dict_text(entries, node, lines)))
    lines.append("")  # an offset one past the last line (a dropped entry on the file's last line) stays valid
    text = source
    for start, end, new in sorted(edits, reverse=True):  # from the end, so earlier offsets stay valid
        text = text[:start] + new + text[end:]
    ast.parse(text)  # a bug here, not in the program: the program parsed
    return text


def _entry_lines(node: ast.Dict, dropped: set[str], lines: list[str]) -> list[tuple[int, int]] | None:
    """The (first, last) line numbers of each dropped entry where every one of them has its lines to itself (only
    blanks before its key, only a comma and a comment after its value), else None."""
    spans = []
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and key.value in dropped):
            continue
        first, last = key.lineno, value.end_lineno or value.lineno
        before = lines[first - 1].encode()[:key.col_offset].decode()
        after = lines[last - 1].encode()[value.end_col_offset or 0:].decode().strip()
        if first <= node.lineno or last >= (node.end_lineno or node.lineno) or before.strip() \
                or not (after in ("", ",") or after.lstrip(",").lstrip().startswith("#")):
            return None
        spans.append((first, last))
    others = {n for k, v in zip(node.keys, node.values, strict=True) if k is not None
              and not (isinstance(k, ast.Constant) and k.value in dropped)
              for n in range(k.lineno, (v.end_lineno or v.lineno) + 1)}
    return spans if not any(others & set(range(a, b + 1)) for a, b in spans) else None


def _dict_text(entries: list[tuple[str | None, str | None]], node: ast.Dict, lines: list[str]) -> str:
    """A dict literal of `entries` (their comments are lost), laid out as the original: one line, or one entry a line
    at its first key's indentation."""
    if (node.end_lineno or node.lineno) == node.lineno or not node.keys:
        return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"
    first = node.keys[0]
    indent = " " * (first.col_offset if first is not None else node.col_offset + 4)
    opening = lines[node.lineno - 1]
    closing = opening[:len(opening) - len(opening.lstrip())]  # the brace closes at its statement's indentation
    body = "".join(f"{indent}{k}: {v},\n" for k, v in entries)
    return "{\n" + body + closing + "}"
