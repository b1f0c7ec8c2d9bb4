"""Progress bars: on a terminal, bars with ETA for generations, a generation's trainings and each training in
flight, other events as lines above them; elsewhere, the plain line per event (what logs and CI see)."""

from __future__ import annotations

import io

from rich.console import Console

from rewardsmith.cli.progress import ProgressView

EVENTS = [
    {"event": "generation", "gen": 0, "of": 2},
    {"event": "candidate", "id": "g0c00", "status": "checked", "reason": None},
    {"event": "candidate", "id": "g0c01", "status": "checked", "reason": None},
    {"event": "train", "id": "g0c00", "total": 20_000, "step": 4_096, "episode_return": 12.5, "episode_length": 40},
    {"event": "train", "id": "g0c01", "total": 20_000, "step": 8_192, "episode_return": 30.0, "episode_length": 80},
    {"event": "candidate", "id": "g0c00", "status": "evaluated", "reason": None, "stopped_at": None},
]


def test_a_terminal_gets_bars_with_eta_and_the_other_events_as_lines():
    out = io.StringIO()
    term = Console(file=out, force_terminal=True, width=120, color_system=None)
    lines: list[dict] = []
    with ProgressView(generations=2, per_generation=2, console=term, print_line=lines.append) as view:
        for event in EVENTS:
            view(event)
        progress = view.progress
        assert progress is not None
        tasks = {t.description.split("  return")[0].strip(): t for t in progress.tasks}
        assert set(tasks) == {"generations", "generation 1: trainings", "g0c01"}  # g0c00's bar went when it ended
        assert tasks["g0c01"].completed == 8_192 and tasks["g0c01"].total == 20_000
        assert "return 30.0" in tasks["g0c01"].description
        assert tasks["generation 1: trainings"].completed == 1 and tasks["generations"].completed == 0
    assert tasks["generations"].completed == 2  # the run ended: every generation done
    assert [e["event"] for e in lines] == ["generation", "candidate", "candidate", "candidate"]  # no line per step
    text = out.getvalue()
    assert "generations" in text and "eta" in text and "g0c01" in text


def test_a_pipe_gets_one_plain_line_per_event():
    lines: list[dict] = []
    piped = Console(file=io.StringIO(), force_terminal=False)
    with ProgressView(generations=2, per_generation=2, console=piped, print_line=lines.append) as view:
        for event in EVENTS:
            view(event)
        assert view.progress is None
    assert lines == EVENTS


def test_train_seeds_have_a_bar_and_failed_runs_leave_the_bars_as_they_were():
    term = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = ProgressView(seeds=2, console=term, print_line=lambda e: None)
    try:
        with view:
            view({"event": "train", "id": "seed 0", "total": 1000, "step": 500})
            view({"event": "seed", "seed": 0, "status": "ok"})
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert view.progress is not None
    (seeds,) = view.progress.tasks
    assert seeds.description == "seeds" and seeds.completed == 1 and seeds.total == 2


def test_the_judges_events_print_as_lines(capsys):
    from rewardsmith.cli.ui import print_event

    print_event({"event": "judge", "gen": 0, "model": "openai/gpt-4o", "images": 3, "bytes": 90_000})
    print_event({"event": "judge_retry", "attempt": 1, "of": 3, "errors": ["unknown id g9c99", "g0c01 missing"]})
    print_event({"event": "judge_fallback", "gen": 0, "errors": ["reply 3: not JSON"]})
    assert capsys.readouterr().out.splitlines() == [
        "  asking the judge openai/gpt-4o to rank 3 filmed candidate(s) (88 KB of pictures)",
        "  judge reply 1/3 unusable: unknown id g9c99; g0c01 missing; asking again",
        "  the judge gave no valid full ranking: reply 3: not JSON; the rest follows in task-score (or candidate) order"]
