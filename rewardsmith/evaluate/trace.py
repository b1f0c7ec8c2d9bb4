"""Reading an evaluation trace (trace.npz) back in the parent: it was written inside the sandbox, next to untrusted
reward code, so it is read as data and checked before anything is allocated for it or filmed from it.

The format is train/rollouts.py's: qpos [E, T, nq] float, lengths [E] int (each episode's control steps), dt, and
(native evaluations since the exploit detectors) qvel [E, T, nv] and sensordata [E, T, nsensordata] float.
Traces written before every episode was kept have no lengths: qpos [1, T, nq] (or [T, nq]) is one episode whose
rows all count (those traces already stopped when their episode did).
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_EPISODES = 4096
MAX_NQ = 1024
ROW_ARRAYS = ("qvel", "sensordata")  # optional arrays with one row per qpos row


class TraceError(ValueError):
    """A trace.npz that is not what the evaluation writes (missing arrays, wrong shapes or types, too large)."""


@dataclass(frozen=True)
class Trace:
    """Every evaluation episode's states, ready to film."""

    qpos: np.ndarray  # [E, T, nq] float64
    lengths: np.ndarray  # [E] int64: episode e is rows 0..lengths[e]
    dt: float  # seconds per control step
    qvel: np.ndarray | None = None  # [E, T, nv]; None in traces that do not record it
    sensordata: np.ndarray | None = None  # [E, T, nsensordata]; None likewise

    @property
    def episodes(self) -> int:
        return int(self.qpos.shape[0])

    def episode(self, index: int) -> np.ndarray:
        """Episode `index` from its start to its last alive step: [lengths[index] + 1, nq]."""
        return self.qpos[index, : int(self.lengths[index]) + 1]


def read_trace(path: Path, max_steps: int) -> Trace:
    """The trace at `path`, checked: at most `max_steps` control steps per episode (the task's episode length), at
    most MAX_EPISODES episodes and MAX_NQ columns, finite dt > 0, lengths within the rows. Raises TraceError."""
    try:
        shapes = _headers(Path(path))
        _check_sizes(shapes, max_steps)
        with np.load(path, allow_pickle=False) as data:
            qpos = np.asarray(data["qpos"], dtype=np.float64)
            lengths = np.asarray(data["lengths"]) if "lengths" in shapes else None
            dt = float(np.asarray(data["dt"], dtype=np.float64))
            rows = {name: np.asarray(data[name], dtype=np.float64) for name in ROW_ARRAYS if name in shapes}
    except (OSError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise TraceError(f"{path} cannot be read as a trace ({type(err).__name__}: {err})") from None
    except ValueError as err:  # a pickled array (refused), a truncated member, a wrong dtype
        raise TraceError(f"{path} is not a trace: {err}") from None
    if qpos.ndim == 2:  # the oldest traces: one episode, [T, nq]
        qpos = qpos[None]
    if lengths is None:
        lengths = np.full(qpos.shape[0], qpos.shape[1] - 1, dtype=np.int64)
    return _checked(qpos, lengths, dt, **rows)


def _headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's shape and dtype from its .npy header, before reading any data."""
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(member)
            shapes[name[:-4]] = (tuple(int(n) for n in shape), np.dtype(dtype))
    for key in ("qpos", "dt"):
        if key not in shapes:
            raise TraceError(f"{path} has no {key!r} array")
    return shapes


def _check_sizes(shapes: dict[str, tuple[tuple[int, ...], np.dtype]], max_steps: int) -> None:
    shape, dtype = shapes["qpos"]
    if len(shape) not in (2, 3) or dtype.kind != "f":
        raise TraceError(f"qpos must be a float array [episodes, steps, nq], got {dtype} {list(shape)}")
    episodes, rows, nq = (1, *shape) if len(shape) == 2 else shape
    if not (1 <= episodes <= MAX_EPISODES and 1 <= rows <= max_steps + 1 and 1 <= nq <= MAX_NQ):
        raise TraceError(f"qpos {list(shape)} is out of bounds: at most {MAX_EPISODES} episodes of "
                         f"{max_steps + 1} rows of {MAX_NQ} columns")
    if "lengths" in shapes:
        lengths, kind = shapes["lengths"]
        if lengths != (episodes,) or kind.kind not in "iu":
            raise TraceError(f"lengths must be {episodes} integers, got {kind} {list(lengths)}")
    for name in ROW_ARRAYS:
        if name in shapes:
            row_shape, row_kind = shapes[name]
            if len(row_shape) != 3 or row_shape[:2] != (episodes, rows) or not 1 <= row_shape[2] <= MAX_NQ \
                    or row_kind.kind != "f":
                raise TraceError(f"{name} must be a float array [{episodes}, {rows}, at most {MAX_NQ}] like qpos, "
                                 f"got {row_kind} {list(row_shape)}")
    if math.prod(shapes["dt"][0]) != 1 or shapes["dt"][1].kind not in "fiu":
        raise TraceError("dt must be one number")


def _checked(qpos: np.ndarray, lengths: np.ndarray, dt: float, qvel: np.ndarray | None = None,
             sensordata: np.ndarray | None = None) -> Trace:
    if not (math.isfinite(dt) and dt > 0):
        raise TraceError(f"dt must be a positive number, got {dt}")
    lengths = lengths.astype(np.int64)
    if lengths.min() < 0 or lengths.max() > qpos.shape[1] - 1:
        raise TraceError(f"episode lengths {lengths.min()}..{lengths.max()} do not fit {qpos.shape[1]} rows")
    return Trace(qpos=qpos, lengths=lengths, dt=dt, qvel=qvel, sensordata=sensordata)
