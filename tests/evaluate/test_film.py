"""Filming a trace headless: an H.264 mp4 with the expected frames and size, a PNG strip, and film_candidate's
idempotent filming of a stored candidate's trace."""

from __future__ import annotations

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest

from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.evaluate.film import RenderError, film, film_candidate, thumbnail_strip
from rewardsmith.runs.store import RunStore


def cartpole_trace(steps: int, dt: float = 0.02) -> np.ndarray:
    t = np.arange(steps + 1) * dt
    return np.stack([0.8 * np.sin(t), 0.6 * np.sin(3 * t)], axis=1)  # cart position, pole angle


def test_film_has_the_expected_frames_and_size(tmp_path):
    env = get_env("cartpole")
    qpos = cartpole_trace(120)  # 121 rows at 50 Hz -> every 2nd row at 25 fps
    info = film(env, qpos, 0.02, tmp_path / "v.mp4", width=160, height=128)
    assert info == {"frames": 61, "seconds": 61 / 25, "width": 160, "height": 128, "fps": 25.0}
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


def test_thumbnail_strip(tmp_path):
    info = thumbnail_strip(get_env("cartpole"), cartpole_trace(100), tmp_path / "s.png", count=6, width=80, height=60)
    image = iio.imread(tmp_path / "s.png")
    assert info == {"frames": 6, "width": 480, "height": 60}
    assert image.shape[:2] == (60, 480)


def test_film_candidate_is_idempotent(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    cand_dir = store.cand_dir(0, 1)
    store.trace_path(0, 1).parent.mkdir(parents=True)
    np.savez(store.trace_path(0, 1), qpos=cartpole_trace(60)[None], dt=0.02)
    first = film_candidate(store, 0, 1, width=96, height=96)
    assert first["filmed"] and first["video"] == cand_dir / "video.mp4" and first["strip"] == cand_dir / "strip.png"
    assert first["video"].stat().st_size > 0 and first["strip"].stat().st_size > 0
    stamp = first["video"].stat().st_mtime_ns
    second = film_candidate(store, 0, 1)
    assert not second["filmed"] and second["video"].stat().st_mtime_ns == stamp


def test_film_candidate_without_a_trace_says_why(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance"))
    store.cand_dir(0, 0).mkdir(parents=True)
    with pytest.raises(RenderError, match="g0c00 has no evaluation trace"):
        film_candidate(store, 0, 0)


def test_film_refuses_a_trace_of_another_env(tmp_path):
    with pytest.raises(ValueError, match="3 qpos columns but env 'cartpole' has nq=2"):
        film(get_env("cartpole"), np.zeros((10, 3)), 0.02, tmp_path / "v.mp4", width=32, height=32)
    assert not list(tmp_path.iterdir())
