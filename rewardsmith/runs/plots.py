"""Run plots (issue 14 item 1, first part): fitness per generation, and per-candidate term curves, as PNGs.

The data functions are pure (a RunStore in, numbers out) so tests check exactly what matplotlib is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.records import Candidate
from rewardsmith.runs.store import RunStore


@dataclass(frozen=True)
class FitnessSeries:
    """Per generation: every finite candidate fitness (gen, id, value) and the run's best so far after it, as its
    selection records it (the parent the next generation builds on; None: none yet). Not the highest point: with
    halving a candidate stopped at a small budget can score above the winner trained to the full one, and the
    ranking puts full-budget candidates first."""
    points: tuple[tuple[int, str, float], ...]
    best: tuple[tuple[int, float | None], ...]


def fitness_series(store: RunStore) -> FitnessSeries:
    points: list[tuple[int, str, float]] = []
    best: list[tuple[int, float | None]] = []
    for gen in store.generations():
        values = []
        for cand in store.candidates(gen):
            f = cand.fitness
            if f is not None and math.isfinite(f):
                points.append((gen, cand.id, f))
                values.append(f)
        selection = store.load_selection(gen)
        if selection is not None:
            best.append((gen, selection.best_overall_fitness))
        else:  # a generation still running: its best point so far
            best.append((gen, max(values) if values else None))
    return FitnessSeries(points=tuple(points), best=tuple(best))


def term_curves(cand: Candidate) -> dict[str, list[tuple[int, float]]]:
    """Per term: (training step, scaled contribution per episode) from the candidate's training curve."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if cand.train is None:
        return curves
    for point in cand.train.curve:
        for term, value in point.terms.items():
            if value is not None and math.isfinite(value):
                curves.setdefault(term, []).append((point.step, float(value)))
    return curves


def plots_dir(store: RunStore) -> Path:
    return store.root / "plots"


def write_fitness_plot(store: RunStore) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series = fitness_series(store)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if series.points:
        ax.scatter([p[0] for p in series.points], [p[2] for p in series.points], s=18, alpha=0.6, label="candidates")
    best = [(g, b) for g, b in series.best if b is not None]
    if best:
        ax.plot([g for g, _ in best], [b for _, b in best], "o-", color="C3", label="best so far (selected)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # generations are whole numbers
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness")
    ax.set_title("fitness per generation")
    if series.points:
        ax.legend()
    out = plots_dir(store) / "fitness.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_term_plot(store: RunStore, cand: Candidate) -> Path | None:
    """plots/<candidate id>-terms.png: each term's scaled contribution per episode over training (None: no curve)."""
    curves = term_curves(cand)
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for term, points in sorted(curves.items()):
        ax.plot([s for s, _ in points], [v for _, v in points], label=term)
    ax.set_xlabel("training step")
    ax.set_ylabel("scaled contribution per episode")
    ax.set_title(f"{cand.id}: reward terms over training")
    ax.legend()
    out = plots_dir(store) / f"{cand.id}-terms.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_plots(store: RunStore) -> list[Path]:
    """Every plot of the run; the fitness plot first."""
    paths = [write_fitness_plot(store)]
    for gen in store.generations():
        for cand in store.candidates(gen):
            path = write_term_plot(store, cand)
            if path is not None:
                paths.append(path)
    return paths
