"""Headless filming of evaluation traces: an H.264 mp4 a browser plays, and a PNG strip of a few frames.

A trace is qpos per control step of every evaluation episode (train/rollouts.py; read back by evaluate/trace.py);
a frame comes from setting data.qpos and running mj_forward, then rendering through the env's camera (env.CAMERA,
usually a tracking camera). Shadows, reflections and multisampling are off: they cost most of the
software-rendering time (multisampling alone 3x) and add nothing to judging a behaviour.

A candidate's film (film_candidate) is its representative evaluation episode, and its worst one too when the
spread is large (evaluate/episodes.py says which and why). Each video runs from the episode's start to its last
alive step, the step the scoring stopped at, then holds that state for END_CARD_S with the end card's mark
(evaluate/mark.py): success or not, and whether it ended early. The episode's own frames carry no mark, so a
viewer (and the vision judge, which reads only those frames) sees the behaviour as it was.

OpenGL: MuJoCo picks its GL backend when `mujoco` is first imported (MUJOCO_GL, default glfw, which needs a
display). Filming needs a headless one, so `gl_backend()` finds one that works here — EGL first, then OSMesa —
by creating a context in a child process (a failed attempt in this process would pin PyOpenGL to the wrong
platform), then sets MUJOCO_GL / PYOPENGL_PLATFORM and points MuJoCo's renderer at that backend. Set MUJOCO_GL=egl
or osmesa yourself to choose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from rewardsmith.context import RunContext
from rewardsmith.env.registry import EnvSpec, get_env, resolve_task
from rewardsmith.errors import RewardsmithError
from rewardsmith.evaluate.episodes import choose, end_mark, filmed_episode
from rewardsmith.evaluate.mark import Mark
from rewardsmith.evaluate.trace import Trace, TraceError, read_trace
from rewardsmith.events import Filmed, FilmFailed
from rewardsmith.records import Candidate, Film, Status
from rewardsmith.runs.store import RunStore

HEADLESS_BACKENDS = ("egl", "osmesa")
TARGET_FPS = 30
END_CARD_S = 1.0  # how long a film holds its marked last state: long enough to read, short enough to loop


class RenderError(RewardsmithError, RuntimeError):
    """Filming is impossible here (no headless OpenGL) or the candidate has nothing to film."""


# ---- OpenGL backend ---------------------------------------------------------------------------------------------

_PROBE = """
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>')
r = mujoco.Renderer(m, 16, 16)
d = mujoco.MjData(m)
mujoco.mj_forward(m, d)
r.update_scene(d)
r.render()
r.close()
"""

_backend_lock = threading.Lock()
_backend: str | None = None


def _probe(name: str) -> str | None:
    """None when a child process can render with this backend, else the last line of its error."""
    env = {**os.environ, "MUJOCO_GL": name, "PYOPENGL_PLATFORM": name}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "timed out"
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout or f"exit code {proc.returncode}").strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


def gl_backend() -> str:
    """The headless GL backend this process renders with ('egl' or 'osmesa'), activated on first call."""
    global _backend
    with _backend_lock:
        if _backend is not None:
            return _backend
        import importlib

        from mujoco.rendering.classic import gl_context

        current = getattr(gl_context, "GLContext", None)
        current_name = getattr(current, "__module__", "").rpartition(".")[2]
        if current_name in HEADLESS_BACKENDS:  # MUJOCO_GL was set before mujoco was imported
            _backend = current_name
            return _backend
        requested = os.environ.get("MUJOCO_GL", "").lower().strip()
        order = [requested] if requested in HEADLESS_BACKENDS else []
        order += [b for b in HEADLESS_BACKENDS if b not in order]
        if "OpenGL" in sys.modules:  # PyOpenGL is bound to one platform for the life of the process
            pinned = os.environ.get("PYOPENGL_PLATFORM", "").lower()
            order = [b for b in order if b == pinned]
        failures = []
        for name in order:
            error = _probe(name)
            if error is not None:
                failures.append(f"{name}: {error}")
                continue
            os.environ["MUJOCO_GL"] = name
            os.environ["PYOPENGL_PLATFORM"] = name
            gl_context.GLContext = importlib.import_module(f"mujoco.{name}").GLContext
            _backend = name
            return _backend
        raise RenderError(
            "no headless OpenGL backend works here (" + ("; ".join(failures) or "PyOpenGL is already bound to "
            f"{os.environ.get('PYOPENGL_PLATFORM')!r}") + "); install libegl1 libgl1-mesa-dri or libosmesa6 "
            "(see the README setup line), or set MUJOCO_GL=egl|osmesa before starting"
        )


# ---- frames -----------------------------------------------------------------------------------------------------

class _Camera:
    """One renderer for one env: qpos row -> RGB frame through the env's camera."""

    def __init__(self, env: EnvSpec, width: int, height: int):
        gl_backend()
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_path(str(env.model_path))
        self.model.vis.global_.offwidth = max(int(self.model.vis.global_.offwidth), width)
        self.model.vis.global_.offheight = max(int(self.model.vis.global_.offheight), height)
        self.model.vis.quality.shadowsize = 0
        self.model.vis.quality.offsamples = 0  # multisampling triples software-GL frame time; H.264 smooths edges
        self.camera = self._camera_id(env)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, height=height, width=width)
        flags = self.renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0

    def _camera_id(self, env: EnvSpec) -> int:
        if not env.camera:
            return -1  # the default free camera
        cam = self._mujoco.mj_name2id(self.model, self._mujoco.mjtObj.mjOBJ_CAMERA, env.camera)
        if cam < 0:
            names = [self._mujoco.mj_id2name(self.model, self._mujoco.mjtObj.mjOBJ_CAMERA, i)
                     for i in range(self.model.ncam)]
            raise RenderError(f"env {env.name!r} names camera {env.camera!r}, which its model.xml lacks; "
                              f"cameras: {', '.join(n or '?' for n in names) or 'none'}")
        return cam

    def check(self, env: EnvSpec, qpos: np.ndarray) -> None:
        if qpos.shape[1] != self.model.nq:
            raise ValueError(f"the trace has {qpos.shape[1]} qpos columns but env {env.name!r} has nq={self.model.nq}")

    def frame(self, qpos_row: np.ndarray) -> np.ndarray:
        self.data.qpos[:] = qpos_row
        self._mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, camera=self.camera)
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_qpos(qpos: np.ndarray) -> np.ndarray:
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.ndim != 2 or qpos.shape[0] < 1:
        raise ValueError(f"qpos must be [T, nq] with T >= 1, got shape {qpos.shape}")
    return qpos


def _even(n: int) -> int:
    return max(2, int(n) - int(n) % 2)  # yuv420p needs even sizes


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")


class _Encoder:
    """ffmpeg (imageio-ffmpeg's bundled binary, which has libx264) reading raw RGB frames on stdin.

    Started with start_new_session (Ctrl-C in the terminal reaches rewardsmith, not the encoder) instead of
    imageio-ffmpeg's `preexec_fn=os.setpgrp`: a preexec_fn makes Python run the at-fork hooks, and JAX's hook
    warns "os.fork() was called ... will likely lead to a deadlock" in any process where JAX is initialised.
    start_new_session is done by the C fork-exec code with no Python in the child."""

    def __init__(self, path: Path, width: int, height: int, rate: Fraction, keyframe_every: str):
        import imageio_ffmpeg

        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "rawvideo", "-vcodec", "rawvideo",
               "-s", f"{width}x{height}", "-pix_fmt", "rgb24", "-r", f"{rate.numerator}/{rate.denominator}",
               "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "23",
               "-g", keyframe_every, "-movflags", "+faststart", "-f", "mp4", str(path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            raise RenderError(f"ffmpeg stopped while encoding: {self._stop()}") from None

    def finish(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        code = self._proc.wait(timeout=120)
        message = self._stop()
        if code != 0:
            raise RenderError(f"ffmpeg failed (exit {code}): {message}")

    def kill(self) -> None:
        self._stop()

    def _stop(self) -> str:
        """Ends the process (if it still runs), closes its pipes and returns the end of what it printed."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        text = ""
        if self._proc.stderr is not None and not self._proc.stderr.closed:
            text = self._proc.stderr.read().decode(errors="replace")
            self._proc.stderr.close()
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        return " ".join(text.split())[-300:] or "no message"


def frame_rows(rows: int, dt: float, fps: float | None = None) -> tuple[np.ndarray, Fraction]:
    """Which of a trace's `rows` rows (one per control step of `dt` seconds) a film shows: every k-th, so it runs
    at about `fps` (default ~30), and always the last, so the film ends where the episode did; and the film's
    exact real-time frame rate."""
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    stride = max(1, round(1.0 / (dt * (fps or TARGET_FPS))))
    picks = np.arange(0, rows, stride)
    if picks[-1] != rows - 1:
        picks = np.append(picks, rows - 1)
    return picks, 1 / (Fraction(dt).limit_denominator(1_000_000) * stride)


def film(env: EnvSpec, qpos: np.ndarray, dt: float, path: Path, width: int = 480, height: int = 480,
         fps: float | None = None, mark: Mark | None = None, end_card_s: float = END_CARD_S) -> dict:
    """Films a trace (qpos [T, nq], one row per control step of `dt` seconds) as an H.264 mp4 in real time,
    keeping the rows frame_rows() picks; with a `mark`, then the last row again with the mark drawn on it for
    `end_card_s` (at least one frame). Written atomically. Returns {"frames" (all), "episode_frames" (before the
    end card), "seconds", "width", "height", "fps"}."""
    qpos = _check_qpos(qpos)
    width, height = _even(width), _even(height)
    picks, rate = frame_rows(len(qpos), dt, fps)
    rows = qpos[picks]
    card = max(1, round(float(rate) * end_card_s)) if mark is not None else 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    keyframe_every = str(max(1, round(float(rate))))  # a keyframe a second: quick seeks when videos are synced
    with _Camera(env, width, height) as camera:
        camera.check(env, rows)
        encoder = _Encoder(tmp, width, height, rate, keyframe_every)
        try:
            frame = None
            for row in rows:
                frame = np.ascontiguousarray(camera.frame(row))
                encoder.write(frame)
            if mark is not None and frame is not None:
                marked = np.ascontiguousarray(mark.draw(frame))
                for _ in range(card):
                    encoder.write(marked)
            encoder.finish()
            os.replace(tmp, path)
        except BaseException:
            encoder.kill()
            tmp.unlink(missing_ok=True)
            raise
    frames = len(rows) + card
    return {"frames": frames, "episode_frames": len(rows), "seconds": frames / float(rate), "width": width,
            "height": height, "fps": float(rate)}


def thumbnail_strip(env: EnvSpec, qpos: np.ndarray, path: Path, count: int = 6, width: int = 160,
                    height: int = 160) -> dict:
    """A PNG of `count` frames evenly spaced over the trace, the first and the last (where the episode ended)
    included, side by side, without the end card's mark (the judge shows it when a video cannot be read). Returns
    {"frames", "width", "height"}."""
    import imageio.v3 as iio

    qpos = _check_qpos(qpos)
    picks = np.unique(np.linspace(0, len(qpos) - 1, max(1, count)).round().astype(int))
    with _Camera(env, width, height) as camera:
        camera.check(env, qpos)
        tiles = [camera.frame(qpos[i]).copy() for i in picks]
    strip = np.concatenate(tiles, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        iio.imwrite(tmp, strip, extension=".png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"frames": len(picks), "width": strip.shape[1], "height": strip.shape[0]}


def film_candidate(store: RunStore, gen: int, index: int, width: int = 480, height: int = 480,
                   fps: float | None = None, blind: bool | None = None) -> dict:
    """Films candidate `index` of generation `gen` into its directory from its evaluation trace: video.mp4 of the
    representative episode, worst.mp4 of the worst when the spread is large, strip.png of the representative.
    The end cards leave out score and success when `blind` (default: the run's --blind). Idempotent: files
    already there are kept. Returns {"video", "strip", "worst" (a Path, or None), "episodes" (FilmedEpisode
    records, the representative first), "spread" (why the worst is filmed, or None), "filmed" (False when
    every file existed), "seconds" (wall time)}."""
    video, strip, worst = (store.video_path(gen, index), store.strip_path(gen, index),
                           store.worst_video_path(gen, index))
    for made in (video, strip, worst):  # leftovers of a process killed mid-film (kill -9 skips film()'s cleanup)
        for leftover in made.parent.glob(f".{made.stem}.*.tmp*"):
            leftover.unlink(missing_ok=True)
    source = store.trace_path(gen, index)
    if not source.is_file():
        raise RenderError(f"candidate g{gen}c{index:02d} has no evaluation trace ({source}); only evaluated "
                          "candidates can be filmed")
    start = time.perf_counter()
    config = store.config()
    env = get_env(config.env)
    task = resolve_task(env, config.task)
    try:
        trace = read_trace(source, task.episode_steps)
    except TraceError as err:
        raise RenderError(f"candidate g{gen}c{index:02d}'s evaluation trace is malformed: {err}") from None
    scores = _scores_of(store.load_candidate(gen, index), trace)
    lengths = [int(n) for n in trace.lengths]
    choice = choose(scores, lengths, task)
    shown = [("representative", choice.representative, video)]
    if choice.worst is not None:
        shown.append(("worst", choice.worst, worst))
    episodes, filmed = [], False
    for role, episode, path in shown:
        rows = trace.episode(episode)
        record = filmed_episode(role, episode, scores, lengths, task, path.name,
                                frames=len(frame_rows(len(rows), trace.dt, fps)[0]))
        if not path.is_file():
            film(env, rows, trace.dt, path, width=width, height=height, fps=fps,
                 mark=end_mark(record, task, config.blind if blind is None else blind))
            filmed = True
        episodes.append(record)
    if not strip.is_file():
        thumbnail_strip(env, trace.episode(choice.representative), strip)
        filmed = True
    return {"video": video, "strip": strip, "worst": worst if choice.worst is not None else None,
            "episodes": tuple(episodes), "spread": choice.spread, "filmed": filmed,
            "seconds": time.perf_counter() - start if filmed else 0.0}


def _scores_of(cand: Candidate | None, trace: Trace) -> tuple[float | None, ...]:
    """Each traced episode's task score from the candidate's evaluation; () when there is none to match (no
    fitness, a run before scores were kept). A trace from before every episode was kept holds episode 0 only."""
    scores = cand.evaluation.episode_scores if cand is not None and cand.evaluation is not None else ()
    return tuple(scores[:trace.episodes]) if len(scores) >= trace.episodes else ()


def film_all(ctx: RunContext, candidates: list[Candidate]) -> list[Candidate]:
    """The film stage: every evaluated candidate filmed for the review page; a rendering failure never fails the
    candidate (its Film record says why)."""
    if not ctx.cfg.video:
        return candidates
    return [_filmed(ctx, c) if c.status is Status.EVALUATED and c.film is None else c for c in candidates]


def _filmed(ctx: RunContext, cand: Candidate) -> Candidate:
    try:
        made = film_candidate(ctx.store, cand.generation, cand.index)
    except RenderError as err:
        ctx.report(FilmFailed(cand.id, str(err)))
        filmed = cand.replace(film=Film(video=None, strip=None, reason=str(err)))
    else:
        ctx.report(Filmed(cand.id, made["seconds"]))
        filmed = cand.replace(film=Film(video=made["video"].name, strip=made["strip"].name, seconds=made["seconds"],
                                        episodes=made["episodes"], spread=made["spread"]))
    ctx.store.save_candidate(filmed)
    return filmed
