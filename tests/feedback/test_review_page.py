"""The review page in a real browser (Debian's /usr/bin/chromium driven by Playwright): videos load and play (a
candidate's worst episode too, labelled, where its scores spread), a ranking with a comment is submitted and saved,
a bad ranking shows its error on the page; the media route refuses anything outside a candidate's videos and
strip."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import numpy as np
import pytest

from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.evaluate.film import film, thumbnail_strip
from rewardsmith.feedback.ranking import mark_awaiting, ranking_path
from rewardsmith.feedback.review.server import serve
from rewardsmith.records import Candidate, Evaluation, Film, FilmedEpisode, Status, Stop, TermStats, TrainResult
from rewardsmith.runs.store import RunStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = os.environ.get("REWARDSMITH_REVIEW_SCREENSHOT")  # a path: save a screenshot of the page there


SHOWN = FilmedEpisode(video="video.mp4", role="representative", episode=6, episodes=16, score=0.93, steps=500,
                      ended_early=False, success=True, frames=251)
WORST = FilmedEpisode(video="worst.mp4", role="worst", episode=2, episodes=16, score=0.1, steps=60, ended_early=True,
                      success=False, frames=31)
SPREAD = "a success split: 14 of 16 episodes reach the success threshold 0.9; the worst, episode 3, scores 0.1"


def make_run(root: Path, **config) -> RunStore:
    """Generation 0 (ranked earlier, read-only) and generation 1 awaiting a ranking: three evaluated candidates
    with real cartpole videos (g1c01 with its worst episode's too), one failed candidate. `config`: RunConfig
    settings beyond env, task and feedback."""
    store = RunStore.create(root, "run", RunConfig(env="cartpole", task="balance", feedback="human", **config))
    env = get_env("cartpole")
    t = np.arange(76) * 0.02
    for gen in (0, 1):
        for index in range(4):
            cid = Candidate.make_id(gen, index)
            evaluated = index < 3
            source = (f"SCALES = {{'upright': 1.0}}\n\ndef reward_terms(s, action):  # {cid}\n"
                      "    return {'upright': s['pole_upright']}\n")
            terms = {"upright": TermStats(scale=1.0, episode_sum=40.0 + index, per_step_mean=0.8, per_step_std=0.1)}
            store.save_candidate(Candidate(
                id=cid, generation=gen, index=index, status=Status.EVALUATED if evaluated else Status.CHECK_FAILED,
                reason=None if evaluated else "reward_terms returned NaN for term 'upright'",
                source=source, scales={"upright": 1.0},
                train=TrainResult(steps=20000, wall_s=4.2, steps_per_s=4762.0, curve=()) if evaluated else None,
                evaluation=Evaluation(episodes=16, fitness_mean=0.3 * index, fitness_std=0.05,
                                      success_rate=0.25 * index, return_mean=40.0 + index,
                                      episode_length_mean=120.0 + 10 * index, terms=terms) if evaluated else None,
                stop=Stop.HALVING if (gen, index) == (0, 0) else Stop.BUDGET,  # halving stopped g0c00 early
            ))
            if evaluated and gen == 1:
                qpos = np.stack([0.5 * np.sin(t * (index + 1)), 0.4 * np.sin(2 * t + index)], axis=1)
                film(env, qpos, 0.02, store.video_path(gen, index), width=160, height=160)
                thumbnail_strip(env, qpos, store.strip_path(gen, index), width=64, height=64)
            if evaluated and (gen, index) == (1, 1):
                film(env, qpos[:61], 0.02, store.worst_video_path(gen, index), width=160, height=160)
                cand = store.load_candidate(gen, index)
                assert cand is not None
                store.save_candidate(cand.replace(film=Film(video="video.mp4", strip="strip.png",
                                                            episodes=(SHOWN, WORST), spread=SPREAD)))
    ranked = {"generation": 0, "best": "g0c02", "worst": "g0c00", "order": None, "comments": {"g0c02": "steady"},
              "generation_comment": "", "source": "human", "submitted_at": "2026-01-01T00:00:00+00:00"}
    ranking_path(store, 0).write_text(json.dumps(ranked))
    mark_awaiting(store, 1)
    return store


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = make_run(tmp_path_factory.mktemp("review"))
    server = serve(store, port=0)
    yield store, server
    server.close()


def test_rank_a_generation_in_the_browser(served, browser):
    store, server = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#gen-picker").input_value() == "1"  # opens on the generation awaiting a ranking
    assert page.locator(".card").count() == 4
    assert page.locator("video").count() == 4  # three candidates' videos and g1c01's worst episode
    assert "reward_terms returned NaN" in page.locator(".card[data-id='g1c03']").inner_text()
    card = page.locator(".card[data-id='g1c01']")
    assert card.locator(".episode-label").inner_text() == \
        "representative episode 7 of 16 · score 0.93 · success · ran all 500 steps (closest to the median score)"
    worst = card.locator(".worst-film")
    assert worst.locator("figcaption").inner_text() == \
        "worst episode 3 of 16 · score 0.1 · not a success · ended early at step 60"
    assert worst.locator("figcaption").get_attribute("title") == f"shown because {SPREAD}"
    assert worst.locator("video").get_attribute("src") == "/media/1/g1c01/worst.mp4"
    assert page.locator(".worst-film").count() == 1 and page.locator(".episode-label").count() == 1

    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)", timeout=15000)
    durations = page.eval_on_selector_all("video", "vs => vs.map(v => v.duration)")
    assert all(np.isfinite(d) and d > 0 for d in durations), durations
    page.click("button.rate[data-rate='0.5']")
    page.click("#play-all")
    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.currentTime > 0.2)", timeout=15000)
    assert page.eval_on_selector_all("video", "vs => vs.map(v => v.playbackRate)") == [0.5] * 4
    assert page.eval_on_selector_all("video", "vs => vs.every(v => v.loop && !v.paused)")

    # a ranking the server refuses (a reviewer name it cannot use): its error appears on the page, nothing is saved
    page.fill("#reviewer", "@@")
    page.press("#reviewer", "Tab")  # the page asks for this reviewer's ranking: refused already
    page.wait_for_selector("#error:not([hidden])")
    page.check("input[name='best'][value='g1c02']")
    page.check("input[name='worst'][value='g1c00']")
    with page.expect_response(lambda r: r.url.endswith("/ranking")) as refused:
        page.click("#submit")
    assert refused.value.status == 400
    page.wait_for_function("document.querySelector('#submit').disabled === false")  # the answer is handled
    assert "reviewer name '@@' is not usable" in page.inner_text("#error")
    assert not ranking_path(store, 1).exists()
    page.fill("#reviewer", "")
    page.press("#reviewer", "Tab")
    page.wait_for_selector("body[data-reviewer='']")

    order = "els => els.map(e => e.dataset.id)"
    assert page.eval_on_selector_all("#order li", order) == ["g1c02", "g1c01", "g1c00"]  # picks move to the ends
    page.click("button[aria-label='move g1c01 up']")  # the ends of a hand-made order become best and worst
    assert page.eval_on_selector_all("#order li", order) == ["g1c01", "g1c02", "g1c00"]
    assert page.locator("input[name='best'][value='g1c01']").is_checked() and page.locator("#use-order").is_checked()
    page.click("button[aria-label='move g1c01 down']")
    assert page.locator("input[name='best'][value='g1c02']").is_checked()
    page.fill("textarea.comment[data-id='g1c02']", "keeps the pole up without drifting")
    page.fill("#gen-comment", "penalize cart speed")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    page.click("#submit")
    page.wait_for_selector("#notice:not([hidden])")
    assert page.locator("#error").is_hidden()
    saved = json.loads(ranking_path(store, 1).read_text())
    assert (saved["best"], saved["worst"], saved["source"]) == ("g1c02", "g1c00", "human")
    assert saved["order"] == ["g1c02", "g1c01", "g1c00"]
    assert saved["comments"] == {"g1c02": "keeps the pole up without drifting"}
    assert saved["generation_comment"] == "penalize cart speed"
    assert page.locator("#submit").is_hidden()  # ranked: read-only now
    assert page.locator("input[name='best']").first.is_disabled()

    page.select_option("#gen-picker", "0")  # an earlier generation, ranked: read-only with its ranking
    page.wait_for_selector(".card[data-id='g0c00']")
    assert page.locator("input[name='best'][value='g0c02']").is_checked()
    assert page.locator("textarea.comment[data-id='g0c02']").input_value() == "steady"
    assert page.locator("textarea.comment[data-id='g0c02']").is_disabled()
    assert not page_errors, page_errors
    page.close()


def _raw_get(server, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", f"127.0.0.1:{server.port}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_media_route_refuses_escapes_and_serves_ranges(served):
    store, server = served
    for path in ("/media/../config.json", "/media/1/../../config.json", "/media/1/g1c00/..%2f..%2f..%2fconfig.json",
                 "/media/1/g1c00/candidate.json", "/media/1/g1c00/%2e%2e", "/media/%2e%2e/g1c00/video.mp4",
                 "/media/0/g1c00/video.mp4", "/media/1/g1c03/video.mp4", "/media/1/%2Fetc%2Fpasswd/video.mp4",
                 "/static/../rewardsmith/ranking.py", "/media/1/cand_00/video.mp4",
                 "/media/1/g1c03/poster.png", "/media/0/g1c00/poster.png", "/media/1/g0c00/poster.png"):
        status, body, _ = _raw_get(server, path)
        assert status == 404, (path, status)
        assert b"SCALES" not in body and b"feedback" not in body
    link = store.cand_dir(1, 3) / "video.mp4"  # a symlink out of the run is refused even with an allowed name
    link.symlink_to(store.root / "config.json")
    try:
        assert _raw_get(server, "/media/1/g1c03/video.mp4")[0] == 404
    finally:
        link.unlink()

    size = (store.cand_dir(1, 0) / "video.mp4").stat().st_size
    status, body, headers = _raw_get(server, "/media/1/g1c00/video.mp4", {"Range": "bytes=100-199"})
    assert status == 206 and len(body) == 100 and headers["Content-Range"] == f"bytes 100-199/{size}"
    assert body == (store.cand_dir(1, 0) / "video.mp4").read_bytes()[100:200]
    status, body, headers = _raw_get(server, "/media/1/g1c00/video.mp4", {"Range": "bytes=-10"})
    assert status == 206 and len(body) == 10
    status, _, headers = _raw_get(server, "/media/1/g1c00/video.mp4", {"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    status, body, headers = _raw_get(server, "/media/1/g1c00/video.mp4")
    assert status == 200 and len(body) == size and headers["Accept-Ranges"] == "bytes"
    status, body, headers = _raw_get(server, "/media/1/g1c01/worst.mp4")
    assert status == 200 and body == store.worst_video_path(1, 1).read_bytes() and headers["Content-Type"] == "video/mp4"
    assert _raw_get(server, "/media/1/g1c00/worst.mp4")[0] == 404  # g1c00 has none


def test_api_refuses_foreign_hosts_and_bad_rankings(served):
    store, server = served
    status, _, _ = _raw_get(server, "/api/run", {})
    assert status == 200
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/run", headers={"Host": "evil.example:80"})
    assert conn.getresponse().status == 403
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/api/generation/1/ranking", body=b'{"best": "g1c01", "worst": "g1c00"}',
                 headers={"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert conn.getresponse().status == 403  # a form on another web site cannot submit
    conn.close()
    request = Request(f"{server.url}api/generation/0/ranking", method="POST",
                      data=b'{"best": "g0c01", "worst": "g0c00"}', headers={"Content-Type": "application/json"})
    with pytest.raises(HTTPError) as err:
        urlopen(request, timeout=10)
    assert err.value.code == 400 and "already ranked" in json.loads(err.value.read())["error"]
    detail = json.loads(urlopen(f"{server.url}api/generation/0", timeout=10).read())
    assert detail["ranking"]["best"] == "g0c02"
    assert [c["rankable"] for c in detail["candidates"]] == [True, True, True, False]
    assert [c["status_text"] for c in detail["candidates"]][:2] == ["stopped by halving at 20,000 steps", "evaluated"]
