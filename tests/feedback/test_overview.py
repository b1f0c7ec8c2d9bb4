"""The review page's run overview (issue 14) and blind review (issue 16), in a real browser (Debian's
/usr/bin/chromium through Playwright) and over HTTP: every candidate of a two-generation run with its status, task
score, failure reason and LLM cost, a fitness chart with one point per scored candidate; a blind page and its JSON
carry no score at all; the overview of a run still in progress."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.request import urlopen

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.feedback.review.cli import review_command
from rewardsmith.feedback.review.server import serve
from rewardsmith.feedback.review.views import generation_detail
from rewardsmith.records import Candidate, Film, FilmedEpisode, Selection, Status
from rewardsmith.runs.lock import run_lock
from rewardsmith.runs.store import RunStore, write_record

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_v1"
SCREENSHOT = os.environ.get("REWARDSMITH_OVERVIEW_SCREENSHOT")  # a path: save a screenshot of the overview there
TRAIN_NAN = "training stopped: the reward was NaN at step 1,024"
# the run's task scores and success rates (run_v1's two candidates, then generation 1's two evaluated ones)
FITNESS = {"g0c00": 0.08324999999999999, "g0c01": 0.08374999999999999, "g1c00": 0.613579, "g1c01": 0.472918}
SUCCESS = {"g1c00": 0.3125, "g1c01": 0.4375}
COST = {0: 0.0123, 1: 0.0211 + 0.0045}


def _usage(store: RunStore, gen: int, round_index: int, cost: float) -> None:
    write_record(store.usage_path(gen, round_index), {"prompt_tokens": 1200, "completion_tokens": 800,
                                                      "cost_usd": cost, "requests": 1, "by_model": {}})


def _two_generations(root: Path) -> RunStore:
    """Generation 0 is the stored run_v1 (two evaluated candidates, schema 1, selected); generation 1 is built with
    tests/builders.py: two evaluated, one refused by the check, one whose training failed; LLM usage in both."""
    shutil.copytree(FIXTURE, root / "run")
    store = RunStore.open(root / "run")
    store.save_config(dataclasses.replace(store.config(), models=("openai/fake",)))
    _usage(store, 0, 0, COST[0])
    for cand in (evaluated(1, 0, FITNESS["g1c00"], success_rate=SUCCESS["g1c00"]),
                 evaluated(1, 1, FITNESS["g1c01"], success_rate=SUCCESS["g1c01"]),
                 failed(1, 2), failed(1, 3, Status.TRAIN_FAILED, TRAIN_NAN)):
        store.save_candidate(cand)
    _usage(store, 1, 0, 0.0211)
    _usage(store, 1, 1, 0.0045)
    store.save_selection(Selection(generation=1, mode="metrics", ranking=("g1c00", "g1c01"),
                                   fitness={k: v for k, v in FITNESS.items() if k.startswith("g1")}, best="g1c00",
                                   worst="g1c01", best_overall="g1c00", best_overall_fitness=FITNESS["g1c00"],
                                   failed={"g1c02": failed(1, 2).reason, "g1c03": TRAIN_NAN}))
    store.save_result({"best": "g1c00", "fitness": FITNESS["g1c00"]})
    store.work_dir(1, 0).mkdir(parents=True, exist_ok=True)  # trained on a Ray node, on its second attempt
    (store.work_dir(1, 0) / "placement.json").write_text(json.dumps({"attempts": [
        {"attempt": 1, "node": "3a5e8214284b", "ip": "10.0.0.7", "outcome": "worker lost: NodeDiedError"},
        {"attempt": 2, "node": "77aa01bc9d2e", "ip": "10.0.0.8", "outcome": "ok"}]}))
    return store


def _score_texts() -> list[str]:
    """Every way a score could appear: as JSON writes it, and as the page writes it (3 significant digits, %)."""
    texts = [json.dumps(v) for v in (*FITNESS.values(), *SUCCESS.values())]
    return texts + [f"{v:.3g}" for v in FITNESS.values()] + [f"{round(v * 100)}%" for v in SUCCESS.values()]


def _open_overview(browser, server):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    page.click("#tab-overview")
    page.wait_for_selector("body[data-overview]")
    assert page.locator("#view-overview").is_visible() and page.locator("#view-generation").is_hidden()
    return page, errors


def _cells(page, cid: str) -> list[str]:
    return [t.strip() for t in page.locator(f"tr.cand-row[data-id='{cid}'] td").all_inner_texts()]


def test_overview_lists_every_candidate_with_status_score_cost_and_chart(tmp_path, browser):
    store = _two_generations(tmp_path)
    with serve(store, 0) as server:
        page, errors = _open_overview(browser, server)
        ids = page.eval_on_selector_all("tr.cand-row", "rows => rows.map(r => r.dataset.id)")
        assert ids == ["g0c00", "g0c01", "g1c00", "g1c01", "g1c02", "g1c03"]
        head = page.locator("#ov-table thead th").all_inner_texts()
        assert head == ["candidate", "status", "task score", "success", "source", "train s", "ran on", "failure reason"]
        assert _cells(page, "g1c00")[:4] == ["g1c00", "evaluated", "0.614", "31%"]
        assert _cells(page, "g1c00")[6] == "node 77aa01bc9d2e (10.0.0.8), attempt 2" and _cells(page, "g1c01")[6] == ""
        assert _cells(page, "g1c01")[:4] == ["g1c01", "evaluated", "0.473", "44%"]
        assert _cells(page, "g0c00")[:4] == ["g0c00", "evaluated", "0.0832", "0%"]
        assert _cells(page, "g0c01")[2] == "0.0837"
        assert _cells(page, "g1c02")[1:4] == ["check_failed", "—", "—"]
        assert _cells(page, "g1c02")[-1] == failed(1, 2).reason
        assert _cells(page, "g1c03")[1:4] == ["train_failed", "—", "—"] and _cells(page, "g1c03")[-1] == TRAIN_NAN

        gens = page.locator("tr.gen-row").all_inner_texts()
        assert len(gens) == 2
        assert "selected g0c01 (0.0837)" in gens[0] and "LLM cost $0.0123" in gens[0]
        assert "4 candidates (2 evaluated, 2 failed)" in gens[1] and "selected g1c00 (0.614)" in gens[1]
        assert "LLM cost $0.0256" in gens[1]
        assert page.inner_text("#ov-table tfoot") == "Total LLM cost $0.0379"
        assert "finished" in page.inner_text("#ov-summary") and "$0.0379" in page.inner_text("#ov-summary")

        # the chart: one point per scored candidate, one marker per generation on the selected-best line
        points = page.eval_on_selector_all("#ov-chart circle.point", "cs => cs.map(c => [c.dataset.id, +c.getAttribute('cy')])")
        assert sorted(cid for cid, _ in points) == sorted(FITNESS)
        height = dict(points)
        assert height["g1c00"] < height["g1c01"] < height["g0c01"] < height["g0c00"]  # higher score, higher up
        assert page.locator("#ov-chart circle.best-point").count() == 2
        assert page.locator("#ov-chart polyline.best-line").count() == 1
        if SCREENSHOT:
            page.screenshot(path=SCREENSHOT, full_page=True)

        page.click("tr.cand-row[data-id='g1c03'] button")  # a candidate's id opens its generation
        page.wait_for_selector(".card[data-id='g1c03']")
        assert page.locator("#view-generation").is_visible() and page.locator("#gen-picker").input_value() == "1"
        assert not errors, errors
        page.close()


def _walk(data, keys: set, numbers: set) -> None:
    if isinstance(data, dict):
        keys.update(data)
        for value in data.values():
            _walk(value, keys, numbers)
    elif isinstance(data, list):
        for value in data:
            _walk(value, keys, numbers)
    elif isinstance(data, float):
        numbers.add(data)


def test_blind_review_sends_and_shows_no_score(tmp_path, browser):
    store = _two_generations(tmp_path)
    scores = _score_texts()
    with serve(store, 0, blind=True) as server:  # what `rewardsmith review RUN --blind` serves
        assert server.blind
        page, errors = _open_overview(browser, server)
        assert page.locator("#ov-blind").is_visible() and page.locator("#ov-chart-box").is_hidden()
        assert page.locator("#ov-chart svg, #ov-chart circle").count() == 0
        assert page.locator("#ov-table thead th").all_inner_texts() == ["candidate", "status", "source", "train s",
                                                                         "ran on", "failure reason"]
        assert page.locator("tr.cand-row").count() == 6
        assert _cells(page, "g1c03")[1] == "train_failed" and _cells(page, "g1c03")[-1] == TRAIN_NAN
        overview_html = page.content()
        page.click("#tab-generation")
        page.select_option("#gen-picker", "1")
        page.wait_for_selector(".card[data-id='g1c03']")
        card = page.inner_text(".card[data-id='g1c00']")
        assert "episode length" in card and "task score" not in card and "success rate" not in card
        assert TRAIN_NAN in page.inner_text(".card[data-id='g1c03']")  # failure reasons stay
        assert "blind review" in page.inner_text("#run-info")
        for html in (overview_html, page.content()):
            found = [text for text in scores if text in html]
            assert not found, f"scores on the blind page: {found}"
        assert not errors, errors
        page.close()

        for path in ("api/run", "api/overview", "api/generation/0", "api/generation/1"):
            body = urlopen(server.url + path, timeout=10).read().decode()
            found = [text for text in scores if text in body]
            assert not found, f"{path} sends scores: {found}"
            keys: set = set()
            numbers: set = set()
            _walk(json.loads(body), keys, numbers)
            assert not keys & {"fitness", "fitness_mean", "fitness_std", "success_rate", "success", "best_fitness",
                               "best_overall_fitness", "chart"}, (path, keys)
            assert not numbers & {*FITNESS.values(), *SUCCESS.values()}, path
        overview = json.loads(urlopen(server.url + "api/overview", timeout=10).read())
        assert [c["status"] for c in overview["candidates"]] == ["evaluated"] * 4 + ["check_failed", "train_failed"]
        assert overview["total_cost_usd"] == pytest.approx(sum(COST.values()))  # the cost is no score: it stays

    # a run made with --blind stays blind however its page is opened (evolve's own server, plain `review`)
    store.save_config(dataclasses.replace(store.config(), blind=True))
    assert RunStore.open(store.root).config().blind
    with serve(store, 0) as server:
        overview = json.loads(urlopen(server.url + "api/overview", timeout=10).read())
        assert server.blind and overview["blind"] and "chart" not in overview
        assert "fitness" not in overview["candidates"][0]
    said: list[str] = []
    stop = threading.Event()
    stop.set()
    review_command(store.root, 0, echo=said.append, stop=stop)
    assert "blind review: the page shows no task score or success rate" in said


def test_overview_of_a_run_still_in_progress(tmp_path, browser):
    """Generation 1 has one evaluated candidate, one waiting for training, one not checked yet and one refused;
    generation 2 has just begun (no candidate yet); the evolve process holds the run's lock."""
    store = RunStore.create(tmp_path, "live", RunConfig(env="cartpole", task="balance", models=("openai/fake",)))
    store.save_candidate(evaluated(0, 0, 0.25))
    store.save_candidate(evaluated(0, 1, 0.5))
    store.save_selection(Selection(generation=0, mode="metrics", ranking=("g0c01", "g0c00"),
                                   fitness={"g0c00": 0.25, "g0c01": 0.5}, best="g0c01", worst="g0c00",
                                   best_overall="g0c01", best_overall_fitness=0.5, failed={}))
    _usage(store, 0, 0, 0.01)
    store.save_candidate(evaluated(1, 0, 0.375))
    store.save_candidate(Candidate(id="g1c01", generation=1, index=1, status=Status.CHECKED, source="SCALES = {}"))
    store.save_candidate(Candidate(id="g1c02", generation=1, index=2, status=Status.PENDING))
    store.save_candidate(failed(1, 3))
    _usage(store, 1, 0, 0.02)
    store.gen_dir(2).mkdir()
    with serve(store, 0) as server:
        overview = json.loads(urlopen(server.url + "api/overview", timeout=10).read())
        assert overview["state"] == "stopped"  # nobody holds the lock: an interrupted run
        assert [g["state"] for g in overview["generations"]] == ["selected", "not finished", "not finished"]
        with run_lock(store):  # as the evolve that serves its own page does
            overview = json.loads(urlopen(server.url + "api/overview", timeout=10).read())
            assert overview["state"] == "running"
            assert [g["state"] for g in overview["generations"]] == ["selected", "in progress", "in progress"]
            rows = {c["id"]: (c["status"], c["fitness"]) for c in overview["candidates"]}
            assert rows == {"g0c00": ("evaluated", 0.25), "g0c01": ("evaluated", 0.5), "g1c00": ("evaluated", 0.375),
                            "g1c01": ("checked", None), "g1c02": ("pending", None), "g1c03": ("check_failed", None)}
            assert [(g["gen"], g["candidates"], g["cost_usd"]) for g in overview["generations"]] == [
                (0, 2, 0.01), (1, 4, 0.02), (2, 0, 0.0)]
            assert overview["total_cost_usd"] == pytest.approx(0.03)
            assert len(overview["chart"]["points"]) == 3
            # generation 1 has selected nothing yet: no "selected best" for it (its best point so far is no pick)
            assert overview["chart"]["best"] == [{"gen": 0, "fitness": 0.5}]

            page, errors = _open_overview(browser, server)
            assert "in progress" in page.inner_text("#ov-summary")
            assert _cells(page, "g1c01")[1:3] == ["checked", "—"] and _cells(page, "g1c02")[1] == "pending"
            assert "no candidate yet" in page.inner_text("#ov-table")
            assert page.locator("#ov-chart circle.point").count() == 3
            store.save_candidate(evaluated(1, 1, 0.125))  # training finished: the next poll shows it
            page.evaluate("poll()")
            page.wait_for_function("document.querySelectorAll('#ov-chart circle.point').length === 4", timeout=5000)
            assert _cells(page, "g1c01")[1:3] == ["evaluated", "0.125"]
            assert not errors, errors
            page.close()


class _Stop(Exception):
    pass


def test_blind_is_an_evolve_and_a_review_flag_and_the_run_keeps_it(tmp_path, monkeypatch, capsys):
    """`evolve --blind` records it in config.json (so its own page, a resume and `review` keep it), `evolve --resume
    RUN --blind` turns it on for a run, and `review RUN --blind` serves a blind page; the evolve loop itself is
    stubbed out (only what the command line makes of the flag is checked here)."""
    from typer.testing import CliRunner

    import rewardsmith.evolve
    import rewardsmith.feedback.review.cli
    from rewardsmith.cli.app import app

    seen: list[bool] = []

    def fake_evolve(store, cfg, *args):
        seen.append(store.config().blind)
        raise _Stop

    monkeypatch.setattr(rewardsmith.evolve, "evolve", fake_evolve)
    runner = CliRunner()
    result = runner.invoke(app, ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--feedback", "human", "--blind",
                                 "--review-port", "0", "--out", str(tmp_path / "runs")])  # --blind needs a review page
    assert isinstance(result.exception, _Stop) and seen == [True], result.output
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "config.json").read_text())["blind"] is True

    plain = RunStore.create(tmp_path, "plain", RunConfig(env="cartpole", task="balance", feedback="human",
                                                         review_port=0))
    assert not plain.config().blind
    result = runner.invoke(app, ["evolve", "--resume", str(plain.root), "--blind"])
    assert isinstance(result.exception, _Stop) and seen == [True, True], result.output
    assert plain.config().blind

    served: list[tuple] = []
    monkeypatch.setattr(rewardsmith.feedback.review.cli, "review_command",
                        lambda run, port, echo, blind, host: served.append((run, port, blind, host)))
    result = runner.invoke(app, ["review", str(run), "--port", "0", "--blind"])
    assert result.exit_code == 0 and served == [(run, 0, True, "127.0.0.1")], result.output
    result = runner.invoke(app, ["review", str(run), "--host", "0.0.0.0"])  # as evolve's --review-host
    assert result.exit_code == 0 and served[-1] == (run, 8765, False, "0.0.0.0"), result.output
    with pytest.raises(SystemExit) as stop:  # through the command's one-line errors, as a user runs it
        app(["review", str(run), "--host", ""], prog_name="rewardsmith")
    assert stop.value.code == 2 and "--host '' is not a host name or address" in capsys.readouterr().err


def test_a_blind_page_says_which_episodes_the_films_show_without_their_scores(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    shown = FilmedEpisode(video="video.mp4", role="representative", episode=6, episodes=16, score=0.777, steps=500,
                          ended_early=False, success=True, frames=251)
    low = dataclasses.replace(shown, video="worst.mp4", role="worst", episode=2, score=0.111, steps=60,
                              ended_early=True, success=False, frames=31)
    film = Film(video="video.mp4", strip=None, episodes=(shown, low), spread="a success split: ... scores 0.111")
    store.save_candidate(evaluated(0, 0, 0.5).replace(film=film))
    seen = generation_detail(store, 0)["candidates"][0]["film"]
    assert seen == {"episodes": [dataclasses.asdict(shown), dataclasses.asdict(low)], "spread": film.spread}
    blind = generation_detail(store, 0, blind=True)["candidates"][0]["film"]
    assert blind["spread"] is None and [e["episode"] for e in blind["episodes"]] == [6, 2]
    assert all("score" not in e and "success" not in e for e in blind["episodes"])
    assert [e["ended_early"] for e in blind["episodes"]] == [False, True]  # behaviour, which the film shows
