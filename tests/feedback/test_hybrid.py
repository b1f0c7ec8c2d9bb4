"""Hybrid feedback (issue 16, item 4): the judge looks twice (pictures in candidate order, then reversed) through the
real litellm path to the fake vision server; a confident judge's ranking stands when nobody ranks by the deadline,
an unsure one keeps the run waiting for a person; a person confirms or reorders on the review page (a real
Chromium); the Selection says who decided; --no-video and a missing judge model are refused in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fake_llm import FakeLLM
from test_judge import _cli, _parts, _reply, _run, _with_server
from test_reviewers import Waiting, _open, make_ctx

from rewardsmith.config import RunConfig
from rewardsmith.events import AwaitingRanking, JudgeProposed, ReviewDeadlinePassed
from rewardsmith.execute.train_stage import halving_default
from rewardsmith.feedback import hybrid
from rewardsmith.feedback.judge import Verdict
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.feedback.ranking import RankingError, load_ranking, mark_awaiting, ranking_path
from rewardsmith.feedback.review.cli import rank_command
from rewardsmith.llm.prompting import user_prompt
from rewardsmith.records import DecidedBy, Decider
from rewardsmith.runs.store import read_json

IDS = ["g0c00", "g0c01", "g0c03"]  # evaluated and filmed; g0c02 failed its check
REASONS = {"g0c03": "balances the pole all episode", "g0c00": "wobbles but holds", "g0c01": "drops the pole"}
JUDGE_ORDER = ["g0c03", "g0c00", "g0c01"]


def _verdict(order, complete=True, unseen=None) -> Verdict:
    return Verdict(model="m", order=tuple(order), reasons={}, summary="", complete=complete, tries=1, errors=(),
                   images=len(order), shown=tuple(order), unseen=unseen or {})


def test_hybrid_is_a_ranker_that_needs_films_and_trains_every_candidate_fully():
    ranker = RANKERS.get("hybrid")
    assert ranker.needs_videos and not ranker.needs_fitness
    assert not halving_default("hybrid", "native")


@pytest.mark.parametrize("second, complete, unseen, confident, why, tau", [
    ("abcd", True, None, True, "its two looks agree (same best and worst, Kendall tau +1.00 >= 0.6)", 1.0),
    ("acbd", True, None, True, "Kendall tau +0.67 >= 0.6", 2 / 3),  # one middle pair swapped
    ("bacd", True, None, False, "picked a different best", 2 / 3),
    ("dcba", True, None, False, "picked a different best and worst", -1.0),
    ("cbad", True, None, False, "picked a different best", 0.0),
    ("abcd", False, None, False, "the judge did not give two complete rankings", 1.0),
    ("abcd", True, {"d": "it was not filmed"}, False, "d could not be shown to the judge", 1.0),
])
def test_the_judge_is_confident_only_when_its_two_looks_agree(second, complete, unseen, confident, why, tau):
    made = hybrid.proposal(_verdict("abcd"), _verdict(second, complete, unseen), list("abcd"), list("abcd"))
    assert made.confident is confident and why in made.why
    assert made.tau == pytest.approx(tau)
    middle = hybrid.margin(_verdict("abcde"), _verdict("adcbe"), list("abcde"))  # same ends, middle reversed
    assert not middle[0] and middle[1] == "its two looks agree too little (Kendall tau +0.40 < 0.6)"
    worst = hybrid.margin(_verdict("abcde"), _verdict("abced"), list("abcde"))
    assert not worst[0] and "different worst" in worst[1]
    # --judge-min-tau moves the bar: the reversed middle passes at 0.4, one swapped pair fails at 1
    assert hybrid.margin(_verdict("abcde"), _verdict("adcbe"), list("abcde"), min_tau=0.4)[:2] == \
        (True, "its two looks agree (same best and worst, Kendall tau +0.40 >= 0.4)")
    strict = hybrid.proposal(_verdict("abcd"), _verdict("acbd"), list("abcd"), list("abcd"), min_tau=1.0)
    assert not strict.confident and strict.why.endswith("(Kendall tau +0.67 < 1)") and strict.min_tau == 1.0


@pytest.mark.parametrize("min_tau", [1.5, -2.0, float("nan")])
def test_a_minimum_tau_outside_minus_one_to_one_is_refused(min_tau):
    cfg = RunConfig(env="cartpole", task="balance", feedback="hybrid", judge_model="openai/v", judge_min_tau=min_tau)
    with pytest.raises(ValueError, match="--judge-min-tau must be a Kendall tau between -1 and 1"):
        cfg.validate()


def test_rank_judge_without_a_proposal_or_without_best_and_worst_is_one_line(tmp_path):
    ctx = make_ctx(tmp_path, [])  # a human run: the judge was never asked
    mark_awaiting(ctx.store, 0)
    for args, message in ((["--judge"], "generation 0 of run run has no judge's proposal to take (only a --feedback "
                                       "hybrid run asks the judge first); rank it with --best and --worst"),
                          (["--best", "g0c01"], "--best and --worst are required (or --judge, on a --feedback hybrid "
                                                "run, to take the judge's proposed order)")):
        proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "rank", str(ctx.store.root), *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"error: {message}"], proc.stderr
    assert not ranking_path(ctx.store, 0).exists()


def _hybrid(tmp_path, fake: FakeLLM, events: list, **overrides):
    ctx = _run(tmp_path, feedback="hybrid", review_port=0, report=events.append, **overrides)
    return _with_server(ctx, fake)


def test_a_confident_judge_stands_when_nobody_ranks_by_the_deadline(tmp_path):
    events: list = []
    replies = [_reply(JUDGE_ORDER, REASONS, "too much cart motion"), _reply(JUDGE_ORDER, REASONS)]
    with FakeLLM(replies) as fake:
        ctx = _hybrid(tmp_path, fake, events, review_deadline_s=0.5, judge_min_tau=0.9)
        start = time.monotonic()
        selection = Waiting(ctx, RANKERS.get("hybrid").make).finish()
    assert time.monotonic() - start < 20
    first, second = (_parts(r) for r in fake.requests)
    labels = [[p["text"] for p in parts if p["type"] == "text"][1:] for parts in (first, second)]
    assert labels == [[f"Policy {c}:" for c in IDS], [f"Policy {c}:" for c in reversed(IDS)]]  # the two looks
    assert "g0c03, g0c01, g0c00" in second[0]["text"]  # the second intro lists them in its own order too

    assert selection.mode == "hybrid" and selection.ranking == tuple(JUDGE_ORDER) and selection.best == "g0c03"
    assert selection.decided_by == DecidedBy(Decider.JUDGE, judge_model="openai/fake-vision", deadline_s=0.5,
                                             confident_why=selection.decided_by.confident_why)
    assert selection.decided_by_text == ("the judge (openai/fake-vision): confident, its two looks agree (same best "
                                         "and worst, Kendall tau +1.00 >= 0.9); no reviewer by the 0.5 s deadline")
    assert selection.comments == REASONS
    assert selection.generation_comment.startswith("too much cart motion (the judge's ranking stood: confident")
    decision = load_ranking(ctx.store, 0)
    assert decision is not None and decision.source == "judge" and decision.order == tuple(JUDGE_ORDER)
    proposal = read_json(ctx.store.gen_dir(0) / hybrid.PROPOSAL_NAME)
    assert proposal["confident"] and proposal["tau"] == 1.0 and proposal["order"] == JUDGE_ORDER
    assert proposal["min_tau"] == 0.9  # the run's --judge-min-tau
    gen_dir = ctx.store.gen_dir(0)
    assert (gen_dir / "judge_reversed.json").is_file() and read_json(gen_dir / "usage_judge_reversed.json")["images"] == 3
    told = Waiting.wait_event(AwaitingRanking, events)
    assert told.judge_confident and told.deadline_s == 0.5
    assert Waiting.wait_event(JudgeProposed, events).order == tuple(JUDGE_ORDER)


def test_an_unsure_judge_keeps_the_run_waiting_past_the_deadline_for_a_person(tmp_path):
    events: list = []
    replies = [_reply(JUDGE_ORDER, REASONS), _reply(["g0c01", "g0c00", "g0c03"])]  # the looks disagree
    with FakeLLM(replies) as fake:
        ctx = _hybrid(tmp_path, fake, events, review_deadline_s=0.3)
        waiting = Waiting(ctx, RANKERS.get("hybrid").make)
        try:
            assert Waiting.wait_event(ReviewDeadlinePassed, events).gen == 0
            time.sleep(0.5)
            assert waiting.thread.is_alive() and load_ranking(ctx.store, 0) is None  # past the deadline, waiting
            rank_command(ctx.store.root, "g0c00", "g0c03", order=["g0c00", "g0c01", "g0c03"],
                         comment=["g0c00=steadiest"])
            selection = waiting.finish()
        finally:
            waiting.ranker.close()
    proposal = read_json(ctx.store.gen_dir(0) / hybrid.PROPOSAL_NAME)
    assert not proposal["confident"] and "picked a different best and worst" in proposal["why"]
    told = Waiting.wait_event(AwaitingRanking, events)
    assert told.judge_confident is False  # told, and unsure
    assert selection.ranking == ("g0c00", "g0c01", "g0c03") and selection.comments == {"g0c00": "steadiest"}
    assert selection.decided_by == DecidedBy(Decider.PEOPLE, reviewers=("anonymous",), kept_judge_order=False)
    assert selection.decided_by_text == "reviewer anonymous changed the judge's order"
    assert load_ranking(ctx.store, 0).source == "human"


def test_a_person_who_confirms_the_judge_keeps_its_reasons_and_a_resume_asks_nobody_again(tmp_path):
    events: list = []
    with FakeLLM([_reply(JUDGE_ORDER, REASONS), _reply(JUDGE_ORDER, REASONS)]) as fake:
        ctx = _hybrid(tmp_path, fake, events, review_deadline_s=60)
        waiting = Waiting(ctx, RANKERS.get("hybrid").make)
        try:
            Waiting.wait_event(AwaitingRanking, events)
            with pytest.raises(RankingError, match="--judge takes the judge's whole order"):
                rank_command(ctx.store.root, "g0c03", None, judge=True)
            taken = rank_command(ctx.store.root, None, None, comment=["g0c00=a bit late"], judge=True)  # rank --judge
            assert (taken.best, taken.worst, taken.order) == ("g0c03", "g0c01", tuple(JUDGE_ORDER))
            selection = waiting.finish()
        finally:
            waiting.ranker.close()
        assert selection.decided_by is not None and selection.decided_by.kept_judge_order is True
        assert selection.decided_by_text == "reviewer anonymous confirmed the judge's order"
        assert selection.comments == {"g0c03": f"(judge) {REASONS['g0c03']}", "g0c00": "a bit late",
                                      "g0c01": f"(judge) {REASONS['g0c01']}"}
        ctx.store.save_selection(selection)
        prompt = user_prompt(ctx, 1, ctx.store.find_candidate("g0c03"), RANKERS.get(ctx.cfg.feedback).follow_up)
        assert "a reviewer, shown a vision model's proposed ranking first, ranked the videos" in prompt
        assert f"- about g0c03: (judge) {REASONS['g0c03']}" in prompt and "- about g0c00: a bit late" in prompt
        resumed = RANKERS.get("hybrid").make(ctx)
        try:
            assert resumed.rank(0, ctx.store.candidates(0), None) == selection
        finally:
            resumed.close()
        assert len(fake.requests) == 2  # both looks are recorded: nothing is asked again
    assert ctx.store.load_selection(0).decided_by == selection.decided_by  # the record keeps who decided


def test_the_page_shows_the_judges_order_and_reasons_and_a_person_reorders_it(tmp_path, browser):
    events: list = []
    with FakeLLM([_reply(JUDGE_ORDER, REASONS, "all drift right"), _reply(JUDGE_ORDER, REASONS)]) as fake:
        ctx = _hybrid(tmp_path, fake, events, review_deadline_s=120)
        waiting = Waiting(ctx, RANKERS.get("hybrid").make)
        context = None
        try:
            Waiting.wait_event(AwaitingRanking, events)
            context, page, errors = _open(browser, waiting.ranker.server.url)
            page.wait_for_selector("#judge-box:not([hidden])")
            assert page.inner_text("#judge-order") == "g0c03 › g0c00 › g0c01"
            assert "Confident: its two looks agree" in page.inner_text("#judge-box")
            assert "all drift right" in page.inner_text("#judge-box")
            rows = page.eval_on_selector_all("#judge-box tr[data-id]", "rs => rs.map(r => r.innerText)")
            assert [r.split("\t") for r in rows] == [[c, REASONS[c]] for c in JUDGE_ORDER]
            assert page.inner_text(".card[data-id='g0c01'] .judge-reason") == "judge (#3): drops the pole"
            page.click("#use-judge")
            assert page.locator("input[name='best'][value='g0c03']").is_checked()
            assert page.locator("input[name='worst'][value='g0c01']").is_checked()
            assert page.locator("#use-order").is_checked()
            page.click("button[aria-label='move g0c00 up']")  # the person disagrees about the best
            assert page.eval_on_selector_all("#order li", "ls => ls.map(l => l.dataset.id)") == \
                ["g0c00", "g0c03", "g0c01"]
            page.click("#submit")
            page.wait_for_selector("#notice:not([hidden])")
            selection = waiting.finish()
            assert selection.ranking == ("g0c00", "g0c03", "g0c01")
            assert selection.decided_by_text == "reviewer anonymous changed the judge's order"
            ctx.store.save_selection(selection)
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_function("document.querySelector('#gen-status').textContent.includes('decided by')")
            assert "decided by reviewer anonymous changed the judge's order" in page.inner_text("#gen-status")
            assert page.locator("#use-judge").count() == 0  # decided: nothing left to confirm
            assert not errors, errors
        finally:
            if context is not None:
                context.close()
            waiting.ranker.close()


def _consistent_judge(request: dict) -> str:
    """A fake judge that ranks what it is shown by id, whatever the order of the pictures: always confident."""
    content = request["messages"][-1]["content"]
    ids = [p["text"].removeprefix("Policy ").rstrip(":") for p in content[1:] if p["type"] == "text"]
    return _reply(sorted(ids), summary="steady enough")


@pytest.mark.slow  # ~60 s on two shared cores: three sandboxed trainings and films (pytest -m slow)
def test_an_unattended_hybrid_evolve_goes_on_with_a_confident_judge(tmp_path):
    out = tmp_path / "runs"
    with FakeLLM([], default=_consistent_judge) as fake:
        proc = _cli("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--feedback", "hybrid",
                    "--judge-model", "openai/fake-vision", "--judge-api-base", fake.base_url, "--review-deadline", "1s",
                    "--review-port", "0", "--iterations", "1", "--samples", "3", "--train-steps", "2048", "--out",
                    str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the judge proposes g0c00 > g0c01 > g0c02: confident" in proc.stdout
    assert "generation 0 decided by the judge (openai/fake-vision): confident" in proc.stdout
    (run,) = out.iterdir()
    selection = read_json(run / "gen_00" / "selection.json")
    assert selection["mode"] == "hybrid" and selection["ranking"] == ["g0c00", "g0c01", "g0c02"]
    assert selection["decided_by"]["who"] == "judge" and selection["decided_by"]["deadline_s"] == 1  # a record
    assert len(fake.requests) == 2  # the two looks
