"""Filming a trace headless: an H.264 mp4 with the expected frames and size, a PNG strip, and film_candidate's
idempotent filming of a stored candidate's trace: its representative episode, and its worst one when the scores
spread, each cut at its last alive step and followed by the marked end card."""

from __future__ import annotations

import dataclasses

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest
from builders import evaluated

from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.evaluate.film import END_CARD_S, RenderError, film, film_candidate, thumbnail_strip
from rewardsmith.evaluate.mark import FAILURE, SUCCESS, Mark
from rewardsmith.records import FilmedEpisode
from rewardsmith.runs.store import RunStore


@pytest.fixture(autouse=True)
def _reader_without_preexec_fn(monkeypatch):
    """These tests read the films back with imageio's ffmpeg reader in the test process, where other tests started
    JAX: its preexec_fn would fork past JAX's threads (the suite makes that warning an error). The product's own
    readers start ffmpeg without one (feedback/judge.py)."""
    monkeypatch.setenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


def cartpole_trace(steps: int, dt: float = 0.02) -> np.ndarray:
    t = np.arange(steps + 1) * dt
    return np.stack([0.8 * np.sin(t), 0.6 * np.sin(3 * t)], axis=1)  # cart position, pole angle


def test_film_has_the_expected_frames_and_size(tmp_path):
    env = get_env("cartpole")
    qpos = cartpole_trace(120)  # 121 rows at 50 Hz -> every 2nd row at 25 fps
    info = film(env, qpos, 0.02, tmp_path / "v.mp4", width=160, height=128)
    assert info == {"frames": 61, "episode_frames": 61, "seconds": 61 / 25, "width": 160, "height": 128, "fps": 25.0}
    reader = imageio.get_reader(tmp_path / "v.mp4")
    try:
        meta = reader.get_meta_data()
        frames = [frame for frame in reader]
    finally:
        reader.close()
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p") and meta["fps"] == 25.0
    assert len(frames) == 61
    assert frames[0].shape == (128, 160, 3)
    assert frames[0].std() > 5  # a scene, not a blank frame
    assert np.abs(frames[0].astype(int) - frames[30].astype(int)).mean() > 0.5  # the cart and pole moved
    assert list(tmp_path.iterdir()) == [tmp_path / "v.mp4"]  # no temporary file left behind


def test_film_keeps_every_step_when_control_is_slower_than_30_fps(tmp_path):
    info = film(get_env("cartpole"), cartpole_trace(20, dt=0.05), 0.05, tmp_path / "v.mp4", width=64, height=64)
    assert info["frames"] == 21 and info["fps"] == 20.0


def test_film_always_ends_on_the_last_step(tmp_path):
    """113 steps filmed every 2nd: rows 0, 2, ..., 112, and 113, the step the episode ended on."""
    info = film(get_env("cartpole"), cartpole_trace(113), 0.02, tmp_path / "v.mp4", width=64, height=64)
    assert info["frames"] == 58


def test_thumbnail_strip(tmp_path):
    info = thumbnail_strip(get_env("cartpole"), cartpole_trace(100), tmp_path / "s.png", count=6, width=80, height=60)
    image = iio.imread(tmp_path / "s.png")
    assert info == {"frames": 6, "width": 480, "height": 60}
    assert image.shape[:2] == (60, 480)


def test_film_candidate_is_idempotent(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    cand_dir = store.cand_dir(0, 1)
    store.trace_path(0, 1).parent.mkdir(parents=True)
    np.savez(store.trace_path(0, 1), qpos=cartpole_trace(60)[None], dt=0.02)  # a trace from before lengths
    first = film_candidate(store, 0, 1, width=96, height=96)
    assert first["filmed"] and first["video"] == cand_dir / "video.mp4" and first["strip"] == cand_dir / "strip.png"
    assert first["video"].stat().st_size > 0 and first["strip"].stat().st_size > 0
    assert first["worst"] is None and first["spread"] is None
    assert first["episodes"] == (FilmedEpisode(video="video.mp4", role="representative", episode=0, episodes=1,
                                               score=None, steps=60, ended_early=True, success=None, frames=31),)
    stamp = first["video"].stat().st_mtime_ns
    second = film_candidate(store, 0, 1)
    assert not second["filmed"] and second["video"].stat().st_mtime_ns == stamp
    assert second["episodes"] == first["episodes"]


def _frames(path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    try:
        return [frame.astype(int) for frame in reader]
    finally:
        reader.close()


def _bordered(frame: np.ndarray, colour: tuple[int, int, int], edge: int) -> bool:
    """The frame's outer `edge` pixels are `colour` (H.264 moves colours by a few steps)."""
    ring = np.concatenate([frame[:edge].reshape(-1, 3), frame[-edge:].reshape(-1, 3),
                           frame[:, :edge].reshape(-1, 3), frame[:, -edge:].reshape(-1, 3)])
    return bool(np.abs(ring - np.array(colour)).max(axis=-1).mean() < 25)


def test_a_terminated_episode_is_filmed_to_its_last_alive_step_and_marked_there(tmp_path):
    """Five evaluation episodes of a stored candidate, one terminated after 23 steps with a score far below the
    others (a success split): video.mp4 shows the representative, worst.mp4 the terminated one with exactly its
    start and 23 steps, then the end card: that last state with a red border, held for END_CARD_S."""
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    lengths = np.array([60, 60, 23, 60, 60])
    qpos = np.stack([cartpole_trace(60) * (1 + e / 10) for e in range(5)])
    qpos[2, 24:] = [1.5, 0.0]  # what the simulation did after the termination: never filmed
    scores = (0.9, 0.95, 0.1, 0.92, 0.93)
    cand = evaluated(0, 0, 0.76)
    store.save_candidate(cand.replace(evaluation=dataclasses.replace(
        cand.evaluation, episodes=5, episode_scores=scores, episode_lengths=tuple(int(n) for n in lengths))))
    store.trace_path(0, 0).parent.mkdir(parents=True)
    np.savez(store.trace_path(0, 0), qpos=qpos, lengths=lengths, dt=0.02)
    made = film_candidate(store, 0, 0, width=96, height=96, fps=50)  # fps 50: every control step is a frame

    rep, low = made["episodes"]
    assert (rep.role, rep.episode, rep.score, rep.success, rep.frames) == ("representative", 3, 0.92, True, 61)
    assert (low.role, low.episode, low.steps, low.ended_early, low.success, low.frames) == \
        ("worst", 2, 23, True, False, 24)
    assert made["worst"] == store.cand_dir(0, 0) / "worst.mp4" and made["spread"].startswith("a success split")

    card = round(50 * END_CARD_S)
    edge = Mark((), FAILURE).border(96, 96)
    frames = _frames(made["worst"])
    assert len(frames) == 1 + 23 + card  # the start, each alive step, the end card
    assert not _bordered(frames[23], FAILURE, edge)  # the last alive step as it was
    assert all(_bordered(f, FAILURE, edge) for f in frames[24:])  # then marked: not a success
    inner = slice(edge + 2, 30)  # above the text band, inside the border: the same state
    assert np.abs(frames[23][inner, inner] - frames[-1][inner, inner]).mean() < 3
    kept = _frames(made["video"])
    assert len(kept) == 61 + card and _bordered(kept[-1], SUCCESS, edge) and not _bordered(kept[60], SUCCESS, edge)


def test_film_candidate_without_a_trace_says_why(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    store.cand_dir(0, 0).mkdir(parents=True)
    with pytest.raises(RenderError, match="g0c00 has no evaluation trace"):
        film_candidate(store, 0, 0)


def test_film_refuses_a_trace_of_another_env(tmp_path):
    with pytest.raises(ValueError, match="3 qpos columns but env 'cartpole' has nq=2"):
        film(get_env("cartpole"), np.zeros((10, 3)), 0.02, tmp_path / "v.mp4", width=32, height=32)
    assert not list(tmp_path.iterdir())
