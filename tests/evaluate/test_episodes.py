"""Which evaluation episodes a film shows (no training, no rendering): the representative is the episode closest to
the median score (ties: the lower index), the worst is filmed too when the spread is large (a success split, a gap
of more than half the success threshold, an early end the representative does not share); the end card's words
and colour; the mark drawn into a frame; the trace as the jobs write it and the parent reads it back."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.env.task import Task
from rewardsmith.evaluate.episodes import EpisodePick, choose, end_mark, filmed_episode, representative, worst
from rewardsmith.evaluate.mark import FAILURE, NEUTRAL, SUCCESS, Mark
from rewardsmith.evaluate.trace import TraceError, read_trace
from rewardsmith.train.rollouts import pack_trace

KNEEL = Task(name="kneel", description="kneel", episode_steps=200, train_steps=1, fitness=lambda s, xp: 0.0,
             success_threshold=0.5)
NO_THRESHOLD = Task(name="run", description="run", episode_steps=200, train_steps=1, fitness=lambda s, xp: 0.0)
FULL = [200] * 16


def test_the_representative_is_closest_to_the_median_score():
    assert representative([0.2, 0.8, 0.5, 0.6, 0.4]) == 2  # median 0.5
    assert representative([0.25, 0.5, 1.0, 0.0]) == 0  # median 0.375: 0.25 and 0.5 are as close; the lower index
    assert representative([None, 0.9, 0.1, 0.5]) == 3  # a score that is not finite is not in the median
    assert representative([None, None]) == 0 and representative([]) == 0


def test_the_worst_is_the_lowest_score_and_a_blown_up_episode_is_lower_still():
    assert worst([0.5, 0.1, 0.1, 0.9]) == 1
    assert worst([0.5, 0.1, None, 0.9]) == 2


def test_a_success_split_films_the_worst_episode():
    """g1c01 in issue 24: 14 of 16 episodes kneel, 2 fall (its 0.875 success rate)."""
    scores = [0.8] * 14 + [0.3, 0.2]
    choice = choose(scores, FULL, KNEEL)
    assert (choice.representative, choice.worst) == (0, 15)
    assert choice.spread == "a success split: 14 of 16 episodes reach the success threshold 0.5; the worst, " \
                           "episode 16, scores 0.2"


@pytest.mark.parametrize("scores, large", [
    ([0.45, 0.4, 0.1], True),  # none succeeds, but 0.3 apart: more than half the threshold (0.25)
    ([0.95, 0.9, 0.6], True),  # all succeed, 0.3 apart
    ([0.9, 0.8, 0.7], False),  # all succeed, 0.1 apart: the same behaviour
    ([0.05, 0.02, 0.0], False),  # nothing learned: a spread of noise
])
def test_a_gap_of_more_than_half_the_success_threshold_films_the_worst(scores, large):
    choice = choose(scores, [200] * len(scores), KNEEL)
    assert (choice.worst is not None) is large
    if large:
        assert "more than 0.5 of the success threshold 0.5" in (choice.spread or "")


def test_a_task_without_a_threshold_measures_the_gap_against_the_largest_score():
    assert choose([10.0, 9.0, 4.0], [200] * 3, NO_THRESHOLD).worst is None  # 5 below: exactly half, not more
    choice = choose([10.0, 9.0, 3.0], [200] * 3, NO_THRESHOLD)
    assert choice.worst == 2 and "more than 0.5 of the largest episode score" in (choice.spread or "")


def test_an_early_end_the_representative_does_not_share_films_the_worst():
    choice = choose([0.8, 0.75, 0.7], [200, 200, 150], KNEEL)
    assert choice.worst == 2
    assert choice.spread == "the worst episode (3) ended early at step 150 of 200; the representative ran all 200"
    assert choose([0.8, 0.75, 0.7], [150, 150, 150], KNEEL).worst is None  # every episode ends early: shared


def test_no_worst_film_for_one_episode_or_without_scores():
    assert choose([0.9], [200], KNEEL) == EpisodePick(0, None, None)
    assert choose([], FULL, KNEEL).representative == 0 and choose([], FULL, KNEEL).worst is None
    blown = choose([0.8, 0.7, None], [200, 200, 12], KNEEL)
    assert blown.worst == 2 and "not finite" in (blown.spread or "")


def test_the_end_card_says_which_episode_its_score_and_how_it_ended():
    scores, lengths = [0.8] * 14 + [0.3, 0.2], [200] * 15 + [113]
    fell = filmed_episode("worst", 15, scores, lengths, KNEEL, "worst.mp4", frames=58)
    assert (fell.episode, fell.episodes, fell.score, fell.steps, fell.ended_early, fell.success, fell.frames) == \
        (15, 16, 0.2, 113, True, False, 58)
    assert end_mark(fell, KNEEL) == Mark(("worst episode 16 of 16", "NOT A SUCCESS: score 0.2 (threshold 0.5)",
                                          "ENDED EARLY: terminated at step 113 of 200"), FAILURE)
    kept = filmed_episode("representative", 0, scores, lengths, KNEEL, "video.mp4")
    assert end_mark(kept, KNEEL) == Mark(("representative episode 1 of 16", "SUCCESS: score 0.8 (threshold 0.5)",
                                          "ran all 200 steps"), SUCCESS)
    # blind review hides scores and successes; the early end is behaviour the film shows anyway
    assert end_mark(fell, KNEEL, blind=True) == Mark(("worst episode 16 of 16",
                                                      "ENDED EARLY: terminated at step 113 of 200"), NEUTRAL)
    alone = filmed_episode("played", 0, [3.2], [200], NO_THRESHOLD, "play.mp4")
    assert alone.success is None and end_mark(alone, NO_THRESHOLD).lines == ("the episode", "score 3.2",
                                                                              "ran all 200 steps")


def test_the_mark_is_a_border_and_words_drawn_into_a_copy_of_the_frame():
    frame = np.full((240, 320, 3), 90, dtype=np.uint8)
    marked = Mark(("NOT A SUCCESS: score 0.2", "ENDED EARLY"), FAILURE).draw(frame)
    assert marked.shape == frame.shape and marked.dtype == np.uint8 and (frame == 90).all()  # the frame is kept
    edge = Mark((), FAILURE).border(240, 320)
    for border in (marked[:edge], marked[-edge:], marked[:, :edge], marked[:, -edge:]):
        assert (border == FAILURE).all()
    band = marked[160:-edge, edge:-edge]
    assert (band > 200).all(axis=-1).sum() > 50  # white letters
    assert (band < 90).all(axis=-1).sum() > 1000  # on a shaded band
    assert (marked[edge:120, edge:-edge] == 90).all()  # the scene above stays as it was


def test_a_trace_holds_every_episode_to_its_own_end(tmp_path):
    qpos = np.arange(3 * 6 * 2, dtype=np.float64).reshape(3, 6, 2)  # 3 episodes, start + 5 steps, nq 2
    packed = pack_trace(qpos, np.array([5, 2, 1]), 0.02)
    assert packed["qpos"].shape == (3, 6, 2) and packed["lengths"].tolist() == [5, 2, 1]
    assert (packed["qpos"][1, 3:] == qpos[1, 2]).all()  # after its end an episode holds its last state
    np.savez(tmp_path / "trace.npz", **packed)
    trace = read_trace(tmp_path / "trace.npz", max_steps=5)
    assert trace.episodes == 3 and trace.dt == 0.02
    assert (trace.episode(0) == qpos[0]).all() and (trace.episode(1) == qpos[1, :3]).all()
    assert trace.episode(2).shape == (2, 2)  # terminated on its first step: the start and that step


def test_a_trace_keeps_velocities_and_sensors_padded_like_positions(tmp_path):
    qpos = np.random.default_rng(0).normal(size=(2, 4, 3))
    qvel, sensors = qpos[..., :2] * 2, qpos * 3
    packed = pack_trace(qpos, np.array([3, 1]), 0.02, qvel=qvel, sensordata=sensors)
    np.savez(tmp_path / "trace.npz", **packed)
    trace = read_trace(tmp_path / "trace.npz", max_steps=3)
    assert trace.qvel is not None and trace.sensordata is not None
    np.testing.assert_array_equal(trace.qvel[0], qvel[0])
    assert (trace.sensordata[1, 2:] == sensors[1, 1]).all()  # after its end an episode holds its last state
    np.savez(tmp_path / "positions.npz", qpos=qpos, lengths=np.array([3, 1]), dt=0.02)
    assert read_trace(tmp_path / "positions.npz", max_steps=3).qvel is None


def test_a_trace_from_before_every_episode_was_kept_is_its_first_episode_whole(tmp_path):
    np.savez(tmp_path / "old.npz", qpos=np.zeros((1, 61, 2)), dt=0.02)
    trace = read_trace(tmp_path / "old.npz", max_steps=500)
    assert trace.episodes == 1 and trace.episode(0).shape == (61, 2)


@pytest.mark.parametrize("arrays, error", [
    ({"qpos": np.zeros((2, 6, 2)), "dt": 0.02, "lengths": np.array([5, 9])}, "do not fit 6 rows"),
    ({"qpos": np.zeros((2, 6, 2)), "dt": 0.02, "lengths": np.array([5])}, "lengths must be 2 integers"),
    ({"qpos": np.zeros((1, 600, 2)), "dt": 0.02}, "out of bounds"),
    ({"qpos": np.zeros((6, 2), dtype=np.int64), "dt": 0.02}, "must be a float array"),
    ({"qpos": np.zeros((1, 6, 2)), "dt": -1.0}, "dt must be a positive number"),
    ({"qpos": np.zeros((1, 6, 2))}, "no 'dt' array"),
    ({"qpos": np.array([{"x": 1}], dtype=object), "dt": 0.02}, "must be a float array"),
    ({"qpos": np.zeros((2, 6, 2)), "dt": 0.02, "qvel": np.zeros((2, 5, 2))}, "qvel must be a float array"),
    ({"qpos": np.zeros((2, 6, 2)), "dt": 0.02, "sensordata": np.zeros((2, 6), dtype=np.int64)},
     "sensordata must be a float array"),
])
def test_a_malformed_trace_is_refused_before_it_is_filmed(tmp_path, arrays, error):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TraceError, match=error):
        read_trace(tmp_path / "bad.npz", max_steps=500)


def test_a_file_that_is_no_trace_is_refused(tmp_path):
    (tmp_path / "trace.npz").write_bytes(b"not a zip file")
    with pytest.raises(TraceError, match="cannot be read as a trace"):
        read_trace(tmp_path / "trace.npz", max_steps=500)
