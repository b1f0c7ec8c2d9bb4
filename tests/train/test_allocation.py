"""Adaptive allocation (--allocation adaptive, execute/allocate.py): the rule on synthetic learning curves, the
allocation through train_all with an executor that trains nothing (scores made up from the steps asked), and one
real LLM-free cart-pole generation whose slices continue from their checkpoints in the sandbox. The flag's errors
are in tests/test_bad_input.py."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence

import pytest

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.events import CandidateUpdate, SlicesGiven
from rewardsmith.execute.allocate import Arm, Plan, next_round
from rewardsmith.execute.sandboxed import TrainReport, TrainRequest
from rewardsmith.execute.train_stage import rung_budgets, train_all
from rewardsmith.records import Candidate, Evaluation, Status, Stop, TrainResult
from rewardsmith.runs.store import RunStore
from rewardsmith.sandbox.protocol import JobStatus

Curve = Callable[[int], float]  # the task score after n slices


def _line(start: float, per_slice: float = 0.0) -> Curve:
    return lambda n: start + per_slice * n


def _halving_spend(full: int, count: int) -> int:
    """What halving spends for `count` candidates (as tests/train/test_halving.py counts it), in env steps."""
    alive, spent, reached = count, 0, 0
    for budget in rung_budgets(full, count):
        spent += alive * (budget - reached)
        reached, alive = budget, (alive + 1) // 2
    return spent


def _allocate(curves: Sequence[Curve], width: int = 1, together: bool = False) -> tuple[list[int], list[list[int]]]:
    """The rule run to the end on made-up curves: the slices each candidate got, and each round's picks."""
    plan = Plan.of(rung_budgets(8_000, len(curves)), len(curves))
    held, scores, pool, rounds, reserve = [0] * len(curves), [[] for _ in curves], list(range(len(curves))), [], True
    while pool:
        left = plan.total - sum(held)
        picks = next_round([Arm(tuple(scores[i]), held[i]) for i in pool], plan.cap, left, plan.total - left,
                           width, reserve, together)
        if not picks:
            break
        assert len({held[pool[k]] for k in picks}) == 1 or not together or len(rounds) == 0
        rounds.append([pool[k] for k in picks])
        for i in rounds[-1]:
            held[i] += 1
            scores[i].append(curves[i](held[i]))
        for i in rounds[-1]:
            if held[i] == plan.cap:
                pool.remove(i)
                reserve = False
    return held, rounds


def test_the_budget_is_what_halving_spends_in_slices_of_its_first_rung():
    for count in (2, 3, 4, 5, 8, 16):
        plan = Plan.of(rung_budgets(8_000_000, count), count)
        assert plan.slice_steps == rung_budgets(8_000_000, count)[0] and plan.steps_at(plan.cap) == 8_000_000
        assert plan.total * plan.slice_steps == _halving_spend(8_000_000, count)
    assert Plan.of(rung_budgets(8_000_000, 4), 4).total == 8  # K = 4: 2 B in quarters
    assert Plan.of(rung_budgets(8_000_000, 2), 2).slice_steps == 4_000_000  # K = 2: halving's rungs are B/2, B


def test_a_clearly_better_curve_gets_more_slices_and_nobody_passes_the_full_budget():
    held, rounds = _allocate([_line(0.1), _line(0.0, 0.2), _line(0.1), _line(0.05)])  # one rises, the rest flat
    assert rounds[0] == [0, 1, 2, 3]  # everyone's first slice
    assert held[1] == 4 and held[1] > held[0] and sum(held) == 8
    for count in (3, 5, 8, 16):  # a spread of curves: the budget is spent, nobody passes B, one reaches it
        held, _ = _allocate([_line(0.1 * k, 0.02 * (k % 3)) for k in range(count)])
        plan = Plan.of(rung_budgets(8_000, count), count)
        assert sum(held) == plan.total and max(held) == plan.cap and min(held) >= 1


def test_a_curve_that_climbs_overtakes_one_that_stalls():
    held, _ = _allocate([_line(0.50, 0.01), _line(0.49, 0.05), _line(0.2), _line(0.1)])  # stalls; climbs
    assert held[:2] == [2, 4]


def test_equal_curves_share_slices_deterministically_and_one_still_reaches_the_full_budget():
    zeros = [_line(0.0)] * 4  # a hard task: nothing scores yet; nobody is favoured at random
    assert _allocate(zeros) == _allocate(zeros)
    held, rounds = _allocate(zeros)
    assert held == [4, 2, 1, 1] and rounds[1:] == [[0], [1], [0], [0]]


def test_a_round_hands_out_one_slice_per_slot_and_a_joint_round_holds_equal_trainings():
    curves = [_line(0.1 * k, 0.01) for k in range(8)]
    held, rounds = _allocate(curves, width=3)
    assert all(len(r) <= 3 and len(set(r)) == len(r) for r in rounds[1:]) and sum(held) == 16
    held, rounds = _allocate(curves, width=4, together=True)  # _allocate checks each round holds equal slices
    assert sum(held) == 16 and max(held) == 4


def test_nothing_is_left_past_the_budget_and_a_score_that_is_not_a_number_never_leads():
    arms = [Arm((0.5,), 1), Arm((-math.inf,), 1)]
    assert next_round(arms, cap=4, left=0, handed_out=8) == []
    assert next_round(arms, cap=4, left=3, handed_out=2) == [0]
    assert next_round([Arm((), 0), Arm((0.3,), 1)], cap=4, left=0, handed_out=1) == [0]  # an untrained one trains


class MadeUpScores:
    """An executor that trains nothing: each request's report has the steps asked (or its 'checkpoint's, when that
    is further along) and a score from the candidate's curve; some candidates fail or reach success."""

    def __init__(self, curves: dict[str, Curve], slice_steps: int, fail_at: dict[str, int] | None = None,
                 success_at: dict[str, int] | None = None, checkpoints: dict[str, int] | None = None,
                 parallel: int = 1) -> None:
        self.curves, self.slice_steps, self.parallel = curves, slice_steps, parallel
        self.fail_at, self.success_at = fail_at or {}, success_at or {}
        self.checkpoints = dict(checkpoints or {})
        self.requests: list[list[TrainRequest]] = []

    def slots(self) -> int:
        return self.parallel

    def run(self, requests: Sequence[TrainRequest], on_progress: object) -> Iterator[TrainReport]:
        self.requests.append(list(requests))
        for request in requests:
            cid = request.key.split("#")[0]
            steps = max(request.cfg.steps, self.checkpoints.get(cid, 0))
            self.checkpoints[cid] = steps
            if steps >= self.fail_at.get(cid, math.inf):
                yield TrainReport.failed(request.key, "policy parameters became NaN/Inf")
                continue
            reached = steps >= self.success_at.get(cid, math.inf)
            score = self.curves[cid](steps // self.slice_steps)
            train = TrainResult(steps=steps, wall_s=1.0, steps_per_s=steps, curve=(), reached_success=reached)
            evaluation = Evaluation(episodes=16, fitness_mean=score, fitness_std=0.0, success_rate=None,
                                    return_mean=None, episode_length_mean=100.0, terms={})
            yield TrainReport(request.key, JobStatus.OK, None, train, evaluation)


FULL = 8_192


def _generation(tmp_path, curves: dict[str, Curve], **executor) -> tuple[list[Candidate], list, MadeUpScores]:
    cfg = RunConfig(env="cartpole", task="balance", samples=len(curves), train_steps=FULL, allocation="adaptive",
                    video=False)
    env = get_env("cartpole")
    events: list = []
    ctx = RunContext(RunStore.create(tmp_path, "run", cfg), cfg, env, resolve_task(env, "balance"), events.append)
    cands = [Candidate(Candidate.make_id(0, i), 0, i, Status.CHECKED, source="# the reward") for i in range(len(curves))]
    before = executor.pop("before", [])
    fake = MadeUpScores(curves, FULL // 4, **executor)
    return train_all(ctx, before + cands, fake), events, fake


def test_train_all_allocates_halvings_budget_continuing_each_candidate(tmp_path):
    curves = {"g0c00": _line(0.1), "g0c01": _line(0.0, 0.2), "g0c02": _line(0.1), "g0c03": _line(0.0)}
    done, events, fake = _generation(tmp_path, curves)
    assert all(r.checkpoint for job in fake.requests for r in job)  # every slice continues from its checkpoint
    assert sum(c.train.steps for c in done) <= _halving_spend(FULL, 4) and max(c.train.steps for c in done) == FULL
    by_id = {c.id: c for c in done}
    assert by_id["g0c01"].stop is Stop.BUDGET and by_id["g0c01"].train.steps == FULL
    assert by_id["g0c01"].train.wall_s == 4.0  # its time adds up over its four slices
    assert {by_id[c].stop for c in ("g0c00", "g0c02", "g0c03")} == {Stop.ALLOCATION}
    assert by_id["g0c00"].status_text == f"stopped by adaptive allocation at {by_id['g0c00'].train.steps:,} steps"
    rounds = [e for e in events if isinstance(e, SlicesGiven)]
    assert rounds[0].targets == tuple((cid, FULL // 4) for cid in curves) and rounds[0].total == 8
    assert rounds[-1].left == 0
    finals = [e for e in events if isinstance(e, CandidateUpdate)]
    assert sorted(e.id for e in finals) == sorted(curves)  # each reported once, when final
    saved = RunStore.open(tmp_path / "run").candidates(0)
    assert [c.stop for c in saved] == [by_id[c.id].stop for c in saved]


def test_an_executor_with_two_slots_gets_two_slices_a_round(tmp_path):
    curves = {f"g0c0{i}": _line(0.1 * i, 0.01) for i in range(8)}
    done, events, fake = _generation(tmp_path, curves, parallel=2)
    rounds = [e for e in events if isinstance(e, SlicesGiven)]
    assert len(rounds[0].targets) == 8 and {len(r.targets) for r in rounds[1:]} == {2}  # both slots busy
    assert [len(job) for job in fake.requests] == [len(r.targets) for r in rounds]  # one executor call a round
    assert sum(c.train.steps for c in done) == _halving_spend(FULL, 8)


def test_success_and_failure_leave_the_pool_at_once(tmp_path):
    curves = {f"g0c0{i}": _line(0.1 * i, 0.05) for i in range(4)}
    # the best fails on its second slice; the next reaches success on its second
    done, _, fake = _generation(tmp_path, curves, fail_at={"g0c03": FULL // 2}, success_at={"g0c02": FULL // 2})
    by_id = {c.id: c for c in done}
    assert by_id["g0c03"].status is Status.TRAIN_FAILED and by_id["g0c02"].stop is Stop.SUCCESS
    asked = [r.key.split("#")[0] for job in fake.requests for r in job]
    assert asked.count("g0c03") == 2 and asked.count("g0c02") == 2  # never trained again after
    assert all(c.train.steps <= FULL for c in done if c.train)
    assert sum(c.train.steps for c in done if c.status is Status.EVALUATED) <= _halving_spend(FULL, 4)


def test_a_resumed_allocation_goes_on_from_the_checkpoints_within_the_budget(tmp_path):
    curves = {f"g0c0{i}": _line(0.1 * i) for i in range(3)}
    left_over = Candidate("g0c03", 0, 3, Status.EVALUATED, source="# the reward", stop=Stop.ALLOCATION,
                          train=TrainResult(steps=FULL // 4, wall_s=1.0, steps_per_s=1.0, curve=()),
                          evaluation=Evaluation(episodes=16, fitness_mean=0.0, fitness_std=0.0, success_rate=None,
                                                return_mean=None, episode_length_mean=1.0, terms={}))
    done, _, fake = _generation(tmp_path, curves, before=[left_over], checkpoints={"g0c02": 3 * FULL // 4})
    by_id = {c.id: c for c in done}
    assert by_id["g0c03"] == left_over  # final before the kill: untouched
    assert by_id["g0c02"].train.steps == FULL and by_id["g0c02"].stop is Stop.BUDGET  # from its checkpoint on
    spent = sum(c.train.steps for c in done)
    assert spent <= _halving_spend(FULL, 4)


def _evolve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task",
                           "balance", "--llm-free", "--trainer", "native", "--final-seeds", "0", "--race-seeds", "0",
                           *args], capture_output=True, text=True, timeout=900)


@pytest.mark.slow  # seven sandboxed trainings, ~65 s on 2 busy cores: the fast tests above drive the same code
def test_a_generation_with_adaptive_allocation_continues_its_slices_from_checkpoints(tmp_path):
    proc = _evolve("--samples", "3", "--iterations", "1", "--train-steps", str(FULL), "--no-video", "--allocation",
                   "adaptive", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "allocation round 1: g0c00, g0c01, g0c02 to 2,048 steps (4 of 7 slices of 2,048 steps left)" in proc.stdout
    (run,) = tmp_path.iterdir()
    cands = RunStore.open(run).candidates(0)
    assert all(c.status is Status.EVALUATED for c in cands), [c.reason for c in cands]
    assert sum(c.train.steps for c in cands) <= _halving_spend(FULL, 3)
    (winner,) = [c for c in cands if c.stop is Stop.BUDGET]  # the reserve: one reaches the full budget
    assert [p.step for p in winner.train.curve][0] == 2048 and winner.train.curve[-1].step == FULL  # one curve
    for cand in cands:
        assert cand.train.curve[-1].step == cand.train.steps
    assert RunStore.open(run).load_selection(0).ranking[0] == winner.id
