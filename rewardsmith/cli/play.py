"""`rewardsmith play RUN [--candidate ID] [--seed S] [-o FILE]`: a trained policy re-filmed on a new seed
(execute/play.py plays it in the sandbox and films it)."""

from __future__ import annotations

from pathlib import Path

import typer

from rewardsmith.context import open_run
from rewardsmith.execute.play import play
from rewardsmith.records import EVAL_SEED


def play_command(
    run: Path = typer.Argument(..., help="run directory"),
    candidate: str | None = typer.Option(None, help="candidate id, e.g. g1c02 (default: the best of the run)"),
    seed: int = typer.Option(1, help="the episode's seed: its start state (training used the run's --seed, the "
                             f"run's evaluation {EVAL_SEED})"),
    output: Path | None = typer.Option(None, "-o", "--output", help="the video (default: RUN/play/ID-seedS.mp4)"),
) -> None:
    """Re-film a trained policy on a new seed: prints the video's path and the episode's task score and return."""
    from rewardsmith.cli.ui import console

    played = play(open_run(run), candidate, seed, output)  # bad input raises a UserError: one line (cli/ui.py)
    console.print(played.summary(), soft_wrap=True, markup=False)
