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
    SlicesGiven,
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
    (SlicesGiven(round=1, targets=tuple((f"g0c0{i}", 2_048) for i in range(4)), slice_steps=2_048, left=4, total=8),
     "  allocation round 1: 4 candidates to 2,048 steps (4 of 8 slices of 2,048 steps left)"),
    (SlicesGiven(round=3, targets=(("g0c01", 6_144), ("g0c02", 4_096)), slice_steps=2_048, left=1, total=8),
     "  allocation round 3: g0c01 to 6,144 steps; g0c02 to 4,096 steps (1 of 8 slices of 2,048 steps left)"),
    (CandidateUpdate("g0c03", Status.EVALUATED, None, stop=Stop.ALLOCATION, steps=2_048),
     "  g0c03 evaluated, stopped by adaptive allocation at 2,048 steps"),
    (CandidateUpdate("g0c01", Status.EVALUATED, None, stop=Stop.SUCCESS, steps=860_160),
     "  g0c01 evaluated, reached success at 860,160 steps"),
    (CandidateUpdate("g0c02", Status.EVALUATED, None, stop=Stop.BUDGET, steps=20_000), "  g0c02 evaluated"),
    (TrainProgress("g0c00", total=20_000, point=point(4_096, episode_return=12.5, episode_length=40, fitness=0.25)),
     "    g0c00     4,096/20,000 steps  return 12.5  length 40  task score 0.250"),
    (TrainProgress("seed 1", total=20_000, point=point(8_192)), "    seed 1     8,192/20,000 steps  return -"),
    # no episode finished by this checkpoint: a length would be how far the running ones got (issue 25: "length 32"
    # of 200-step episodes), so none is shown
    (TrainProgress("g0c01", total=2_048, point=point(2_048, episode_return=3.5, episode_length=32, episodes=0)),
     "    g0c01     2,048/2,048 steps  return 3.5"),
    (TrainProgress("g0c01", total=8_192, point=point(8_192, episode_return=3.5, episode_length=200, episodes=64)),
     "    g0c01     8,192/8,192 steps  return 3.5  length 200"),
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


class Clock:
    """A settable clock for the run's estimate."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _generation(view, estimate, clock: Clock, gen: int, start: float) -> None:
    """One generation of two candidates fed to `view`: checked 10 s after it starts, each trains 1,000 steps in
    10 s, ranked 5 s after the last training."""
    clock.t = start
    view(GenerationStarted(gen=gen, of=3))
    clock.t = start + 10
    for index in range(2):
        view(CandidateUpdate(f"g{gen}c0{index}", Status.CHECKED, None))
    for index in range(2):
        clock.t = start + 20 + 10 * index
        cid = f"g{gen}c0{index}"
        view(TrainProgress(cid, total=1000, point=point(1000)))
        view(CandidateUpdate(cid, Status.EVALUATED, None, stop=Stop.BUDGET, steps=1000))
        if gen == 0 and index == 0:
            # one training done: 10 s per 1,000 steps; this generation's other training (10 s) and two more
            # generations of 10 s so far besides training and 20 s of training each
            assert estimate.seconds_left() == pytest.approx(10 + 2 * (10 + 20))
    clock.t = start + 35
    view(SelectionMade(Selection(generation=gen, mode="metrics", ranking=(), fitness={}, best=None, worst=None,
                                 best_overall=None, best_overall_fitness=None, failed={})))


def test_the_run_estimate_comes_from_trainings_and_generations_seen():
    from rewardsmith.cli.eta import RunClock

    clock = Clock()
    estimate = RunClock(per_generation=2, now=clock)
    estimate(GenerationStarted(gen=0, of=3))
    assert estimate.seconds_left() is None  # nothing trained yet: no estimate
    _generation(estimate, estimate, clock, 0, start=0)
    # generation 0 took 35 s, 20 of them training: the next starts now, the one after follows
    clock.t = 35
    estimate(GenerationStarted(gen=1, of=3))
    assert estimate.seconds_left() == pytest.approx(2 * 35)
    clock.t = 40  # five seconds into its LLM call
    assert estimate.seconds_left() == pytest.approx(35 + 30)
    _generation(estimate, estimate, clock, 1, start=35)
    clock.t = 70
    estimate(GenerationStarted(gen=2, of=3))
    assert estimate.seconds_left() == pytest.approx(35)
    _generation(estimate, estimate, clock, 2, start=70)
    assert estimate.seconds_left() is None  # no generation left


def test_generations_read_back_by_a_resume_do_not_count_and_halving_rungs_plan_the_steps():
    from rewardsmith.cli.eta import RunClock

    clock = Clock()
    estimate = RunClock(per_generation=4, now=clock)
    estimate(GenerationStarted(gen=0, of=2))  # finished before the resume: read back in no time
    estimate(SelectionMade(SELECTED))
    assert estimate.finished == []
    estimate(GenerationStarted(gen=1, of=2))
    clock.t = 10
    estimate(RungStarted(rung=1, of=2, steps=500, candidates=("g1c00", "g1c01", "g1c02", "g1c03")))
    estimate(TrainProgress("g1c00", total=500, point=point(500)))
    clock.t = 20
    estimate(CandidateUpdate("g1c00", Status.TRAIN_FAILED, "NaN"))
    # 500 steps in 10 s; the rungs plan 4 x 500 + 2 x 500 more = 3,000 steps, 2,500 of them left: 50 s
    assert estimate.seconds_left() == pytest.approx(50)


def test_adaptive_allocation_plans_its_slices():
    from rewardsmith.cli.eta import RunClock

    clock = Clock()
    estimate = RunClock(per_generation=4, now=clock)
    estimate(GenerationStarted(gen=0, of=1))
    estimate(SlicesGiven(round=1, targets=tuple((f"g0c0{i}", 500) for i in range(4)), slice_steps=500, left=4,
                         total=8))
    clock.t = 10
    estimate(TrainProgress("g0c00", total=500, point=point(500)))
    clock.t = 20
    estimate(CandidateUpdate("g0c00", Status.TRAIN_FAILED, "NaN"))
    # 500 steps in 10 s; 8 slices of 500 = 4,000 steps planned, 3,500 of them left: 70 s
    assert estimate.seconds_left() == pytest.approx(70)


def test_the_estimate_is_on_the_generations_bar_and_a_line_in_logs():
    from rewardsmith.cli.eta import RunClock, duration_words

    assert [duration_words(s) for s in (20, 61, 725, 3900)] == ["under a minute", "about 1 min", "about 12 min",
                                                                "about 1 h 05 min"]
    out = io.StringIO()
    term = Console(file=out, force_terminal=True, width=160, color_system=None)
    with ProgressView(generations=3, per_generation=2, console=term, print_line=lambda e: None) as view:
        clock = Clock()
        view.clock = RunClock(2, now=clock)
        view.progress.columns[-1].clock = view.clock
        view(GenerationStarted(gen=0, of=3))
        view.progress.refresh()
        assert "eta: after the first training" in out.getvalue()
        _generation(view, view.clock, clock, 0, start=0)
        view.progress.refresh()
        assert "eta about 1 min (estimate)" in out.getvalue()  # 70 s left when generation 0 was ranked
        for gen in (1, 2):
            _generation(view, view.clock, clock, gen, start=35 * gen)
        view.progress.refresh()
    assert out.getvalue().rstrip().splitlines()[-3].rstrip().endswith("eta —")  # no generation left to estimate

    logged = io.StringIO()
    piped = Console(file=logged, force_terminal=False, width=200)
    view = ProgressView(generations=3, per_generation=2, console=piped, print_line=lambda e: None)
    clock = Clock()
    view.clock = RunClock(2, now=clock)
    with view:
        _generation(view, view.clock, clock, 0, start=0)
        view(GenerationStarted(gen=1, of=3))
    assert logged.getvalue().splitlines() == ["  time left for the run: about 1 min (estimate from 2 trainings so far)"]


def test_a_rounded_budget_is_said_once():
    logged = io.StringIO()
    piped = Console(file=logged, force_terminal=False, width=200)
    lines: list = []
    with ProgressView(generations=1, per_generation=2, console=piped, print_line=lines.append) as view:
        for cid in ("g0c00", "g0c01"):
            view(TrainProgress(cid, total=2048, point=point(2048), asked=2000))
    assert logged.getvalue().splitlines() == [
        "  note: PPO trains whole iterations of every env's rollout, so a training asked for 2,000 env steps trains "
        "2,048"]
    assert len(lines) == 2
