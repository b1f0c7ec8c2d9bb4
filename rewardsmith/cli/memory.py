"""`rewardsmith memory list|show|add|clear`: the memory of verified terms (llm/memory.py), and evolve's --memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from rewardsmith.cli.ui import console, fail

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

_DIR_HELP = ("the memory folder [default: $REWARDSMITH_MEMORY, else $XDG_DATA_HOME/rewardsmith/memory, else "
             "~/.local/share/rewardsmith/memory]")


def _absolute(value: str | None) -> str | None:
    """evolve's --memory as the run records it: absolute (a resume from elsewhere uses the same folder); whether it
    can be one is evolve.prepare's check (llm/memory.check_dir), one line before anything is written."""
    return str(Path(value).expanduser().absolute()) if value else None


MEMORY_OPTION: Any = typer.Option(
    None, "--memory", metavar="DIR", callback=_absolute,
    help="a memory of verified terms: the first prompt shows up to 3 confirmed answers of other tasks on this env "
         "(their terms, scales and measured effects), and the run's confirmed answer goes in at its end where it does "
         "the task (`rewardsmith memory list --memory DIR`); off without it")


def _folder(memory: Path | None) -> Path:
    from rewardsmith.llm.memory import check_dir, default_dir

    return check_dir(memory if memory is not None else default_dir())


@app.command("list")
def list_command(memory: Path | None = typer.Option(None, "--memory", help=_DIR_HELP),
                 env: str | None = typer.Option(None, help="only this env's entries")) -> None:
    """The entries, oldest first: env, task, the answer's confirmation, its terms and their measured effects."""
    from rewardsmith.llm.memory import read_entries

    folder = _folder(memory)
    entries, skipped = read_entries(folder, env)
    if env is not None and not entries:
        _check_env(folder, env, known_ok=True)
    console.print(f"memory {folder}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", soft_wrap=True,
                  markup=False)
    if entries:
        table = Table()
        for column in ("env", "task", "entry", "confirmed from scratch", "terms (scale; effect when removed)",
                       "added"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            terms = "; ".join(f"{t.name} {t.scale:g}" + (f" ({t.effect.value:+.3f}, {t.effect.verdict})"
                                                          if t.effect else "") for t in entry.terms)
            table.add_row(entry.env, entry.task, entry.id, entry.confirmed.statement, terms, entry.added)
        console.print(table)
    for note in skipped:
        console.print(note, soft_wrap=True, markup=False)


@app.command("show")
def show_command(entry_id: str = typer.Argument(..., help="an entry's id (see `memory list`)"),
                 memory: Path | None = typer.Option(None, "--memory", help=_DIR_HELP)) -> None:
    """One entry as a first prompt shows it to the LLM."""
    from rewardsmith.llm.memory import read_entries
    from rewardsmith.llm.memory_text import entry_text

    folder = _folder(memory)
    entries = read_entries(folder)[0]
    entry = next((e for e in entries if e.id == entry_id), None)
    if entry is None:
        fail(f"no entry {entry_id!r} in {folder}; its entries: {', '.join(e.id for e in entries) or 'none'}")
    console.print(entry_text(entry, 1), soft_wrap=True, markup=False)
    console.print(f"(from {folder / entry.env / entry.id})", soft_wrap=True, markup=False)


@app.command("add")
def add_command(run: Path = typer.Argument(..., help="a finished run directory"),
                memory: Path | None = typer.Option(None, "--memory", help=_DIR_HELP)) -> None:
    """Put a finished run's confirmed answer in the memory (again after `rewardsmith ablate`: its measured effects
    then come with it); a run whose answer does not do its task is refused, saying why."""
    from rewardsmith.context import open_run
    from rewardsmith.llm.memory import entry_for, write_entry

    folder = _folder(memory)
    store = open_run(run)
    result = store.load_result()
    if result is None:
        fail(f"run {store.root} has not finished (no result.json); the memory takes a finished run's answer")
    entry, source = entry_for(store, result)
    try:
        where = write_entry(folder, entry, source)
    except OSError as err:
        fail(f"cannot write the entry in {folder}: {err.strerror or err}; nothing was added", code=1)
    console.print(f"added {entry.candidate} of {store.root} ({entry.env}/{entry.task}, {entry.confirmed.statement}; "
                  f"{sum(t.effect is not None for t in entry.terms)} of {len(entry.terms)} terms with a measured "
                  f"effect) as {where}", soft_wrap=True, markup=False)


@app.command("clear")
def clear_command(env: str | None = typer.Option(None, help="remove this env's entries"),
                  all_envs: bool = typer.Option(False, "--all", help="remove every env's entries"),
                  memory: Path | None = typer.Option(None, "--memory", help=_DIR_HELP)) -> None:
    """Remove entries (only folders that hold an entry; anything else in the folder stays)."""
    from rewardsmith.llm.memory import clear

    if (env is None) == (not all_envs):
        fail("give --env ENV (that env's entries) or --all (every env's), one of them")
    folder = _folder(memory)
    if env is not None:
        _check_env(folder, env)
    removed = clear(folder, env)
    console.print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {folder}", soft_wrap=True,
                  markup=False)


def refresh_after_ablate(store: Any, candidate_id: str) -> None:
    """After `rewardsmith ablate`: where the run keeps a memory (--memory) that holds this answer's entry, the entry
    again, now with each term's measured effect (an entry the user removed is not put back)."""
    from rewardsmith.llm.memory import entry_id, remember

    memory, result = store.config().memory, store.load_result()
    if not memory or result is None or result.get("best") != candidate_id:
        return
    if (Path(memory) / store.config().env / entry_id(store, candidate_id)).is_dir():
        console.print(remember(store, memory, result), soft_wrap=True, markup=False)


def _check_env(folder: Path, env: str, known_ok: bool = False) -> None:
    """An env with no entries: one line naming the envs that have some (`known_ok`: a registered env is fine)."""
    from rewardsmith.env.registry import env_names
    from rewardsmith.llm.memory import entry_envs

    present = entry_envs(folder)
    if env in present or (known_ok and env in env_names()):
        return
    fail(f"the memory {folder} has no entries for env {env!r}; envs with entries: {', '.join(present) or 'none'}")
