"""The review server under hostile or careless input, over real HTTP: every bad request is refused with a status
and a message saying why, nothing but a valid ranking is ever written, and two tabs submitting at once record
exactly one ranking."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.feedback.ranking import load_ranking, mark_awaiting, ranking_path
from rewardsmith.feedback.review.server import MAX_BODY, serve
from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore

PATH = "/api/generation/0/ranking"
GOOD = {"best": "g0c01", "worst": "g0c00"}


@pytest.fixture()
def served(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance", feedback="human"))
    for index in range(3):
        store.save_candidate(evaluated(0, index, 0.1 * index))
    store.save_candidate(failed(0, 3, Status.CHECK_FAILED))
    mark_awaiting(store, 0)
    server = serve(store, 0)
    yield store, server
    server.close()


def post(server, body: bytes, headers: dict | None = None, path: str = PATH) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{server.port}", "Content-Type": "application/json",
                "Origin": f"http://127.0.0.1:{server.port}", "Content-Length": str(len(body)), **(headers or {})}
        for key, value in sent.items():
            if value is not None:
                conn.putheader(key, value)
        conn.endheaders()
        if len(body) <= MAX_BODY:
            conn.send(body)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def js(data) -> bytes:
    return json.dumps(data).encode()


HOSTILE = [
    ("malformed JSON", b'{"best": "g0c01", "worst": ', {}, 400, "not valid JSON"),
    ("not UTF-8", b'{"best": "\xff"}', {}, 400, "not valid JSON"),
    ("JSON nested too deep", b"[" * 100_000 + b"]" * 100_000, {}, 400, "not valid JSON"),
    ("a number too long to parse", b'{"best": ' + b"9" * 5000 + b"}", {}, 400, "not valid JSON"),
    ("a JSON list", js([GOOD]), {}, 400, "a ranking must be a JSON object"),
    ("an empty body", b"", {}, 400, "a ranking must be a JSON object"),
    ("a body over the limit", b"x" * (MAX_BODY + 1), {}, 413, "too large"),
    ("no Content-Length", b"", {"Content-Length": None}, 400, "a ranking must be a JSON object"),
    ("a negative Content-Length", b"", {"Content-Length": "-5"}, 413, "too large"),
    ("form encoding", b"best=g0c01&worst=g0c00", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     "application/json"),
    ("a non-loopback Host", js(GOOD), {"Host": "evil.example"}, 403, "wrong Host header"),
    ("a rebinding Host with the right port", js(GOOD), {"Host": "attacker.test:{port}"}, 403, "wrong Host header"),
    ("no Host", js(GOOD), {"Host": None}, 403, "wrong Host header"),
    ("a cross-origin POST", js(GOOD), {"Origin": "http://evil.example"}, 403, "only be submitted from the review page"),
    ("a null Origin (sandboxed frame)", js(GOOD), {"Origin": "null"}, 403, "only be submitted from the review page"),
    ("an unknown id", js({"best": "g0c07", "worst": "g0c00"}), {}, 400, "unknown candidate 'g0c07' in generation 0"),
    ("an id of another generation", js({"best": "g1c01", "worst": "g0c00"}), {}, 400, "unknown candidate 'g1c01'"),
    ("a failed candidate", js({"best": "g0c03", "worst": "g0c00"}), {}, 400, "g0c03 cannot be ranked"),
    ("best equals worst", js({"best": "g0c01", "worst": "g0c01"}), {}, 400, "pick two different candidates"),
    ("a duplicate id in the order", js({**GOOD, "order": ["g0c01", "g0c01", "g0c00"]}), {}, 400, "more than once"),
    ("an order missing one", js({**GOOD, "order": ["g0c01", "g0c00"]}), {}, 400, "must list every evaluated"),
    ("an unknown field", js({**GOOD, "admin": True}), {}, 400, "unknown ranking field(s) admin"),
    ("a comment that is not text", js({**GOOD, "comments": {"g0c01": ["x"]}}), {}, 400, "must be text"),
    ("a generation that is not waiting", js(GOOD), {}, 400, "no generation 5", "/api/generation/5/ranking"),
    ("an unknown route", js(GOOD), {}, 404, "not found", "/api/generation/0/rankings"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_hostile_request_is_refused_with_a_message_and_writes_nothing(served, case):
    store, server = served
    _, body, headers, status, words, *path = case
    headers = {k: (v.format(port=server.port) if isinstance(v, str) else v) for k, v in headers.items()}
    got, answer = post(server, body, headers, *path)
    assert got == status, answer
    assert words in answer["error"]
    assert load_ranking(store, 0) is None and not ranking_path(store, 0).exists()
    assert post(server, js(GOOD))[0] == 200, "the server still answers after it"


def test_two_tabs_submitting_at_once_record_one_ranking(served):
    store, server = served
    rankings = [{"best": "g0c01", "worst": "g0c00", "comments": {"g0c01": "tab one"}},
                {"best": "g0c02", "worst": "g0c00", "comments": {"g0c02": "tab two"}}] * 4
    start = threading.Barrier(len(rankings))
    answers: list[tuple[int, dict]] = [None] * len(rankings)  # type: ignore[list-item]

    def tab(i: int) -> None:
        start.wait()
        answers[i] = post(server, js(rankings[i]))

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(len(rankings))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    saved = load_ranking(store, 0)
    assert saved is not None
    winner = next(r for r in rankings[:2] if r["best"] == saved.best)
    for sent, (status, answer) in zip(rankings, answers, strict=True):
        if sent == winner:  # the same ranking again is answered with the saved one
            assert status == 200 and answer["best"] == saved.best
        else:
            assert status == 400 and "already ranked" in answer["error"] and "never overwritten" in answer["error"]
    assert json.loads(ranking_path(store, 0).read_text())["comments"] == winner["comments"]
    assert not list(ranking_path(store, 0).parent.glob(".*.tmp")), "no temporary files left behind"
