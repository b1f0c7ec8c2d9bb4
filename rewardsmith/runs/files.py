"""Atomic file writes for the run store (tmp + rename, so a crash or a full disk never leaves half a file) and JSON
records that stay valid JSON (no NaN) and carry their schema version."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from rewardsmith.records import SCHEMA_VERSION


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def _finite_or_null(value: Any) -> Any:
    """JSON has no NaN: non-finite floats are stored as null so the files stay valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:  # a full disk: the old file (if any) stays whole, no leftover; the error names the file
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err
    except BaseException:  # Ctrl-C mid-write
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(_finite_or_null(json.loads(json.dumps(data, default=_json_default))), indent=2)
    write_text(path, text + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_record(path: Path, data: dict[str, Any]) -> None:
    """A JSON record of the run, stamped with the schema version it was written in."""
    write_json(path, {"schema": SCHEMA_VERSION, **data})
