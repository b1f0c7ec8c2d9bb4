"""Several reviewers per generation (issue 16, item 3): the Bradley–Terry aggregate and the agreement, the human
ranker waiting for N reviewers (a reviewer re-submitting replaces their own), the review deadline (with one ranking,
and with none yet), the decision in the next prompt, --on-ranking-due, and bad input on the command line."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from builders import evaluated, failed
from test_review_page import make_run as make_review_run

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.events import (
    AwaitingRanking,
    Event,
    RankingDecided,
    RankingDueFailed,
    ReviewDeadlinePassed,
    Reviewed,
)
from rewardsmith.feedback.aggregate import aggregate, bradley_terry, implied_pairs, kendall_tau
from rewardsmith.feedback.rankers import RANKERS, HumanRanker
from rewardsmith.feedback.ranking import (
    RankingError,
    awaiting_path,
    load_ranking,
    load_reviews,
    mark_awaiting,
    ranking_path,
    reviews_dir,
)
from rewardsmith.feedback.review.access import parse_duration
from rewardsmith.feedback.review.cli import rank_command
from rewardsmith.llm.prompting import user_prompt
from rewardsmith.runs.store import RunStore

IDS = ["g0c00", "g0c01", "g0c03"]  # the evaluated candidates (g0c02 failed its check)


def review(name, best, worst, order=None):
    return SimpleNamespace(reviewer=name, best=best, worst=worst, order=tuple(order) if order else None, comments={},
                           generation_comment="")


# ---- the aggregation, pure ---------------------------------------------------------------------------------------

def test_bradley_terry_recovers_the_majority_order_and_pairs_follow_the_ranking():
    assert implied_pairs(review("a", "x", "z", ["x", "y", "z"]), "xyz") == [("x", "y"), ("x", "z"), ("y", "z")]
    # best/worst only: best beats everyone, everyone beats worst, nothing about the middle
    assert sorted(implied_pairs(review("a", "w", "z"), "wxyz")) == \
        sorted([("w", "z"), ("w", "x"), ("w", "y"), ("x", "z"), ("y", "z")])
    strengths = bradley_terry("abc", [("a", "b")] * 3 + [("b", "c")] * 3 + [("a", "c")] * 2 + [("c", "a")])
    assert strengths["a"] > strengths["b"] > strengths["c"] and abs(sum(strengths.values())) < 1e-9
    # a candidate that wins everything keeps a finite strength (the prior)
    assert all(abs(v) < 10 for v in bradley_terry("ab", [("a", "b")] * 5).values())

    three = [review("ada", "a", "d", "abcd"), review("bob", "b", "d", "bacd"), review("cy", "a", "c")]
    combined = aggregate(three, "abcd")
    assert combined.order == ("a", "b", "c", "d")
    agreed = combined.agreement
    assert agreed["kendall_tau"]["ada ~ bob"] == pytest.approx(2 / 3, abs=1e-4)  # one of six pairs swapped
    assert agreed["kendall_tau"]["ada ~ cy"] == pytest.approx(0.6)  # cy decides 5 pairs, c > d is the odd one
    assert agreed["same_best"] is False and agreed["best_votes"] == {"a": 2, "b": 1}
    assert kendall_tau(implied_pairs(three[0], "abcd"), implied_pairs(three[0], "abcd")) == 1.0
    reversed_ = review("rev", "d", "a", "dcba")
    assert kendall_tau(implied_pairs(three[0], "abcd"), implied_pairs(reversed_, "abcd")) == -1.0


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("1.5h", 5400),
                                           ("2d", 172800), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "0", "-5", "5x", "m"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# ---- the human ranker waits for N reviewers ----------------------------------------------------------------------

def make_ctx(tmp_path, events: list, **cfg) -> RunContext:
    config = RunConfig(env="cartpole", task="balance", feedback="human", models=("openai/fake",), review_port=0, **cfg)
    store = RunStore.create(tmp_path, "run", config)
    for index, fitness in enumerate((0.2, 0.9, None, 0.4)):
        store.save_candidate(failed(0, index) if fitness is None else evaluated(0, index, fitness))
    env = get_env("cartpole")
    return RunContext(store, config, env, resolve_task(env, "balance"), events.append)


class Waiting:
    """A waiting ranker's rank(0, ...) in a thread (HumanRanker unless told), with the events it reports."""

    def __init__(self, ctx: RunContext, ranker=HumanRanker):
        self.ctx, self.result, self.error = ctx, None, None
        self.ranker = ranker(ctx)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self.ranker.rank(0, self.ctx.store.candidates(0), None)
        except BaseException as err:  # handed to the test
            self.error = err

    @staticmethod
    def wait_event(kind: type[Event], events: list, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in list(events) if isinstance(e, kind)]
            if found:
                return found[-1]
            time.sleep(0.02)
        pytest.fail(f"no {kind.__name__} event in {events}")

    def finish(self, timeout: float = 20):
        self.thread.join(timeout=timeout)
        self.ranker.close()
        assert not self.thread.is_alive(), "the ranker is still waiting"
        if self.error:
            raise self.error
        return self.result


def test_two_reviewers_are_waited_for_and_aggregated_into_the_selection_and_prompt(tmp_path):
    events: list = []
    ctx = make_ctx(tmp_path, events, reviewers=2)
    store = ctx.store
    waiting = Waiting(ctx)
    try:
        announced = waiting.wait_event(AwaitingRanking, events)
        assert announced.reviewers == 2
        with pytest.raises(RankingError, match="give your reviewer name: this run waits for 2 reviewers"):
            rank_command(store.root, "g0c01", "g0c00")
        rank_command(store.root, "g0c00", "g0c01", reviewer="Ada Lovelace")  # changes her mind below
        mine = rank_command(store.root, "g0c03", "g0c00", order=["g0c03", "g0c01", "g0c00"], reviewer="ada lovelace",
                            comment=["g0c03=steady but slow", "less cart motion"])
        assert mine.reviewer == "ada lovelace"
        assert [p.name for p in reviews_dir(store, 0).iterdir()] == ["ada-lovelace.json"]  # replaced, not added
        waiting.wait_event(Reviewed, events)
        time.sleep(0.3)
        assert waiting.thread.is_alive() and not ranking_path(store, 0).exists()  # 1 of 2: still waiting
        rank_command(store.root, "g0c01", "g0c03", reviewer="Bob", comment=["g0c03=falls over", "g0c01=best"])
        selection = waiting.finish()
    finally:
        waiting.ranker.close()
    # Ada: c03 > c01 > c00; Bob (best/worst only): c01 > c00 > c03 and c01 > c03
    assert (selection.best, selection.worst) == ("g0c01", "g0c00") and selection.ranking == ("g0c01", "g0c03", "g0c00")
    assert selection.comments == {"g0c03": "ada lovelace: steady but slow\n  Bob: falls over", "g0c01": "Bob: best"}
    assert "2 reviewers ranked this generation (ada lovelace, Bob)" in selection.generation_comment
    assert "Agreement: mean Kendall tau -0.33" in selection.generation_comment
    assert "they disagreed on the best (ada lovelace: g0c03; Bob: g0c01)" in selection.generation_comment
    assert "ada lovelace: less cart motion" in selection.generation_comment
    decision = json.loads(ranking_path(store, 0).read_text())
    assert decision["aggregate"]["reviewers"] == ["ada lovelace", "Bob"]
    assert decision["aggregate"]["decided"] == "all 2 reviewers ranked"
    assert decision["aggregate"]["agreement"]["kendall_tau_mean"] == pytest.approx(-1 / 3, abs=1e-3)
    assert sorted(p.name for p in reviews_dir(store, 0).iterdir()) == ["ada-lovelace.json", "bob.json"]
    decided = [e for e in events if isinstance(e, RankingDecided)]
    assert decided and decided[0].reviewers == ("ada lovelace", "Bob")
    with pytest.raises(RankingError, match="generation 0 is already ranked"):
        rank_command(store.root, "g0c00", "g0c01", reviewer="Cy", generation=0)  # a late third: decided already

    # a resumed run keeps every reviewer's ranking and the decision, and does not wait again
    events.clear()
    resumed = HumanRanker(ctx)
    try:
        assert resumed.rank(0, store.candidates(0), None) == selection
    finally:
        resumed.close()
    assert not [e for e in events if isinstance(e, AwaitingRanking)]
    assert [r.reviewer for r in load_reviews(store, 0)] == ["ada lovelace", "Bob"]

    # what the LLM reads next: the aggregate's best and worst, every reviewer's words, the agreement
    store.save_selection(selection)
    prompt = user_prompt(ctx, 1, store.find_candidate(selection.best), RANKERS.get(ctx.cfg.feedback).follow_up)
    for text in ("several reviewers (their rankings combined) ranked the videos", "judged BEST (g0c01)",
                 "judged WORST (g0c00)", "- about g0c03: ada lovelace: steady but slow",
                 "Bob: falls over", "mean Kendall tau -0.33", "they disagreed on the best"):
        assert text in prompt


def test_the_deadline_ends_the_wait_with_the_rankings_that_came(tmp_path):
    events: list = []
    ctx = make_ctx(tmp_path, events, reviewers=3, review_deadline_s=1.5)
    mark_awaiting(ctx.store, 0)
    rank_command(ctx.store.root, "g0c01", "g0c03", reviewer="Ada", comment=["g0c01=calm"])
    start = time.monotonic()
    waiting = Waiting(ctx)
    selection = waiting.finish()
    assert time.monotonic() - start < 10
    assert (selection.best, selection.worst, selection.ranking) == ("g0c01", "g0c03", ("g0c01", "g0c03"))
    assert selection.comments == {"g0c01": "Ada: calm"}
    assert "Only Ada ranked this generation (the review deadline passed with 1 of 3 reviewers)" \
        in selection.generation_comment
    decision = load_ranking(ctx.store, 0)
    assert decision is not None and decision.aggregate["decided"] == "the review deadline passed with 1 of 3 reviewers"


def test_past_the_deadline_with_no_ranking_it_keeps_waiting_and_says_so(tmp_path):
    events: list = []
    ctx = make_ctx(tmp_path, events, reviewers=2, review_deadline_s=0.3)
    waiting = Waiting(ctx)
    try:
        said = waiting.wait_event(ReviewDeadlinePassed, events)
        assert said.gen == 0 and said.of == 2
        time.sleep(0.3)
        assert waiting.thread.is_alive()  # no ranking yet: the deadline does not end the wait
        rank_command(ctx.store.root, "g0c03", "g0c00", reviewer="Ada")  # the first one ends it at once
        selection = waiting.finish(timeout=5)
    finally:
        waiting.ranker.close()
    assert (selection.best, selection.worst) == ("g0c03", "g0c00")
    assert not awaiting_path(ctx.store, 0).exists()
    assert sum(isinstance(e, ReviewDeadlinePassed) for e in events) == 1


# ---- --on-ranking-due --------------------------------------------------------------------------------------------

def test_on_ranking_due_runs_the_command_with_the_run_the_generation_and_the_url(tmp_path):
    out = tmp_path / "due.json"
    script = ("import json, os, sys; open(sys.argv[1] + '.tmp', 'w').write(json.dumps({k: os.environ[k] for k in "
              "('REWARDSMITH_RUN', 'REWARDSMITH_GEN', 'REWARDSMITH_REVIEW_URL')})); os.replace(sys.argv[1] + '.tmp', "
              "sys.argv[1])")
    events: list = []
    ctx = make_ctx(tmp_path / "a", events, on_ranking_due=shlex.join([sys.executable, "-c", script, str(out)]))
    waiting = Waiting(ctx)
    try:
        deadline = time.monotonic() + 20
        while not out.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = json.loads(out.read_text())
        assert seen == {"REWARDSMITH_RUN": str(ctx.store.root), "REWARDSMITH_GEN": "0",
                        "REWARDSMITH_REVIEW_URL": waiting.ranker.server.url}
        rank_command(ctx.store.root, "g0c01", "g0c00")
        waiting.finish()
    finally:
        waiting.ranker.close()
    assert not [e for e in events if isinstance(e, RankingDueFailed)]

    # a command that fails is one reported line; the run waits and ranks as before
    events = []
    ctx = make_ctx(tmp_path / "b", events, on_ranking_due="/nonexistent/notify --now")
    waiting = Waiting(ctx)
    try:
        failure = waiting.wait_event(RankingDueFailed, events)
        assert failure.reason.startswith("/nonexistent/notify: No such file")
        rank_command(ctx.store.root, "g0c01", "g0c00")
        assert waiting.finish().best == "g0c01"
    finally:
        waiting.ranker.close()
    events.clear()
    ctx = make_ctx(tmp_path / "c", events, on_ranking_due=f"{sys.executable} -c 'import sys; sys.exit(\"no network\")'")
    waiting = Waiting(ctx)
    try:
        assert waiting.wait_event(RankingDueFailed, events).reason == "exit status 1: no network"
        rank_command(ctx.store.root, "g0c01", "g0c00")
        waiting.finish()
    finally:
        waiting.ranker.close()


# ---- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--reviewers", "0"], "--reviewers must be a positive integer"),
    (["--review-deadline", "soon"], "'soon' is not a duration"),
    (["--review-deadline", "0"], "is not a positive duration"),
    (["--on-ranking-due", "notify 'unclosed"], "is not a command line (No closing quotation)"),
    (["--review-host", "0.0.0.0", "--feedback", "metrics"], "--review-host only applies to the review page, which "
                                                            "--feedback metrics does not serve"),
    (["--reviewers", "2", "--review-deadline", "10m", "--feedback", "synthetic"], "--reviewers, --review-deadline "
                                                                                "only apply to the review page"),
    (["--judge-min-tau", "0.9"], "--judge-min-tau only applies to --feedback hybrid (when the judge's ranking may "
                                 "stand alone), not --feedback human"),
])
def test_bad_review_settings_are_one_line(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task", "balance",
                           "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--out", str(tmp_path / "runs"), *(["--feedback", "human"] if "--feedback" not
                                                                              in args else []), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_bad_reviewer_name_is_refused(tmp_path):
    ctx = make_ctx(tmp_path, [])
    mark_awaiting(ctx.store, 0)
    for name in ("../etc", ".hidden", "x" * 41, "a/b"):
        with pytest.raises(RankingError, match="is not usable"):
            rank_command(ctx.store.root, "g0c01", "g0c00", reviewer=name)
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "rank", str(ctx.store.root), "--reviewer", "../x",
                           "--best", "g0c01", "--worst", "g0c00"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "reviewer name '../x' is not usable" in proc.stderr
    assert not reviews_dir(ctx.store, 0).exists() and not ranking_path(ctx.store, 0).exists()
    single = rank_command(ctx.store.root, "g0c01", "g0c00")  # one reviewer per generation: no name needed
    assert single.reviewer == "anonymous" and load_ranking(ctx.store, 0) == single
    assert dataclasses.asdict(single)["aggregate"] is None


# ---- two reviewers on the review page, in a real browser ---------------------------------------------------------

def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return context, page, errors


def _name(page, name: str) -> None:
    page.fill("#reviewer", name)
    page.press("#reviewer", "Tab")  # the change event: remembered, and the page loads this reviewer's ranking
    page.wait_for_selector(f"body[data-reviewer='{name}']")


def test_two_reviewers_rank_one_generation_differently_on_the_page(tmp_path, browser):
    store = make_review_run(tmp_path)  # generation 1 awaits: g1c00..g1c02 evaluated and filmed, g1c03 failed
    store.save_config(dataclasses.replace(store.config(), reviewers=2, review_port=0))
    env = get_env("cartpole")
    events: list = []
    ctx = RunContext(store, store.config(), env, resolve_task(env, "balance"), events.append)
    ranker = HumanRanker(ctx)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(selection=ranker.rank(1, store.candidates(1), None)),
                              daemon=True)
    thread.start()
    contexts = []
    try:
        ada_context, ada, ada_errors = _open(browser, ranker.server.url)
        contexts.append(ada_context)
        _name(ada, "Ada")
        assert "0 of 2 reviewers have ranked" in ada.inner_text("#gen-status")
        ada.check("input[name='best'][value='g1c02']")
        ada.check("input[name='worst'][value='g1c00']")
        ada.check("#use-order")  # her full order: g1c02, g1c01, g1c00
        ada.fill("textarea.comment[data-id='g1c02']", "steady, but drifts")
        ada.fill("#gen-comment", "slower cart please")
        ada.click("#submit")
        ada.wait_for_selector("#notice:not([hidden])")
        assert "(1 of 2 reviewers)" in ada.inner_text("#notice") and ada.locator("#error").is_hidden()
        assert thread.is_alive() and not ranking_path(store, 1).exists()  # one of two: the run still waits
        ada.reload()
        ada.wait_for_selector("body[data-ready='1']")
        ada.wait_for_function("document.querySelector('#gen-status').textContent.includes('(Ada)')")
        assert ada.input_value("#reviewer") == "Ada"  # remembered in localStorage
        assert ada.locator("input[name='best'][value='g1c02']").is_checked()  # her own ranking, to change
        assert ada.inner_text("#submit") == "Update my ranking"

        bob_context, bob, bob_errors = _open(browser, ranker.server.url)  # another browser: no name yet
        contexts.append(bob_context)
        assert bob.input_value("#reviewer") == ""
        assert not bob.locator("input[name='best'][value='g1c02']").is_checked()  # Ada's ranking is not shown
        bob.check("input[name='best'][value='g1c01']")
        bob.check("input[name='worst'][value='g1c02']")
        bob.click("#submit")
        bob.wait_for_selector("#error:not([hidden])")
        assert "Enter your name" in bob.inner_text("#error")
        _name(bob, "Bob")  # his picks stay
        assert bob.locator("input[name='best'][value='g1c01']").is_checked()
        assert "1 of 2 reviewers have ranked (Ada)" in bob.inner_text("#gen-status")
        bob.fill("textarea.comment[data-id='g1c01']", "smooth and centred")
        bob.click("#submit")
        bob.wait_for_selector("#notice:not([hidden])")
        assert "The run continues" in bob.inner_text("#notice"), bob.inner_text("#notice")
        thread.join(timeout=20)
        assert not thread.is_alive()
        selection = result["selection"]

        # Ada: g1c02 > g1c01 > g1c00; Bob (best/worst only): g1c01 > g1c00 > g1c02 and g1c01 > g1c02
        assert (selection.best, selection.worst) == ("g1c01", "g1c00")
        assert selection.ranking == ("g1c01", "g1c02", "g1c00")
        assert selection.comments == {"g1c02": "Ada: steady, but drifts", "g1c01": "Bob: smooth and centred"}
        for text in ("2 reviewers ranked this generation (Ada, Bob)", "mean Kendall tau -0.33",
                     "they disagreed on the best (Ada: g1c02; Bob: g1c01)", "Ada: slower cart please"):
            assert text in selection.generation_comment
        assert sorted(p.name for p in reviews_dir(store, 1).iterdir()) == ["ada.json", "bob.json"]

        ada.reload()  # decided: the aggregate, who decided, and each reviewer's ranking
        ada.wait_for_selector("#reviews:not([hidden])")
        status = ada.inner_text("#gen-status")
        assert "best g1c01, worst g1c00" in status and "all 2 reviewers ranked (Ada, Bob)" in status
        assert "mean Kendall tau -0.33" in status and "different bests" in status
        rows = ada.eval_on_selector_all("#reviews tr[data-reviewer]", "rs => rs.map(r => r.innerText)")
        assert len(rows) == 2 and "g1c02 › g1c01 › g1c00" in rows[0] and "best and worst only" in rows[1]
        assert ada.locator("#submit").is_hidden()
        assert not ada_errors and not bob_errors, ada_errors + bob_errors
    finally:
        for context in contexts:
            context.close()
        ranker.close()
