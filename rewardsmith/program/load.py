"""Loading an untrusted reward program. Call this ONLY inside the sandboxed worker, never in the main process.

Layers applied here (the OS sandbox around the worker is the layer that must hold when these fail):
- the static policy (staticcheck.py) is enforced again, so no caller can load a program that skipped it;
- the program runs in a fresh namespace whose `__builtins__` holds only harmless functions and whose `__import__`
  admits only `math`;
- reward_terms never sees the real array module: `xp` is a namespace of the module's public array functions,
  without file I/O, native-code, global-state or in-place functions (numpy.load, numpy.ctypeslib, numpy.seterr...);
- `s` arrives as a read-only mapping of read-only numpy views, `action` as a read-only view, so a program cannot
  write into the simulator's state (jax arrays are immutable anyway).
"""

from __future__ import annotations

import builtins
import dis
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.program.compose import compose
from rewardsmith.program.static import BANNED_ATTRS, static_check
from rewardsmith.program.terminate import TERMINATE


class RewardProgramError(RewardsmithError, ValueError):
    """The program breaks the reward contract; the message is written for the LLM."""


_SAFE_BUILTIN_NAMES = (
    "abs min max range len float int bool str dict list tuple set frozenset zip enumerate sum round isinstance "
    "sorted reversed any all pow divmod map filter slice repr "
    "Exception ValueError TypeError KeyError IndexError ArithmeticError ZeroDivisionError AssertionError "
    "True False None NotImplemented Ellipsis"
).split()
_XP_SUBMODULES = ("linalg",)  # the only submodules a reward may use (xp.linalg.norm)
_xp_cache: dict[int, types.SimpleNamespace] = {}
_IMPORT_NAME = dis.opmap["IMPORT_NAME"]
_LIBRARY_PACKAGES = frozenset({"numpy", "jax", "jaxlib", "ml_dtypes", "scipy", "opt_einsum"})


def _no_print(*args: Any, **kwargs: Any) -> None:
    """print() is a no-op: a debugging print must not flood the worker's output."""


def _import_guard(name, globals=None, locals=None, fromlist=(), level=0):
    """The program's `__import__`. An `import` statement in the program (the frame's current opcode is
    IMPORT_NAME) may import only math. numpy's C code also calls `__import__` through the calling frame's builtins
    for its lazy imports (`x.mean()` imports numpy._core._methods); those may load array-library modules only.
    The program cannot call this function itself: the static policy bans every dunder name."""
    caller = sys._getframe(1)
    code = caller.f_code.co_code
    statement = caller.f_lasti < len(code) and code[caller.f_lasti] == _IMPORT_NAME
    if name == "math" and level == 0:
        return math
    if not statement and level == 0 and name.split(".")[0] in _LIBRARY_PACKAGES:
        return builtins.__import__(name, globals, locals, fromlist, level)
    raise ImportError(f"import of {name!r} is not allowed: reward code may import only math; use xp for arrays")


def safe_builtins() -> dict[str, Any]:
    table = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    table["print"] = _no_print
    table["__import__"] = _import_guard
    return table


def _public_namespace(module: types.ModuleType, depth: int = 0) -> types.SimpleNamespace:
    """The module's public, non-dangerous attributes; submodules other than linalg are left out."""
    items = {}
    for name in dir(module):
        if name.startswith("_") or name in BANNED_ATTRS:
            continue
        try:
            value = getattr(module, name)
        except Exception:  # deprecated lazy attributes raise on access
            continue
        if isinstance(value, types.ModuleType):
            if depth == 0 and name in _XP_SUBMODULES:
                items[name] = _public_namespace(value, depth + 1)
            continue
        items[name] = value
    return types.SimpleNamespace(**items)


def safe_xp(xp: types.ModuleType) -> types.SimpleNamespace:
    """The array API a reward program sees in place of numpy / jax.numpy (cached per module)."""
    if isinstance(xp, types.SimpleNamespace):
        return xp
    key = id(xp)
    if key not in _xp_cache:
        _xp_cache[key] = _public_namespace(xp)
    return _xp_cache[key]


def _read_only(value: Any) -> Any:
    """A read-only view of a numpy array (no copy; the caller's array keeps its own flags); others unchanged."""
    if isinstance(value, np.ndarray):
        view = value.view()
        view.flags.writeable = False
        return view
    return value


def guard_inputs(s: dict, action: Any) -> tuple[types.MappingProxyType, Any]:
    return types.MappingProxyType({k: _read_only(v) for k, v in s.items()}), _read_only(action)


@dataclass(frozen=True)
class LoadedReward:
    scales: dict[str, float]
    reward_terms: Callable  # (s, action, xp) -> {term: array}; inputs guarded, xp filtered (see _guarded)
    source: str
    # (s, xp) -> bool array: the program's own termination (program/terminate.py), guarded alike; None: it has none
    terminate: Callable | None = None


def _guarded(raw: Callable) -> Callable:
    def reward_terms(s, action, xp):
        guarded_s, guarded_action = guard_inputs(s, action)
        return raw(guarded_s, guarded_action, safe_xp(xp))

    return reward_terms


def _guarded_terminate(raw: Callable) -> Callable:
    def terminate(s, xp):
        return raw(guard_inputs(s, None)[0], safe_xp(xp))

    return terminate


def load_reward(source: str) -> LoadedReward:
    """Static policy, then exec in a restricted namespace; raises RewardProgramError with LLM-readable messages."""
    violations = static_check(source)
    if violations:
        raise RewardProgramError("; ".join(f"line {v.line}: {v.message}" for v in violations[:10]))
    namespace: dict[str, Any] = {"__builtins__": safe_builtins(), "__name__": "reward_program"}
    code = compile(source, "<reward>", "exec")
    exec(code, namespace)
    scales = namespace.get("SCALES")
    fn = namespace.get("reward_terms")
    if not isinstance(scales, dict):
        raise RewardProgramError("SCALES must be a dict of term name -> number")
    if not callable(fn):
        raise RewardProgramError("reward_terms must be a function `def reward_terms(s, action, xp):`")
    ends = namespace.get(TERMINATE)
    if ends is not None and not callable(ends):
        raise RewardProgramError("terminate must be a function `def terminate(s, xp):` (or left out)")
    bad = [k for k, v in scales.items() if not isinstance(k, str) or type(v) not in (int, float)]
    if bad:
        raise RewardProgramError(f"SCALES entries must map strings to numbers; bad entries: {bad[:5]}")
    return LoadedReward(scales={k: float(v) for k, v in scales.items()}, reward_terms=_guarded(fn), source=source,
                        terminate=None if ends is None else _guarded_terminate(ends))


def total_reward(loaded: LoadedReward, s: dict, action: Any, xp: types.ModuleType) -> tuple[Any, dict]:
    """(Σ SCALES[k] * terms[k], terms); raises RewardProgramError when the terms do not match SCALES."""
    terms = loaded.reward_terms(s, action, xp)
    if not isinstance(terms, dict):
        raise RewardProgramError(f"reward_terms must return a dict of term name -> array, got {type(terms).__name__}")
    if set(terms) != set(loaded.scales):
        missing = sorted(set(loaded.scales) - set(terms))
        extra = sorted(set(map(str, terms)) - set(loaded.scales))
        raise RewardProgramError(f"the terms returned by reward_terms do not match SCALES: missing {missing}, "
                                 f"extra {extra}")
    shape = tuple(np.broadcast_shapes(*(np.shape(terms[k]) for k in loaded.scales)))
    total, _ = compose(loaded.scales, terms, xp, shape)
    return total, terms
