"""`rewardsmith play RUN`: a trained policy re-filmed on a new seed. The run is a real (tiny) LLM-free cart-pole
evolve started from a --config file; play prints the video's path and the episode's task score and return, the
video is an H.264 mp4 with a scene in it that ends on the episode's end card (a border marking success or not),
another seed is another episode, and bad input is one line."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from builders import failed

from rewardsmith.cli.app import app
from rewardsmith.evaluate.mark import FAILURE, SUCCESS
from rewardsmith.runs.store import RunStore

SUMMARY = re.compile(r"(g\d+c\d+) on seed (\d+): task score ([0-9.]+)(?: \((?:not )?solved\))?, return (-?[0-9.]+), "
                     r"(\d+) of 500 steps(?: \(ended early\))?\nvideo: (.+) \((\d+) frames\)")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("play")
    (folder / "run.toml").write_text(textwrap.dedent("""\
        env = "cartpole"
        task = "balance"
        models = []
        iterations = 1
        samples = 1
        final_seeds = 0
        race_seeds = 0
        train_steps = 2048
        video = false
        trainer = "native"
        out = "runs"
        """))
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--config", str(folder / "run.toml")],
                          capture_output=True, text=True, timeout=300, cwd=folder)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (root,) = (folder / "runs").iterdir()
    assert (root / "gen_00" / "cand_00" / "work" / "policy.npz").is_file()
    return root


def _play(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(["play", *map(str, args)], prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def _frames(path: Path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    try:
        assert reader.get_meta_data()["codec"] == "h264"
        return [frame for frame in reader]
    finally:
        reader.close()


def test_play_films_the_best_policy_on_a_new_seed_and_another_seed_is_another_episode(run, tmp_path, capsys,
                                                                                       monkeypatch):
    # imageio-ffmpeg's reader forks with a preexec_fn, which warns where another test of the session loaded JAX
    monkeypatch.setenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    code, out, err = _play([run], capsys)  # seed 1 by default
    assert code == 0, err
    match = SUMMARY.search(out)
    assert match, out
    cand, seed, score, ret, steps, video, frames = match.groups()
    assert cand == "g0c00" and seed == "1"  # the run's best (its only candidate)
    assert Path(video) == run / "play" / "g0c00-seed1.mp4" and Path(video).is_file()
    assert 0.0 <= float(score) <= 1.0 and math.isfinite(float(ret)) and 1 <= int(steps) <= 500
    first = _frames(Path(video))
    assert len(first) == int(frames) > 5 and first[0].shape == (480, 480, 3) and first[0].std() > 5
    solved = "(solved)" in out
    colour = np.array(SUCCESS if solved else FAILURE)
    assert np.abs(first[-1][:8].astype(int) - colour).max(axis=-1).mean() < 25  # the end card's border
    assert np.abs(first[0][:8].astype(int) - colour).max(axis=-1).mean() > 25  # the episode itself is unmarked

    other = tmp_path / "seed2.mp4"
    code, out2, err = _play([run, "--candidate", "g0c00", "--seed", "2", "-o", other], capsys)
    assert code == 0, err
    match2 = SUMMARY.search(out2)
    assert match2 and Path(match2[6]) == other and other.is_file(), out2
    assert sorted(p.name for p in (run / "play").iterdir()) == ["g0c00-seed1.mp4"]  # -o wrote nothing in the run
    second = _frames(other)
    assert len(second) == int(match2[7]) > 5
    # another start state: the first frames differ, and so does the episode's account
    assert np.abs(first[0].astype(int) - second[0].astype(int)).mean() > 0.05
    assert match.group(3, 4, 5) != match2.group(3, 4, 5)


def _play_folder(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in (run / "play").rglob("*")) if (run / "play").exists() else []


def test_bad_play_input_is_one_line_and_writes_no_video(run, tmp_path, capsys):
    RunStore(run).save_candidate(failed(0, 7))  # a candidate that failed its check: no policy
    existing = tmp_path / "mine.mp4"
    existing.write_bytes(b"mine")
    before = _play_folder(run)
    cases = [
        ([run, "--candidate", "g4c04"], "unknown candidate 'g4c04'; candidates of this run: g0c00, g0c07"),
        ([run, "--candidate", "g0c07"], "candidate g0c07 has no trained policy (check_failed: term 'alive'"),
        ([tmp_path / "nowhere"], "is not a rewardsmith run (no config.json)"),
        ([run, "-o", tmp_path / "film.avi"], "the video is written as .mp4"),
        ([run, "-o", existing], "mine.mp4 already exists; remove it or name another file"),
        ([run, "-o", tmp_path / "no" / "v.mp4"], "does not exist"),
        ([run, "--seed", "x"], "Invalid value for '--seed'"),
        ([run, "--seed", "-1"], "--seed must be an integer from 0 to 4294967295, got -1"),
    ]
    for args, words in cases:
        code, out, err = _play(args, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, (args, err)
    assert existing.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["mine.mp4"]
    assert _play_folder(run) == before  # nothing half-written in the run either
