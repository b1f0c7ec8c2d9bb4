"""Reviewing from elsewhere (issue 16, item 6): off loopback, the page and every API and media route need the run's
secret token (403 without it or with a wrong one, telling nothing about the run); the token in the URL once becomes
a cookie the page's own requests carry, in a real browser too. On loopback nothing changes."""

from __future__ import annotations

import http.client
import json

import pytest
from test_review_page import CHROMIUM, CHROMIUM_ARGS, make_run

from rewardsmith.feedback.ranking import ranking_path, reviews_dir
from rewardsmith.feedback.review.server import ReviewServerError, serve

ROUTES = ("/", "/index.html", "/static/app.js", "/api/run", "/api/overview", "/api/generation/1",
          "/media/1/g1c00/video.mp4", "/media/1/g1c00/strip.png", "/no/such/page")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    store = make_run(tmp_path_factory.mktemp("remote"))
    server = serve(store, port=0, host="0.0.0.0")
    yield store, server
    server.close()


def request(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """From 127.0.0.1, with the Host a remote reviewer's browser would send."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": f"reviews.example:{server.port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_without_the_right_token_every_route_is_403_and_tells_nothing(remote):
    store, server = remote
    assert server.token and len(server.token) >= 40
    assert server.url == f"{server.address}?token={server.token}" and server.token not in server.address
    wrong = [None, "wrong", server.token[:-1], server.token + "x", ""]
    for path in ROUTES:
        for token in wrong:
            status, body, headers = request(server, "GET", path if token is None else f"{path}?token={token}")
            assert status == 403, (path, token, status)
            for secret in (store.root.name.encode(), b"g1c0", b"cartpole", b"SCALES", b"ranking"):
                assert secret not in body, (path, body)
            assert "Set-Cookie" not in headers
        status, _, _ = request(server, "GET", path, {"Cookie": f"rewardsmith_review_{server.port}=wrong"})
        assert status == 403
    body = json.dumps({"best": "g1c01", "worst": "g1c00", "reviewer": "mallory"}).encode()
    for path in ("/api/generation/1/ranking", "/api/generation/1/ranking?token=wrong"):
        status, _, _ = request(server, "POST", path, {"Content-Type": "application/json"}, body)
        assert status == 403
    assert not ranking_path(store, 1).exists() and not reviews_dir(store, 1).exists()


def test_the_token_once_then_a_cookie(remote):
    store, server = remote
    status, _, headers = request(server, "GET", f"/?token={server.token}")
    assert status == 303 and headers["Location"] == "/"  # the token leaves the address bar
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    status, body, _ = request(server, "GET", "/", jar)
    assert status == 200 and b"rewardsmith review" in body
    status, body, _ = request(server, "GET", "/api/run", jar)
    assert status == 200 and json.loads(body)["run"] == store.root.name
    status, body, _ = request(server, "GET", f"/api/generation/1?token={server.token}")  # or the token every time
    assert status == 200 and [c["id"] for c in json.loads(body)["candidates"]][0] == "g1c00"
    status, body, _ = request(server, "GET", "/media/1/g1c00/video.mp4", jar)
    assert status == 200 and body == (store.cand_dir(1, 0) / "video.mp4").read_bytes()
    assert "on_ranking_due" not in json.loads(request(server, "GET", "/api/run", jar)[1])["config"]


def test_the_page_works_in_a_browser_with_the_token_and_not_without(remote):
    store, server = remote
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run the README setup line", pytrace=False)
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{server.port}/"  # the server answers any Host once the token is right
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{base}?token={server.token}")
            page.wait_for_selector("body[data-ready='1']")
            assert page.url == base  # redirected: no token in the address bar
            assert page.locator(".card").count() == 4  # the API answered through the cookie
            page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)",
                                   timeout=15000)  # and so did the media route
            assert not errors, errors
            stranger = browser.new_page()  # another browser profile, without the token
            assert stranger.goto(base).status == 403
            assert store.root.name not in stranger.content()
        finally:
            browser.close()


def test_loopback_needs_no_token_and_a_foreign_address_is_one_line(tmp_path):
    store = make_run(tmp_path)
    with serve(store, port=0, host="localhost") as server:
        assert server.token is None and server.url == f"http://localhost:{server.port}/"
        status, _, _ = request(server, "GET", "/api/run")
        assert status == 403  # loopback keeps its Host check: a foreign Host is DNS rebinding
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/api/run")
        assert conn.getresponse().status == 200
        conn.close()
    with pytest.raises(ReviewServerError, match=r"cannot listen on 203\.0\.113\.7:0 .*give --review-host an address"):
        serve(store, port=0, host="203.0.113.7")
