"""Pre-flight check of a reward program (SB3 `check_env` style): small `_check_*` steps, messages for the LLM.

The parent side (rewardsmith.execute.check_stage) runs the static policy, then this check in a sandboxed worker (the
sandbox's "check" job). `check_reward` executes the untrusted program, so it must only ever run inside the worker.

Steps, stopping at the first failure that makes later ones meaningless: load; SCALES valid; states from real
rollouts of the env (random actions, so fallen and odd poses appear, plus initial states); a numpy call (a dict of
finite float arrays of the batch shape, keys == SCALES); magnitudes; constant terms; time per call; then
`jax.jit(jax.vmap(...))` over single states (Python branching on arrays, `[:, i]` indexing, in-place writes,
numpy-only functions) and the jax result must equal the numpy result. Where the program defines its own
terminate(s, xp) (program/terminate.py): a bool array of the batch shape, not True on every sampled state nor on any
initial state, and the same under jax.
"""

from __future__ import annotations

import math
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.records import CheckReport

MAX_SCALED = 1e6  # |scale * term| above this is an error
WARN_SCALED = 1e3
MAX_CALL_MS = 50.0  # per numpy call on the whole batch
CALL_LIMIT_S = 10.0  # one call that runs longer than this is stopped (the sandbox's wall limit is the backstop)
ROLLOUT_STEPS = 100
STATES_FILE = "states.npz"  # the sampled states, placed in a check job's folder by the parent (execute/check_stage.py)


class _CallTimeout(BaseException):
    """Raised by SIGALRM inside a reward call; a BaseException so that `except Exception` in the program misses it."""


@contextmanager
def _time_limit(seconds: float):
    """SIGALRM-based; only the main thread can take signals, elsewhere the sandbox's wall limit is the only bound."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise _CallTimeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- sampling states --------------------------------------------------------------------------------------------


def sample_states(env_name: str, task_name: str, n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`n` states of the env's state view from real rollouts with random actions (a quarter are initial states),
    and `n` actions (random, zero and saturated)."""
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.env.sim import NativeBatch, split_sensors

    env = get_env(env_name)
    task = resolve_task(env, task_name)  # a name or a free-text description; a mistyped name lists the valid ones
    batch = NativeBatch(env, task.name, n, seed)
    rng = np.random.default_rng(seed)
    nu = batch.model.nu
    stop = rng.integers(0, ROLLOUT_STEPS + 1, n)
    stop[: initial_count(n)] = 0
    raw = batch.raw()
    qpos, qvel, sensordata = raw.qpos.copy(), raw.qvel.copy(), raw.sensordata.copy()
    try:
        for t in range(1, ROLLOUT_STEPS + 1):
            batch.step(rng.uniform(-1.0, 1.0, (n, nu)))
            rows = stop == t
            raw = batch.raw()
            qpos[rows], qvel[rows], sensordata[rows] = raw.qpos[rows], raw.qvel[rows], raw.sensordata[rows]
    finally:
        batch.close()
    view = env.state_view(qpos, qvel, split_sensors(sensordata, batch.slices), np)
    action = rng.uniform(-1.0, 1.0, (n, nu))
    action[: n // 8] = 0.0
    action[n // 8 : n // 4] = np.sign(action[n // 8 : n // 4])
    return {k: np.asarray(v) for k, v in view.items()}, action


def save_states(path: Path, s: dict[str, np.ndarray], action: np.ndarray) -> None:
    """`sample_states`' output as one .npz file (written whole, then renamed), state keys prefixed "state."."""
    tmp = path.with_name(path.name + ".tmp.npz")
    arrays: dict[str, Any] = {"action": action, **{f"state.{k}": v for k, v in s.items()}}
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_states(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What save_states wrote (no pickles: plain arrays only)."""
    with np.load(path, allow_pickle=False) as data:
        s = {k.removeprefix("state."): data[k] for k in data.files if k.startswith("state.")}
        return s, data["action"]


def initial_count(n: int) -> int:
    """How many of sample_states' n states (the first ones) are the env's initial states."""
    return n // 4


def _example_state(s: dict[str, np.ndarray], i: int) -> str:
    parts = []
    for k, v in s.items():
        value = np.round(v[i], 3)
        parts.append(f"{k}={value.tolist() if value.ndim else float(value)}")
    return "{" + ", ".join(parts) + "}"


# --- messages for exceptions the program raised -------------------------------------------------------------------


def _program_line(exc: BaseException, source: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<reward>"]
    if not frames or not frames[-1].lineno:
        return ""
    lineno = frames[-1].lineno
    lines = source.splitlines()
    code = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    return f" at line {lineno} (`{code[:120]}`)"


_HINTS: list[tuple[Callable[[BaseException, str], bool], str]] = [
    (lambda e, m: "TracerBoolConversion" in type(e).__name__ or "truth value of an array" in m,
     "it uses Python `if`/`and`/`or`/`not` (or bool()) on an array; use xp.where(cond, a, b) and the operators "
     "& | ~ instead"),
    (lambda e, m: "Concretization" in type(e).__name__ or "TracerIntegerConversion" in type(e).__name__
     or "TracerArrayConversion" in type(e).__name__,
     "it turns an array into a Python number or numpy array (float(), int(), range(), np.asarray); keep values as "
     "xp arrays"),
    (lambda e, m: isinstance(e, IndexError) and ("too many indices" in m.lower()),
     "it indexes as if there were a batch axis (like `[:, i]`); fields have batch dims first, so index the last "
     "axis with `[..., i]`"),
    (lambda e, m: "out of bounds for array of dimension" in m or "axis" in m and "out of bounds" in m,
     "it reduces over a positive axis (like axis=1) assuming a batch axis; use axis=-1 for the last axis"),
    (lambda e, m: "read-only" in m or "does not support item assignment" in m or "immutable" in m,
     "it writes into an array or into s in place; jax arrays are immutable: compute new arrays (xp.where, "
     "arithmetic) instead"),
    (lambda e, m: isinstance(e, NameError),
     "no imports are available except math: use the parameter `xp` for array functions (xp.sqrt, xp.where)"),
    (lambda e, m: isinstance(e, MemoryError), "it ran out of memory: avoid building huge arrays"),
    (lambda e, m: isinstance(e, RecursionError), "it recurses too deeply: rewards must be plain array expressions"),
    (lambda e, m: isinstance(e, ZeroDivisionError),
     "a Python number is divided by zero; divide arrays and guard the denominator, e.g. xp.maximum(d, 1e-6)"),
]


def _describe(exc: BaseException, source: str, s: dict | None = None) -> str:
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    where = _program_line(exc, source)
    if isinstance(exc, KeyError) and s is not None and exc.args and exc.args[0] not in s:
        return (f"KeyError{where}: the state view has no field {exc.args[0]!r}; the fields are: "
                f"{', '.join(sorted(s))}")
    missing_fn = re.search(r"SimpleNamespace' object has no attribute '(\w+)'", message)
    if isinstance(exc, AttributeError) and missing_fn:
        return (f"AttributeError{where}: `xp.{missing_fn.group(1)}` is not available (jax.numpy lacks it, or reward "
                "code may not use it); use functions both numpy and jax.numpy provide (xp.where, xp.clip, xp.exp, "
                "xp.linalg.norm, ...)")
    hint = next((h for match, h in _HINTS if match(exc, message)), "")
    return f"{type(exc).__name__}{where}: {message}" + (f" — {hint}" if hint else "")


# --- the steps -------------------------------------------------------------------------------------------------


def _check_load(source: str, errors: list[str]) -> Any:
    from rewardsmith.program.load import load_reward

    try:
        with _time_limit(CALL_LIMIT_S):
            return load_reward(source)
    except _CallTimeout:
        errors.append(f"loading the module took more than {CALL_LIMIT_S:g} s; top-level code must be constants only")
    except Exception as exc:
        errors.append(f"the program failed to load: {_describe(exc, source)}")
    return None


def _check_scales(scales: dict, errors: list[str]) -> bool:
    bad = [k for k, v in scales.items() if not math.isfinite(v)]
    if not scales:
        errors.append("SCALES is empty: give one weight per reward term")
    if bad:
        errors.append(f"SCALES has non-finite weights for {bad}; use finite numbers")
    return not errors


_FAILED = object()  # what _call returns when the call raised (None is a possible, wrong, return value)


def _call(loaded: Any, s: dict, action: np.ndarray, errors: list[str], label: str) -> Any:
    try:
        with _time_limit(CALL_LIMIT_S), np.errstate(all="ignore"):
            return loaded.reward_terms(s, action, np)
    except _CallTimeout:
        errors.append(f"reward_terms did not return within {CALL_LIMIT_S:g} s on {label}; avoid long Python loops "
                      "and compute with array operations")
    except Exception as exc:
        errors.append(f"reward_terms failed with numpy on {label}: {_describe(exc, loaded.source, s)}")
    return _FAILED


def _check_terms(out: Any, scales: dict, n: int, errors: list[str]) -> bool:
    if not isinstance(out, dict):
        errors.append(f"reward_terms returned a {type(out).__name__}; it must return a dict {{term name: array of "
                      f"shape ({n},)}} with the same keys as SCALES")
        return False
    missing = [k for k in scales if k not in out]
    extra = [str(k) for k in out if k not in scales]
    if missing or extra:
        errors.append(f"the keys of reward_terms' dict differ from SCALES: missing terms {missing}, extra terms "
                      f"{extra}; return exactly one array per SCALES key")
        return False
    for name in scales:
        value = out[name]
        if not isinstance(value, (np.ndarray, np.generic)):
            errors.append(f"term {name!r} is a {type(value).__name__}, not an array of shape ({n},); build it from "
                          f"the state, e.g. `value * xp.ones_like(s[...])`")
        elif value.shape != (n,):
            tip = " (reduce the last axis, e.g. xp.sum(x, axis=-1), or take x[..., 0])" if value.ndim > 1 else ""
            errors.append(f"term {name!r} has shape {value.shape}, expected ({n},): one value per state of the "
                          f"batch{tip}; do not reduce over the batch axis")
        elif value.dtype.kind != "f":
            fix = "xp.where(cond, 1.0, 0.0)" if value.dtype.kind == "b" else "x.astype(xp.float32)"
            errors.append(f"term {name!r} has dtype {value.dtype}; terms must be float arrays, e.g. {fix}")
    return not errors


def _check_finite(terms: dict, s: dict, errors: list[str]) -> bool:
    for name, value in terms.items():
        bad = ~np.isfinite(value)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            errors.append(
                f"term {name!r} is not finite on {int(bad.sum())} of {value.size} sampled states "
                f"({int(np.isnan(value).sum())} NaN, {int(np.isinf(value).sum())} Inf), e.g. at the state "
                f"{_example_state(s, i)[:600]}; guard divisions and logs (xp.maximum(x, 1e-6)) and clip the inputs "
                "of sqrt/arccos/log")
    return not errors


def _check_values(terms: dict, scales: dict, errors: list[str], warnings: list[str]) -> None:
    for name, value in terms.items():
        peak = float(np.max(np.abs(scales[name] * value)))
        if peak > MAX_SCALED:
            errors.append(f"term {name!r} times its scale reaches {peak:.3g} (limit {MAX_SCALED:g}); bound it (e.g. "
                          "xp.tanh, xp.clip, an exp(-x) kernel) or lower its SCALES weight")
        elif peak > WARN_SCALED:
            warnings.append(f"term {name!r} times its scale reaches {peak:.3g}; rewards above {WARN_SCALED:g} "
                            "usually destabilise PPO")
        if value.size > 1 and float(np.ptp(value)) == 0.0:
            warnings.append(constant_warning(name, float(value[0]), float(scales[name]), value.size))


def constant_warning(name: str, value: float, scale: float, states: int) -> str:
    """A term with one value on every sampled state, in words that say what states of random motion can and cannot
    tell: a term 0 there may pay once a policy learns (a pose, a contact); a term constant everywhere only pays for
    the steps an episode lasts."""
    where = (f"term {name!r} is constant ({value:.4g}) on all {states} sampled states (the start pose and random "
             f"actions for up to {ROLLOUT_STEPS} steps, before any training)")
    if value == 0.0:
        return (f"{where}: random motion never reached what it measures, so the check cannot tell whether it works. "
                "Expected of a goal a policy must first learn (a pose, a contact: no signal until the policy gets "
                "there by chance) and of a penalty for something random motion does not do; a term meant to vary in "
                "every state is broken")
    paid = scale * value
    effect = ("a bonus for making episodes last: as intended for a survival bonus" if paid > 0 else
              "a push to end episodes early, where they can end: as intended for a per-step cost" if paid < 0 else
              "nothing: its scale is 0")
    return (f"{where}: where it is the same in every state it pays {paid:+.4g} for each step an episode lasts, "
            f"whatever the policy does ({effect}); a term meant to measure the task should vary, though states a "
            "trained policy reaches that random motion did not may still change it")


def _check_speed(loaded: Any, s: dict, action: np.ndarray, errors: list[str]) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        if _call(loaded, s, action, errors, "a timing run") is _FAILED:
            return math.nan
        times.append((time.perf_counter() - t0) * 1000)
    ms = float(np.median(times))
    if ms > MAX_CALL_MS:
        errors.append(f"reward_terms takes {ms:.0f} ms per call on a batch of {len(action)} states (limit "
                      f"{MAX_CALL_MS:g} ms); vectorize it: no Python loops over states or long loops of array ops")
    return ms


def _float32(s: dict) -> dict:
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in s.items()}


def _traced(call: Any, name: str, loaded: Any, s: dict, errors: list[str]) -> Any:
    """`call()`, a jax.jit(jax.vmap(...)) of the program's function `name`, within the tracing time limit; _FAILED,
    with the error recorded for the LLM, where it takes too long or fails."""
    try:
        with _time_limit(6 * CALL_LIMIT_S):
            return call()
    except _CallTimeout:
        errors.append(f"tracing {name} with jax took more than {6 * CALL_LIMIT_S:g} s; avoid Python loops")
    except Exception as exc:
        errors.append(f"{name} fails under jax.jit(jax.vmap(...)) on single states: {_describe(exc, loaded.source, s)}")
    return _FAILED


def _check_jax(loaded: Any, s: dict, action: np.ndarray, errors: list[str]) -> None:
    """jit(vmap) over single states, then the jax result must match numpy on the same float32 inputs."""
    import jax
    import jax.numpy as jnp

    s32, a32 = _float32(s), action.astype(np.float32)
    fn = jax.jit(jax.vmap(lambda one_s, one_a: loaded.reward_terms(one_s, one_a, jnp)))
    out = _traced(lambda: jax.block_until_ready(fn(s32, a32)), "reward_terms", loaded, s, errors)
    if out is _FAILED:
        return
    reference = _call(loaded, s32, a32, errors, "float32 inputs")
    if reference is _FAILED:
        return
    if not (isinstance(out, dict) and isinstance(reference, dict) and set(out) == set(reference) == set(loaded.scales)):
        errors.append("reward_terms returns different terms under jax than under numpy (or for float32 inputs); it "
                      "must not depend on the array module or the dtype")
        return
    for name in loaded.scales:
        got, want = np.asarray(out[name], np.float64), np.asarray(reference[name], np.float64)
        if got.shape != want.shape:
            errors.append(f"term {name!r} has shape {got.shape} under jax but {want.shape} under numpy; index the "
                          "last axes with [..., i] and reduce with axis=-1")
            continue
        differ = ~np.isclose(got, want, rtol=1e-3, atol=1e-4 * (1.0 + float(np.max(np.abs(want)))), equal_nan=True)
        if differ.mean() > 0.01:
            i = int(np.flatnonzero(differ)[0])
            errors.append(f"term {name!r} differs between numpy and jax on {int(differ.sum())} of {differ.size} "
                          f"states (e.g. {want[i]:.4g} vs {got[i]:.4g}): it mixes values across the batch (a mean or "
                          "sum over states, axis=0, [:, i]) or depends on the array module; compute each state's "
                          "reward from that state alone with xp functions")


def _check_terminate(loaded: Any, s: dict, errors: list[str], warnings: list[str]) -> None:
    """The program's own termination (program/terminate.py): a bool array of the batch shape, under numpy and
    jax alike, that does not end every sampled state nor any initial state (an episode would end on its first step);
    never ending is fine."""
    n = len(next(iter(s.values())))
    try:
        with _time_limit(CALL_LIMIT_S), np.errstate(all="ignore"):
            ends = loaded.terminate(s, np)
    except _CallTimeout:
        errors.append(f"terminate did not return within {CALL_LIMIT_S:g} s; compute it with array operations")
        return
    except Exception as exc:
        errors.append(f"terminate failed with numpy on a batch of {n} states: {_describe(exc, loaded.source, s)}")
        return
    shape = getattr(ends, "shape", None)
    if not isinstance(ends, np.ndarray) or shape != (n,) or ends.dtype != np.bool_:
        what = f"{type(ends).__name__} of shape {shape} and dtype {getattr(ends, 'dtype', None)}"
        errors.append(f"terminate returned a {what}; it must return a bool array of shape ({n},), one per state, "
                      "e.g. `s['torso_pos'][..., 2] < 0.5` (combine conditions with & and |)")
        return
    start = ends[: initial_count(n)]
    if ends.all():
        errors.append(f"terminate is True on all {n} sampled states (initial states and random motion): every "
                      "episode would end after its first step; it must be True only in states to end")
    elif start.any():
        i = int(np.flatnonzero(start)[0])
        errors.append(f"terminate is True on {int(start.sum())} of {start.size} initial states (e.g. "
                      f"{_example_state(s, i)[:600]}): those episodes would end at their first step; it must be False "
                      "where episodes start")
    elif ends.mean() > 0.9:
        warnings.append(f"terminate is True on {ends.mean():.0%} of the sampled states of random motion: most "
                        "training episodes would end within a few steps")
    if not errors:
        _check_terminate_jax(loaded, s, ends, errors)


def _check_terminate_jax(loaded: Any, s: dict, ends: np.ndarray, errors: list[str]) -> None:
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.vmap(lambda one: loaded.terminate(one, jnp)))
    got = _traced(lambda: np.asarray(fn(_float32(s))), "terminate", loaded, s, errors)
    if got is _FAILED:
        return
    differ = got.reshape(ends.shape) != ends if got.size == ends.size else np.ones_like(ends)
    if differ.mean() > 0.01:
        errors.append(f"terminate differs between numpy and jax on {int(differ.sum())} of {differ.size} states: it "
                      "mixes values across the batch (axis=0, [:, i]) or depends on the array module; decide each "
                      "state from that state alone with xp functions")


def check_reward(env_name: str, task_name: str, source: str, samples: int = 256, seed: int = 0,
                 states: tuple[dict[str, np.ndarray], np.ndarray] | None = None) -> CheckReport:
    """Run every check step on `source` (executes it: only inside the sandboxed worker). `states`: sample_states'
    output for these arguments where the caller has it (the parent samples once per run; a humanoid's 256 states
    take ~2.6 s of stepping), else sampled here."""
    start = time.monotonic()
    errors: list[str] = []
    warnings: list[str] = []
    per_call_ms = None
    loaded = _check_load(source, errors)
    terms = tuple(loaded.scales) if loaded else ()
    if loaded and _check_scales(loaded.scales, errors):
        s, action = states if states is not None else sample_states(env_name, task_name, samples, seed)
        samples = len(action)
        out = _call(loaded, s, action, errors, f"a batch of {samples} states")
        if out is not _FAILED and _check_terms(out, loaded.scales, samples, errors) and _check_finite(out, s, errors):
            _check_values(out, loaded.scales, errors, warnings)
            per_call_ms = _check_speed(loaded, s, action, errors)
            if not errors:  # a slow or huge reward would also take minutes to trace
                _check_jax(loaded, s, action, errors)
        if loaded.terminate is not None and not errors:
            _check_terminate(loaded, s, errors, warnings)
    return CheckReport(not errors, tuple(errors), tuple(warnings), terms, time.monotonic() - start,
                       None if per_call_ms is None or math.isnan(per_call_ms) else per_call_ms)


def check_reference_rewards(env_name: str, tasks: list[str], folder: Path) -> list[str]:
    """Run the reward-program checks on each task's reference reward (needs the env registered by name)."""
    problems = []
    for task in tasks:
        report = check_reward(env_name, task, (folder / "rewards" / f"{task}.py").read_text(), samples=64)
        problems += [f"rewards/{task}.py: {e}" for e in report.errors]
    return problems
