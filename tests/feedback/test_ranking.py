"""The Ranking record: validation of every bad input, write-once storage, idempotent resubmission, and the waiting
protocol (woken by an in-process submit and by a file another process writes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from builders import evaluated, failed

from rewardsmith.config import RunConfig
from rewardsmith.feedback.ranking import (
    Ranking,
    RankingError,
    RankingWaitStopped,
    awaiting_generation,
    clear_awaiting,
    load_ranking,
    mark_awaiting,
    ranking_path,
    submit_ranking,
    validate_ranking,
    wait_for_ranking,
)
from rewardsmith.feedback.review.cli import parse_comments, rank_command
from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore

STATUSES = ("evaluated", "evaluated", "check_failed", "evaluated")  # Status values


def make_run(tmp_path, generations=1, statuses=STATUSES) -> RunStore:
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance", feedback="human"))
    for gen in range(generations):
        for index, status in enumerate(statuses):
            if status == "evaluated":
                store.save_candidate(evaluated(gen, index, 0.1 * index, success_rate=0.5))
            else:
                store.save_candidate(failed(gen, index, Status(status), "the check failed: reward_terms returned NaN"))
    return store


@pytest.fixture
def store(tmp_path):
    store = make_run(tmp_path)
    mark_awaiting(store, 0)
    return store


def good(**overrides) -> dict:
    return {"best": "g0c03", "worst": "g0c00", "comments": {"g0c03": "upright, smooth"},
            "generation_comment": "less cart motion", **overrides}


@pytest.mark.parametrize("data, message", [
    (good(best="g0c09"), "unknown candidate 'g0c09' in generation 0; its candidates: g0c00, g0c01, g0c02, g0c03"),
    (good(worst="g0c03"), "best and worst are both g0c03"),
    (good(best="g0c02"), "g0c02 cannot be ranked: it is check_failed (only evaluated candidates can be); "
                         "rankable candidates of generation 0: g0c00, g0c01, g0c03"),
    (good(comments={"g1c00": "x"}), "unknown candidate 'g1c00'"),
    (good(order=["g0c03", "g0c00"]), "the order must list every evaluated candidate; missing: g0c01"),
    (good(order=["g0c03", "g0c01", "g0c01", "g0c00"]), "more than once"),
    (good(order=["g0c01", "g0c03", "g0c00"]), "must start with the best and end with the worst"),
    (good(best=None), "best is missing"),
    (good(source="robot"), "unknown ranking source 'robot'"),
    (good(colour="red"), "unknown ranking field(s) colour"),
    (good(generation=3), "says generation 3 but was submitted for generation 0"),
    ("best is g0c03", "must be a JSON object"),
])
def test_bad_input_is_refused_with_a_clear_message(store, data, message):
    with pytest.raises(RankingError) as err:
        validate_ranking(store, 0, data)
    assert message in str(err.value)
    with pytest.raises(RankingError):
        submit_ranking(store, 0, data)
    assert not ranking_path(store, 0).exists()


def test_stale_generation_and_a_run_that_is_not_waiting(tmp_path):
    store = make_run(tmp_path, generations=2)
    with pytest.raises(RankingError, match="is not waiting for a ranking"):
        validate_ranking(store, 0, good())
    mark_awaiting(store, 1)
    with pytest.raises(RankingError, match=r"generation 0 is not the one awaiting a ranking \(generation 1 is\)"):
        submit_ranking(store, 0, good())
    with pytest.raises(RankingError, match="has no generation 5"):
        submit_ranking(store, 5, good())
    ranking = submit_ranking(store, 1, good(best="g1c03", worst="g1c00", comments={}))
    assert ranking.best == "g1c03" and awaiting_generation(store) is None
    clear_awaiting(store, 1)
    assert awaiting_generation(store) is None


def test_mark_awaiting_needs_two_evaluated_candidates(tmp_path):
    store = make_run(tmp_path, statuses=("evaluated", "train_failed"))
    with pytest.raises(RankingError, match="1 evaluated candidate"):
        mark_awaiting(store, 0)


def test_submit_writes_once_and_resubmitting_the_same_ranking_is_idempotent(store):
    ranking = submit_ranking(store, 0, good(order=["g0c03", "g0c01", "g0c00"]))
    saved = json.loads(ranking_path(store, 0).read_text())
    assert saved["best"] == "g0c03" and saved["order"] == ["g0c03", "g0c01", "g0c00"]
    assert saved["comments"] == {"g0c03": "upright, smooth"} and saved["source"] == "human" and saved["submitted_at"]
    assert load_ranking(store, 0) == ranking
    again = submit_ranking(store, 0, good(order=["g0c03", "g0c01", "g0c00"], comments={"g0c03": " upright, smooth "}))
    assert again == ranking  # the same ranking (and its first submission time), no error
    before = ranking_path(store, 0).read_text()
    with pytest.raises(RankingError, match="generation 0 is already ranked"):
        submit_ranking(store, 0, good(best="g0c01"))
    assert ranking_path(store, 0).read_text() == before


def test_best_and_worst_come_from_the_order_when_omitted(store):
    ranking = submit_ranking(store, 0, {"order": ["g0c01", "g0c03", "g0c00"]})
    assert (ranking.best, ranking.worst) == ("g0c01", "g0c00")


def test_record_round_trips(store):
    ranking = submit_ranking(store, 0, good())
    assert Ranking.from_dict(json.loads(json.dumps(ranking.to_dict()))) == ranking


def test_wait_wakes_when_another_thread_submits(store):
    got = {}
    waiter = threading.Thread(target=lambda: got.update(r=wait_for_ranking(store, 0, poll_s=30)))
    waiter.start()
    time.sleep(0.2)
    start = time.monotonic()
    submit_ranking(store, 0, good())
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert time.monotonic() - start < 2  # woken by the condition, not by the 30 s poll
    assert got["r"].best == "g0c03"


def test_wait_sees_a_ranking_written_by_another_process(store, tmp_path):
    script = (
        "import sys; from pathlib import Path; from rewardsmith.feedback.review.cli import rank_command; "
        "rank_command(Path(sys.argv[1]), 'g0c01', 'g0c03', comment=['g0c01=good', 'try harder'])"
    )
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", script, str(store.root)])
    try:
        ranking = wait_for_ranking(store, 0, poll_s=0.1, timeout_s=60)
    finally:
        assert proc.wait(timeout=60) == 0
    assert time.monotonic() - start < 60
    assert (ranking.best, ranking.worst) == ("g0c01", "g0c03")
    assert ranking.comments == {"g0c01": "good"} and ranking.generation_comment == "try harder"


def test_wait_stops_on_the_stop_event_and_on_timeout(store):
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(RankingWaitStopped, match="stopped waiting"):
        wait_for_ranking(store, 0, stop_event=stop, poll_s=0.05)
    with pytest.raises(RankingWaitStopped, match="after 0.1 s"):
        wait_for_ranking(store, 0, poll_s=0.05, timeout_s=0.1)


def test_rank_command(tmp_path):
    store = make_run(tmp_path, generations=2)
    with pytest.raises(RankingError, match="is not waiting for a ranking"):
        rank_command(store.root, "g0c03", "g0c00")
    mark_awaiting(store, 1)
    with pytest.raises(RankingError, match="not the one awaiting"):
        rank_command(store.root, "g0c03", "g0c00", generation=0)
    ranking = rank_command(store.root, "g1c03", "g1c00", order=["g1c03,g1c01", "g1c00"],
                           comment=["g1c03=best posture", "g1c03 = steady", "overall ok"])
    assert ranking.order == ("g1c03", "g1c01", "g1c00")
    assert ranking.comments == {"g1c03": "best posture\nsteady"} and ranking.generation_comment == "overall ok"
    assert parse_comments(["x=y"]) == ({}, "x=y")  # not a candidate id: a generation comment
