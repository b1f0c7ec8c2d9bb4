"""Progress bars: on a terminal, bars with ETA for generations, a generation's trainings and each training in
flight, other events as lines above them; elsewhere, the plain line per event (what logs and CI see)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from rewardsmith.cli.progress import ProgressView
from rewardsmith.events import (
    AwaitingRanking,
    CandidateUpdate,
    Filmed,
    FilmFailed,
    FinalEvaluation,
    GenerationStarted,
    JudgeAsked,
    JudgeFallback,
    JudgeProposed,
    JudgeRetry,
    LLMAsked,
    LLMRetry,
    Placed,
    RankingDecided,
    RankingDueFailed,
    Retry,
    ReviewDeadlinePassed,
    Reviewed,
    ReviewPageOpen,
    RungStarted,
    SeedFinished,
    SelectionMade,
    TrainProgress,
)
from rewardsmith.records import CurvePoint, Selection, Status, Stop


def point(step: int, **stats) -> CurvePoint:
    return CurvePoint.from_dict({"step": step, **stats})


EVENTS = [
    GenerationStarted(gen=0, of=2),
    CandidateUpdate("g0c00", Status.CHECKED, None),
    CandidateUpdate("g0c01", Status.CHECKED, None),
    TrainProgress("g0c00", total=20_000, point=point(4_096, episode_return=12.5, episode_length=40)),
    TrainProgress("g0c01", total=20_000, point=point(8_192, episode_return=30.0, episode_length=80)),
    CandidateUpdate("g0c00", Status.EVALUATED, None, stop=Stop.BUDGET, steps=20_000),
]


def test_a_terminal_gets_bars_with_eta_and_the_other_events_as_lines():
    out = io.StringIO()
    term = Console(file=out, force_terminal=True, width=120, color_system=None)
    lines: list = []
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
    assert [type(e) for e in lines] == [GenerationStarted, CandidateUpdate, CandidateUpdate, CandidateUpdate]  # no line per step
    text = out.getvalue()
    assert "generations" in text and "eta" in text and "g0c01" in text


def test_a_pipe_gets_one_plain_line_per_event():
    lines: list = []
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
            view(TrainProgress("seed 0", total=1000, point=point(500)))
            view(SeedFinished(seed=0, status="ok", reason=None, fitness=None, success_rate=None, return_mean=None,
                              steps=None, wall_s=None))
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert view.progress is not None
    (seeds,) = view.progress.tasks
    assert seeds.description == "seeds" and seeds.completed == 1 and seeds.total == 2


def test_the_judges_events_print_as_lines(capsys):
    from rewardsmith.cli.ui import print_event

    print_event(JudgeAsked(gen=0, model="openai/gpt-4o", images=3, image_bytes=90_000))
    print_event(JudgeRetry(attempt=1, of=3, errors=("unknown id g9c99", "g0c01 missing")))
    print_event(JudgeFallback(gen=0, errors=("reply 3: not JSON",)))
    assert capsys.readouterr().out.splitlines() == [
        "  asking the judge openai/gpt-4o to rank 3 filmed candidate(s) (88 KB of pictures)",
        "  judge reply 1/3 unusable: unknown id g9c99; g0c01 missing; asking again",
        "  the judge gave no valid full ranking: reply 3: not JSON; the rest follows in task-score (or candidate) order"]


SELECTED = Selection(generation=1, mode="metrics", ranking=("g1c00",), fitness={"g1c00": 0.5}, best="g1c00",
                     worst=None, best_overall="g0c01", best_overall_fitness=0.75, failed={})
LINES = [  # one event of each kind the terminal shows, and its line (the text every run has printed)
    (GenerationStarted(gen=0, of=2), "generation 1/2"),
    (LLMAsked(gen=0, round_index=1, n=3, model="m"), "  asking the LLM for 3 program(s) (round 2)"),
    (LLMRetry(model="openai/x", attempt=1, of=3, wait_s=2.25, reason="rate limited"),
     "  LLM openai/x: rate limited; retry 1/3 in 2.2 s"),
    (RungStarted(rung=1, of=3, steps=25_000, candidates=("g0c00", "g0c01")),
     "  halving rung 1/3: 2 candidate(s) to 25,000 steps"),
    (CandidateUpdate("g0c00", Status.CHECK_FAILED, "line 3: no reward"), "  g0c00 check_failed: line 3: no reward"),
    (CandidateUpdate("g0c00", Status.EVALUATED, None, stop=Stop.HALVING, steps=10_240),
     "  g0c00 evaluated, stopped by halving at 10,240 steps"),
    (CandidateUpdate("g0c01", Status.EVALUATED, None, stop=Stop.SUCCESS, steps=860_160),
     "  g0c01 evaluated, reached success at 860,160 steps"),
    (CandidateUpdate("g0c02", Status.EVALUATED, None, stop=Stop.BUDGET, steps=20_000), "  g0c02 evaluated"),
    (TrainProgress("g0c00", total=20_000, point=point(4_096, episode_return=12.5, episode_length=40, fitness=0.25)),
     "    g0c00     4,096/20,000 steps  return 12.5  length 40  task score 0.250"),
    (TrainProgress("seed 1", total=20_000, point=point(8_192)), "    seed 1     8,192/20,000 steps  return -  length -"),
    (Placed("g0c01", attempt=1, host="h", cpus=(0, 1), gpu="0"), "    g0c01 on CPUs 0,1, GPU 0"),
    (Placed("g0c01", attempt=1, host="h"), "    g0c01 on CPUs shared"),
    (Placed("g0c01#1", attempt=2, host="h", node="abc", ip="10.0.0.1", pid=5),
     "    g0c01#1 on node abc (10.0.0.1) (attempt 2)"),
    (Retry("g0c01", attempt=2, reason="worker lost: X"), "    g0c01: worker lost: X; trying again (attempt 2)"),
    (ReviewPageOpen("http://x/?t=1", token=True),
     "review page: http://x/?t=1 (its token is the key: share it only with your reviewers)"),
    (AwaitingRanking(gen=1, of=2, run="/r", url="http://x", reviewers=3, deadline_s=3600),
     "generation 2/2 (ids g1cNN) is ready to rank: open http://x (or: rewardsmith rank /r --reviewer NAME --best "
     "g1cNN --worst g1cNN); waiting for 3 reviewers (or 1h, once one ranked). Ctrl-C stops; --resume continues."),
    (AwaitingRanking(gen=1, of=2, run="/r", url="http://x", reviewers=1, deadline_s=600, judge_confident=True),
     "generation 2/2 (ids g1cNN) is ready to rank: open http://x (or: rewardsmith rank /r --best g1cNN --worst g1cNN "
     "| --judge); waiting (or 10m, once one ranked); the judge's order stands if nobody ranks within 10m. Ctrl-C "
     "stops; --resume continues."),
    (Reviewed(gen=0, reviewer="Ada", count=1, of=2), "  Ada ranked g0cNN (1 of 2 reviewers)"),
    (ReviewDeadlinePassed(gen=0, deadline_s=1.5, of=2),
     "  the review deadline passed with no ranking of g0cNN yet; waiting for the first"),
    (RankingDecided(0, "all 2 reviewers ranked", ("a", "B"), "bt", 2, tau_mean=-0.3333, same_best=False),
     "  decided: all 2 reviewers ranked (a, B); mean Kendall tau -0.33; different bests"),
    (RankingDueFailed(gen=0, command="c", reason="exit status 1"),
     "  --on-ranking-due failed: exit status 1 (the run goes on)"),
    (JudgeProposed(gen=0, order=("a", "b"), confident=False, why="disagree", tau=None),
     "  the judge proposes a > b: unsure (disagree)"),
    (FilmFailed("g0c00", "no GL"), "  g0c00 not filmed: no GL"),
    (SeedFinished(0, "ok", None, 0.5, 0.25, 9.0, 2048, 1.5),
     "  seed 0: ok  task score 0.500  success 0.250  2,048 steps  1.500 s "),
    (FinalEvaluation("g1c02", seeds=(2, 3)), "final evaluation of g1c02 on seeds [2, 3]"),
    (SelectionMade(SELECTED), "  selected g1c00; best so far g0c01 (task score 0.750)"),
]


@pytest.mark.parametrize("event, line", LINES, ids=[type(e).__name__ for e, _ in LINES])
def test_each_kind_of_event_prints_its_line(capsys, event, line):
    from rewardsmith.cli.ui import print_event

    print_event(event)
    assert capsys.readouterr().out == line + "\n"


def test_an_event_the_terminal_does_not_show_prints_nothing(capsys):
    from rewardsmith.cli.ui import print_event

    print_event(Filmed("g0c00", seconds=1.0))
    assert capsys.readouterr().out == ""
