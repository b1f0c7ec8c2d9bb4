"""The first prompt's section of examples from the memory (llm/memory.py): which entries are shown (RELEVANCE) and
how each reads: its task, how its answer was confirmed, and each term with its scale, its lines and, where `ablate`
ran, what removing it did to that task's score."""

from __future__ import annotations

import math
import re
from pathlib import Path

from rewardsmith.env.task import Task
from rewardsmith.llm import prompts
from rewardsmith.llm.memory import REWARD_NAME, Entry, Term, read_entries

SHOWN = 3  # entries in a first prompt
RELEVANCE = (f"entries of the run's env whose task is another one (an earlier answer of the same task is a starting "
             f"point: give its reward.py to --init); of each task its best entry (success, then task score, then the "
             f"newest); tasks ordered by the words their name and description share with the run's (cosine: shared / "
             f"sqrt(theirs x the run's), common words left out), then by success and task score; the first {SHOWN}")
_COMMON = frozenset(
    "a an and any as at be by do for from in into is it its of on or over so than that the their then this to up "
    "with without while when not no more most keep make out each all every".split())


def words(text: str) -> frozenset[str]:
    """A task's content words, lowercase, a plural's s dropped ("hops" and "hop" match)."""
    found = (w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
             for w in re.findall(r"[a-z]+", text.lower()))
    return frozenset(w for w in found if len(w) > 1 and w not in _COMMON)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared words over the geometric mean of the two counts: a long description is not penalised for its length
    as much as by shared / all words."""
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


def _quality(entry: Entry) -> tuple[float, float, str]:
    return entry.confirmed.success, entry.confirmed.score, entry.added


def relevant(entries: list[Entry], env: str, task: Task, most: int = SHOWN) -> list[Entry]:
    """RELEVANCE: the entries a run of `task` on `env` is shown, most relevant first."""
    own = {task.name.strip().lower(), " ".join(task.description.lower().split())}
    best_per_task: dict[str, Entry] = {}
    for entry in entries:
        if entry.env != env or {entry.task.strip().lower(), " ".join(entry.task_description.lower().split())} & own:
            continue
        held = best_per_task.get(entry.task)
        if held is None or _quality(entry) > _quality(held):
            best_per_task[entry.task] = entry
    mine = words(f"{task.name if task.has_fitness else ''} {task.description}")  # a free-text task is "custom"
    ranked = sorted(best_per_task.values(), reverse=True,
                    key=lambda e: (overlap(mine, words(f"{e.task} {e.task_description}")), *_quality(e)))
    return ranked[:most]


def prompt_section(memory: str | None, env: str, task: Task) -> str:
    """The section of a first prompt ("" without --memory or where no entry is relevant), starting on a blank line."""
    if not memory:
        return ""
    shown = relevant(read_entries(Path(memory), env)[0], env, task)
    if not shown:
        return ""
    examples = "\n\n".join(entry_text(entry, number, _program(Path(memory), entry))
                             for number, entry in enumerate(shown, start=1))
    return "\n" + prompts.render("memory", env_name=env, count=len(shown), examples=examples)


def _program(memory: Path, entry: Entry) -> str | None:
    """The entry's reward.py, where its terms could not be shown one by one (None where they can)."""
    if all(term.source is not None for term in entry.terms):
        return None
    path = memory / entry.env / entry.id / REWARD_NAME
    return path.read_text() if path.is_file() else None


def entry_text(entry: Entry, number: int, program: str | None = None) -> str:
    """One example: its task, its confirmation, and its terms one by one (`program`: the whole program instead,
    where its terms could not be told apart)."""
    c = entry.confirmed
    measured = (f"Retrained from scratch on {c.seeds} fresh seed{'s' if c.seeds != 1 else ''} of {entry.train_steps:,} "
                f"env steps: success {c.success:.2f} [{c.success_interval[0]:.2f}, {c.success_interval[1]:.2f}], task "
                f"score {c.score:.3f} [{c.score_interval[0]:.3f}, {c.score_interval[1]:.3f}] (95% intervals)")
    score = f" That task's score: {entry.score_doc}." if entry.score_doc else ""
    ablated = (f"Each term's effect is what removing it did to that task's score (retrained on {entry.ablation}, "
               "95% interval)." if entry.ablation else "Its terms were not ablated: their effects are not measured.")
    terms = "\n\n".join(term_text(term, entry.ablation is not None) for term in entry.terms)
    code = program.strip() if program is not None else f"SCALES = {_scales(entry.terms)}\n\n{terms}"
    return (f"### Example {number}, from the task {entry.task!r} (not yours): {entry.task_description}\n"
            f"{measured}.{score}\n{ablated}\n\n```python\n{code}\n```")


def term_text(term: Term, ablated: bool = True) -> str:
    """A term as a commented snippet: its scale and measured effect (`ablated`: the entry's answer was ablated, so
    a term without an effect says so), then its lines."""
    effect = term.effect
    said = (f"; removing it: {effect.value:+.3f} [{effect.low:+.3f}, {effect.high:+.3f}], {effect.verdict}"
            if effect is not None else "; effect not measured" if ablated else "")
    body = term.source if term.source is not None else "# (its lines could not be separated from the program's)"
    return f"# term {term.name!r}, scale {term.scale:g}{said}\n{body}"


def _scales(terms: tuple[Term, ...]) -> str:
    return "{" + ", ".join(f'"{t.name}": {t.scale:g}' for t in terms) + "}"
