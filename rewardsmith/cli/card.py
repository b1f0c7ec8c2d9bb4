"""Reward cards on the command line: `rewardsmith export RUN --card -o DIR` (exports/card.py writes the folder) and
`rewardsmith replay DIR [--seeds N]` (execute/replay.py checks the card and retrains its reward)."""

from __future__ import annotations

from pathlib import Path

import typer

from rewardsmith.cli.progress import ProgressView
from rewardsmith.cli.ui import console, fail
from rewardsmith.exports.card import DEFAULT_REPLAY_SEEDS
from rewardsmith.runs.store import RunStore


def export_card(store: RunStore, candidate: str | None, output: Path, force: bool, fmt: str | None,
                policy: bool, pruned: bool = False) -> None:
    """`export --card`: the card folder of the run's answer (or --candidate)."""
    from rewardsmith.exports.card import write_card

    if fmt is not None or policy:
        fail(f"--card writes the reward as trained and the policy into one folder; leave "
             f"{'--format ' + fmt if fmt is not None else '--policy'} out")
    try:
        written = write_card(store, output, candidate, force=force, pruned=pruned)
    except OSError as err:  # a full disk or a race after the checks: the temporary folder is gone already
        fail(f"cannot write {err.filename or output}: {err.strerror or err}; no card was written", code=1)
    console.print(f"wrote the reward card {written} (README.md, card.json; replay it with "
                  f"`rewardsmith replay {written}`)", soft_wrap=True, markup=False)


def replay_command(
    card: Path = typer.Argument(..., help="a reward card's folder (written by `export RUN --card -o DIR`)"),
    seeds: int = typer.Option(DEFAULT_REPLAY_SEEDS, help="fresh training seeds to replay on"),
    out: Path | None = typer.Option(None, help="where replay.json and the replayed trainings go (default: the "
                                    "card's folder)"),
    envs_dir: Path | None = typer.Option(None, help="the folder of your own envs (default: $REWARDSMITH_ENVS)"),
) -> None:
    """Check a reward card against this machine and retrain its reward from scratch on fresh seeds: exit 0 when
    the card's result reproduces, 4 when it does not, 2 when the card cannot be replayed here."""
    from rewardsmith.env.registry import use_envs_dir
    from rewardsmith.execute.replay import NOT_REPRODUCED, check_card, outcome_lines, read_card, replay, replay_seeds
    from rewardsmith.runs.store import check_writable

    if seeds < 1:
        fail(f"--seeds must be a positive integer, got {seeds}")
    use_envs_dir(envs_dir)
    loaded = read_card(card)
    checked = check_card(loaded)  # refuses in one line (UserError) before anything is trained or written
    target = out or card
    check_writable(target)
    target.mkdir(parents=True, exist_ok=True)
    print_ = console.print
    print_(f"card {card}: {loaded.env}/{loaded.data['task']['name']}, candidate {loaded.data['candidate']} of run "
           f"{loaded.data['run']['id']}", soft_wrap=True, markup=False)
    print_(f"same env, fitness, reward.py, MuJoCo {checked.here.mujoco} and trainer {checked.here.trainer} as the card",
           soft_wrap=True, markup=False)
    if checked.packages:
        print_(f"other packages differ (reported, not refused): {', '.join(checked.packages)}", soft_wrap=True,
               markup=False)
    chosen = replay_seeds(loaded, seeds)
    print_(f"replaying on {seeds} fresh seed(s) {', '.join(map(str, chosen))}: {loaded.train_config.steps:,} steps "
           f"each, trainer {loaded.trainer}", soft_wrap=True, markup=False)
    with ProgressView(seeds=seeds) as view:
        replayed = replay(loaded, checked, seeds, target, view)
    for line in outcome_lines(loaded, replayed):
        print_(line, soft_wrap=True, markup=False)
    print_(f"wrote {target / 'replay.json'}", soft_wrap=True, markup=False)
    if not replayed.verdict.reproduces:
        raise typer.Exit(NOT_REPRODUCED)
