from __future__ import annotations

from pathlib import Path

from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.records import Selection
from rewardsmith.runs.plots import fitness_series, term_curves, write_fitness_plot, write_plots
from rewardsmith.runs.store import RunStore


def _store(tmp_path: Path) -> RunStore:
    store = RunStore.create(tmp_path, "run1", RunConfig(env="cartpole", task="balance"))
    for cand in (evaluated(0, 0, 0.25), evaluated(0, 1, 0.5), failed(0, 2), evaluated(1, 0, 0.75), failed(1, 1)):
        store.save_candidate(cand)
    return store


def test_fitness_series_is_the_runs_fitness(tmp_path: Path) -> None:
    series = fitness_series(_store(tmp_path))
    assert [(g, f) for g, _, f in series.points] == [(0, 0.25), (0, 0.5), (1, 0.75)]
    assert series.best == ((0, 0.5), (1, 0.75))  # no selection yet: the best point


def test_best_line_is_the_selected_parent_not_the_highest_point(tmp_path: Path) -> None:
    """With halving a candidate stopped early can score above the full-budget winner: the line follows the
    selection (what evolution builds on)."""
    store = _store(tmp_path)
    for gen, best, fitness in ((0, "g0c00", 0.25), (1, "g0c00", 0.25)):
        store.save_selection(Selection(generation=gen, mode="metrics", ranking=(best,), fitness={best: fitness},
                                       best=best, worst=None, best_overall=best, best_overall_fitness=fitness,
                                       failed={}))
    assert fitness_series(store).best == ((0, 0.25), (1, 0.25))


def test_term_curves_come_from_the_training_curve() -> None:
    assert term_curves(evaluated(0, 0, 0.1)) == {"upright": [(1000, 9.0), (1000, 9.0)],
                                                "alive": [(1000, 3.5), (1000, 3.5)],
                                                "effort": [(1000, -0.25), (1000, -0.25)]}
    assert term_curves(failed(0, 1)) == {}


def test_fitness_png_is_written(tmp_path: Path) -> None:
    out = write_fitness_plot(_store(tmp_path))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 600 and int.from_bytes(data[20:24], "big") == 400


def test_write_plots_writes_fitness_and_one_term_plot_per_trained_candidate(tmp_path: Path) -> None:
    store = _store(tmp_path)
    paths = write_plots(store)
    assert [p.name for p in paths] == ["fitness.png", f"{evaluated(0, 0, 0).id}-terms.png",
                                       f"{evaluated(0, 1, 0).id}-terms.png", f"{evaluated(1, 0, 0).id}-terms.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_plot_prints_the_written_paths(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rewardsmith.cli.app import app

    store = _store(tmp_path)
    result = CliRunner().invoke(app, ["show", str(store.root), "--plot"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    printed = [line.removeprefix("plot: ") for line in result.output.splitlines() if line.startswith("plot: ")]
    assert printed[0] == str(store.root / "plots" / "fitness.png")
    assert len(printed) == 4 and all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in printed)
