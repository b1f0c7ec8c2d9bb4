"""`from mujoco import mjx` without the two lines its optional Warp backend prints.

mujoco/mjx/warp/__init__.py tries `import warp` (NVIDIA Warp) and, where it is not installed, print()s "Failed to
import warp: ..." and "Failed to import mujoco_warp: ..." to stdout. rewardsmith runs MJX on JAX and never uses
that backend, so the lines only confuse (`env check` showed both). They are print()s, not log records, so no
logging filter reaches them: the first import runs with stdout captured and every other line it printed is passed
on unchanged.
"""

from __future__ import annotations

import contextlib
import io
import sys

_WARP_NOISE = ("Failed to import warp:", "Failed to import mujoco_warp:")


def import_mjx():
    """The mujoco.mjx module, imported without the Warp lines."""
    if "mujoco.mjx" in sys.modules:
        return sys.modules["mujoco.mjx"]
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            from mujoco import mjx
    finally:
        for line in captured.getvalue().splitlines(keepends=True):
            if not line.startswith(_WARP_NOISE):
                sys.stdout.write(line)
    return mjx
