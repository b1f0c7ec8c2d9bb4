"""The review page on a phone (390 x 844) and a laptop (1280 x 800), in a real Chromium (issue 25 item 6): the page
never scrolls sideways, each video has a poster cut from its film strip, a touch drag (or a mouse drag) reorders the
submitted order, one candidate can never be both best and worst, the review deadline counts down, the chart rings
only selected generations and does not blow evaluation noise up, and the judge's fallback order is called and
recorded a fallback; no "null" anywhere on the page."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path
from urllib.request import urlopen

import pytest
from builders import evaluated, failed
from PIL import Image
from test_review_page import make_run
from test_reviewers import Waiting

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.events import AwaitingRanking
from rewardsmith.feedback import hybrid
from rewardsmith.feedback.judge import Verdict
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.feedback.ranking import load_ranking
from rewardsmith.feedback.review.server import serve
from rewardsmith.feedback.review.views import judge_view
from rewardsmith.records import DecidedBy, Decider, Selection
from rewardsmith.runs.store import RunStore, write_record

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
VIEWPORTS = [pytest.param(PHONE, id="390x844"), pytest.param(LAPTOP, id="1280x800")]
DEADLINE_S = 900.0
SHOTS = os.environ.get("REWARDSMITH_REVIEW_SCREENSHOTS")  # a folder: save review-390.png and review-1280.png there
NO_NULL = "!/\\bnull\\b/.test(document.body.innerText) && !/>null<|=\"null\"/.test(document.body.innerHTML)"


@pytest.fixture(scope="module")
def filmed(tmp_path_factory) -> Path:
    """test_review_page's run (generation 1 awaits a ranking; real videos and strips) with a review deadline;
    filmed once, copied by each test that ranks."""
    return make_run(tmp_path_factory.mktemp("phone"), review_deadline_s=DEADLINE_S).root


@pytest.fixture
def run(filmed, tmp_path):
    """A fresh copy of the filmed run served on a free port: (store, server)."""
    store = RunStore.open(Path(shutil.copytree(filmed, tmp_path / "run")))
    server = serve(store, port=0)
    yield store, server
    server.close()


def _page(browser, server, viewport, touch: bool = False):
    context = browser.new_context(viewport=viewport, has_touch=touch)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    return context, page, errors


def _fits(page, width: int) -> None:
    """Nothing wider than the screen: the page does not scroll sideways and the header's controls are on it."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in ("#reviewer", "#gen-picker", "#tab-overview"):
        if page.locator(box).is_visible():
            edge = page.locator(box).bounding_box()
            assert 0 <= edge["x"] and edge["x"] + edge["width"] <= width, (box, edge)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_page_fits_the_screen_and_every_video_has_a_poster_from_its_strip(run, browser, viewport):
    store, server = run
    context, page, errors = _page(browser, server, viewport)
    try:
        _fits(page, viewport["width"])
        posters = page.eval_on_selector_all(".card > video", "vs => vs.map(v => [v.dataset.id, v.getAttribute('poster')])")
        assert posters == [[f"g1c0{i}", f"/media/1/g1c0{i}/poster.png"] for i in range(3)]
        assert page.locator(".worst-film video[poster]").count() == 0  # the strip is not of the worst episode
        for cid, url in posters:
            answer = urlopen(server.url.rstrip("/") + url, timeout=10)
            assert answer.status == 200 and answer.headers["Content-Type"] == "image/png"
            poster = Image.open(io.BytesIO(answer.read())).convert("RGB")
            strip = Image.open(store.strip_path(1, int(cid[-1]))).convert("RGB")
            assert poster.size == (64, 64) and strip.size == (6 * 64, 64)  # the first of its six frames
            assert poster.tobytes() == strip.crop((0, 0, 64, 64)).tobytes()
        assert page.evaluate(NO_NULL)
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / f"review-{viewport['width']}.png"), full_page=True)
        page.click("#tab-overview")
        page.wait_for_selector("body[data-overview]")
        _fits(page, viewport["width"])  # the wide table scrolls in its own box
        assert page.evaluate(NO_NULL)
        assert not errors, errors
    finally:
        context.close()


def _order(page) -> list[str]:
    return page.eval_on_selector_all("#order li", "ls => ls.map(l => l.dataset.id)")


def _centre(page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _touch_drag(page, start: tuple[float, float], end_y: float) -> None:
    """A finger on `start` slides to `end_y` and lifts, as a touch screen reports it (CDP touch events)."""
    cdp = page.context.new_cdp_session(page)
    x, y = start
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchMove", "touchPoints": [{"x": x, "y": y + (end_y - y) * step / 10}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def _mouse_drag(page, start: tuple[float, float], end_y: float) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0], end_y, steps=10)
    page.mouse.up()


@pytest.mark.parametrize("viewport, how", [pytest.param(PHONE, "touch", id="390x844-touch"),
                                           pytest.param(LAPTOP, "mouse", id="1280x800-mouse")])
def test_dragging_an_item_changes_the_submitted_order(run, browser, viewport, how):
    store, server = run
    context, page, errors = _page(browser, server, viewport, touch=how == "touch")
    try:
        assert _order(page) == ["g1c00", "g1c01", "g1c02"]
        page.locator("#order li[data-id='g1c02']").scroll_into_view_if_needed()
        start = _centre(page, "#order li[data-id='g1c02'] .handle")
        top = page.locator("#order li[data-id='g1c00']").bounding_box()["y"]
        (_touch_drag if how == "touch" else _mouse_drag)(page, start, top + 2)
        assert _order(page) == ["g1c02", "g1c00", "g1c01"]
        assert page.locator("#use-order").is_checked()  # the ends of the dragged order are best and worst
        assert page.locator("input[name='best'][value='g1c02']").is_checked()
        assert page.locator("input[name='worst'][value='g1c01']").is_checked()
        page.click("#submit")
        page.wait_for_selector("#notice:not([hidden])")
        saved = load_ranking(store, 1)
        assert saved is not None and saved.order == ("g1c02", "g1c00", "g1c01")
        assert (saved.best, saved.worst) == ("g1c02", "g1c01")
        assert not errors, errors
    finally:
        context.close()


def _picks(page) -> tuple[list[str], list[str]]:
    best = page.eval_on_selector_all("input[name='best']:checked", "is => is.map(i => i.value)")
    worst = page.eval_on_selector_all("input[name='worst']:checked", "is => is.map(i => i.value)")
    return best, worst


def test_one_candidate_is_never_both_best_and_worst(run, browser):
    store, server = run
    context, page, errors = _page(browser, server, PHONE)
    try:
        page.check("input[name='worst'][value='g1c01']")
        page.check("input[name='best'][value='g1c01']")  # the current worst chosen as the best
        assert _picks(page) == (["g1c01"], [])  # its worst pick is cleared, not left checked beside it
        page.check("input[name='worst'][value='g1c01']")
        assert _picks(page) == ([], ["g1c01"])
        for which, cid in [("best", "g1c00"), ("worst", "g1c00"), ("best", "g1c02"), ("worst", "g1c02"),
                           ("best", "g1c02"), ("worst", "g1c01"), ("best", "g1c01"), ("worst", "g1c00")]:
            page.check(f"input[name='{which}'][value='{cid}']")
            best, worst = _picks(page)
            assert len(best) <= 1 and len(worst) <= 1 and not set(best) & set(worst), (which, cid, best, worst)
        assert _picks(page) == (["g1c01"], ["g1c00"])
        page.check("input[name='best'][value='g1c00']")  # the worst becomes the best: no worst left to submit
        page.click("#submit")
        assert page.inner_text("#error") == "Pick a best and a worst candidate before submitting."
        assert load_ranking(store, 1) is None and not list(store.gen_dir(1).glob("rankings/*.json"))
        assert not errors, errors
    finally:
        context.close()


def _seconds_left(text: str) -> int:
    match = re.search(r"Review deadline in (\d+):(\d\d): ", text)
    assert match, text
    return int(match[1]) * 60 + int(match[2])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_review_deadline_counts_down(run, browser, viewport):
    store, server = run
    context, page, errors = _page(browser, server, viewport)
    try:
        box = page.locator("#deadline")
        assert box.is_visible()
        first = _seconds_left(box.inner_text())
        assert DEADLINE_S - 120 < first <= DEADLINE_S  # the run began waiting when make_run marked it
        assert box.inner_text().endswith("nothing is decided without a ranking: the run keeps waiting for yours.")
        page.wait_for_function(f"document.querySelector('#deadline').innerText.includes('in ') && "
                               f"!document.querySelector('#deadline').innerText.includes('{first // 60}:{first % 60:02d}')",
                               timeout=5000)
        assert _seconds_left(box.inner_text()) < first
        page.select_option("#gen-picker", "0")  # ranked: no deadline for it
        page.wait_for_selector(".card[data-id='g0c00']")
        assert box.is_hidden()
        assert not errors, errors
    finally:
        context.close()


def _chart_run(root: Path, scores: tuple[float, ...], selected: bool) -> RunStore:
    store = RunStore.create(root, "chart", RunConfig(env="cartpole", task="balance"))
    for index, score in enumerate(scores):
        store.save_candidate(evaluated(0, index, score))
    if selected:
        ids = [f"g0c0{i}" for i in range(len(scores))]
        store.save_selection(Selection(generation=0, mode="metrics", ranking=tuple(ids[::-1]),
                                       fitness=dict(zip(ids, scores, strict=True)), best=ids[-1], worst=ids[0],
                                       best_overall=ids[-1], best_overall_fitness=scores[-1], failed={}))
    return store


@pytest.mark.parametrize("scores, spread", [
    ((0.0832, 0.0838, 0.0844), (0.0, 0.1)),  # the same score give or take noise: a few pixels apart
    ((0.2, 0.5, 0.8), (0.7, 1.0)),  # a real difference still spans the chart
])
def test_the_chart_rings_a_selection_only_and_does_not_magnify_noise(tmp_path, browser, scores, spread):
    store = _chart_run(tmp_path, scores, selected=False)
    with serve(store, port=0) as server:
        context, page, errors = _page(browser, server, PHONE)
        try:
            page.click("#tab-overview")
            page.wait_for_selector("#ov-chart circle.point")
            assert page.locator("#ov-chart circle.best-point").count() == 0  # nothing selected: no ring
            ys = page.eval_on_selector_all("#ov-chart circle.point", "cs => cs.map(c => +c.getAttribute('cy'))")
            axis = page.eval_on_selector_all("#ov-chart line.axis", "ls => ls.map(l => [+l.getAttribute('y1'), "
                                                                     "+l.getAttribute('y2')])")
            height = abs(axis[1][1] - axis[1][0])  # the vertical axis
            assert spread[0] <= (max(ys) - min(ys)) / height <= spread[1], (ys, height)
            _chart_run(tmp_path / "sel", scores, selected=True)  # the same run, now with its selection
            shutil.copy(tmp_path / "sel" / "chart" / "gen_00" / "selection.json", store.gen_dir(0) / "selection.json")
            page.evaluate("loadOverview()")
            page.wait_for_selector("#ov-chart circle.best-point")
            assert page.locator("#ov-chart circle.best-point").count() == 1
            assert page.evaluate(NO_NULL) and not errors, errors
        finally:
            context.close()


def _incomplete(ids: list[str]) -> Verdict:
    """A judge whose three replies were all unusable: it placed nobody."""
    return Verdict(model="openai/fake-vision", order=(), reasons={}, summary="", complete=False, tries=3,
                   errors=("reply 1: the reply holds no JSON object that parses",) * 3, images=len(ids),
                   shown=tuple(ids))


def _hybrid_run(root: Path) -> RunContext:
    """A hybrid run of generation 0 whose judge's two looks are both recorded as unusable (nothing is asked)."""
    cfg = RunConfig(env="cartpole", task="balance", feedback="hybrid", models=("openai/fake",),
                    judge_model="openai/fake-vision", review_port=0)
    store = RunStore.create(root, "run", cfg)
    for index, fitness in enumerate((0.2, 0.9, None, 0.4)):
        store.save_candidate(failed(0, index) if fitness is None else evaluated(0, index, fitness))
    ids = ["g0c00", "g0c01", "g0c03"]
    for name in ("judge", hybrid.SECOND_LOOK):
        write_record(store.gen_dir(0) / f"{name}.json", _incomplete(ids).to_dict())
    env = get_env("cartpole")
    return RunContext(store, cfg, env, resolve_task(env, "balance"), lambda event: None)


def test_the_judges_fallback_is_called_a_fallback_and_recorded_as_one(tmp_path, browser):
    events: list = []
    ctx = _hybrid_run(tmp_path)
    ctx = RunContext(ctx.store, ctx.cfg, ctx.env, ctx.task, events.append)
    waiting = Waiting(ctx, RANKERS.get("hybrid").make)
    context = None
    try:
        Waiting.wait_event(AwaitingRanking, events)
        context, page, errors = _page(browser, waiting.ranker.server, PHONE)
        page.wait_for_selector("#judge-box:not([hidden])")
        box = page.inner_text("#judge-box")
        assert page.inner_text("#judge-box h2") == "Fallback order (not the judge's own ranking)"
        assert "The judge's ranking" not in box
        assert ("Fallback: the judge gave no valid full ranking in 3 request(s) (placed 0 of 3); g0c01, g0c03, g0c00 "
                "follow in task-score order.") in box
        assert page.inner_text("#judge-order") == "g0c01 › g0c03 › g0c00"  # the task score's order
        assert page.evaluate(NO_NULL)  # no summary, no reasons: left out, never written "null"
        assert page.locator("#judge-box table").count() == 0
        # hybrid's default 600 s deadline, counting down from the moment the generation began to wait
        assert re.search(r"Review deadline in (10:00|9:[0-5]\d):", page.inner_text("#deadline"))
        _fits(page, PHONE["width"])
        page.click("#use-judge")
        assert page.inner_text("#use-judge") == "Use the fallback order"
        page.click("#submit")
        page.wait_for_selector("#notice:not([hidden])")
        selection = waiting.finish()
        assert selection.ranking == ("g0c01", "g0c03", "g0c00")
        assert selection.decided_by == DecidedBy(Decider.PEOPLE, reviewers=("anonymous",), kept_judge_order=True,
                                                 judge_fallback=True)
        assert selection.decided_by_text == "reviewer anonymous confirmed the fallback order (not the judge's own ranking)"
        assert "judge's order" not in selection.decided_by_text
        ctx.store.save_selection(selection)
        assert ctx.store.load_selection(0).decided_by == selection.decided_by  # what is written keeps it
        proposal = json.loads((ctx.store.gen_dir(0) / hybrid.PROPOSAL_NAME).read_text())
        assert proposal["fallback"].startswith("the judge gave no valid full ranking")
        page.reload()
        page.wait_for_function("document.querySelector('#gen-status').textContent.includes('decided by')")
        assert "decided by reviewer anonymous confirmed the fallback order" in page.inner_text("#gen-status")
        assert page.evaluate(NO_NULL) and not errors, errors
    finally:
        if context is not None:
            context.close()
        waiting.ranker.close()


def test_a_judge_runs_verdict_says_what_the_fallback_gave_and_a_full_one_says_nothing(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance", feedback="judge",
                                                       judge_model="openai/fake-vision"))
    store.gen_dir(0).mkdir(parents=True, exist_ok=True)
    write_record(store.gen_dir(0) / "judge.json", _incomplete(["g0c00", "g0c01"]).to_dict())
    assert judge_view(store, 0)["fallback"] == "the judge gave no valid full ranking in 3 request(s) (placed 0 of 2)"
    full = Verdict(model="m", order=("g0c01", "g0c00"), reasons={}, summary="", complete=True, tries=1, errors=(),
                   images=2, shown=("g0c00", "g0c01"))
    write_record(store.gen_dir(0) / "judge.json", full.to_dict())
    assert judge_view(store, 0)["fallback"] == ""
    judged = DecidedBy(Decider.JUDGE, judge_model="m", judge_fallback=True)
    assert DecidedBy.from_dict(judged.to_dict()) == judged
    assert judged.describe() == "the judge (m), its order completed by the fallback order"
    assert DecidedBy(Decider.PEOPLE, reviewers=("ana",), kept_judge_order=False, judge_fallback=True).describe() == \
        "reviewer ana changed the fallback order (not the judge's own ranking)"
