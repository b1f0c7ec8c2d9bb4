"""What every record shares: the schema version of a run's JSON files, the evaluation seed, the metric key of a
reward term, and how JSON numbers become record fields (standard library only)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rewardsmith.errors import UserError

SCHEMA_VERSION = 3
TERM_PREFIX = "reward/"
# The seed of a trained policy's evaluation episodes: the same for every candidate of a run, so their scores compare
# (`train --seeds` evaluates seed s on EVAL_SEED + s), and far above the training seeds (0, 1, ...), so a policy is
# scored from start states it did not train from.
EVAL_SEED = 10_000


def term_key(term: str) -> str:
    """The metric key of a reward term's scaled contribution."""
    return TERM_PREFIX + term


class SchemaError(UserError):
    """A record written by a newer rewardsmith (or not a record at all); the message names the version."""


def check_schema(data: Mapping[str, Any], what: str) -> int:
    """The schema version of a stored record (1 when it has none); refuses versions newer than this code's."""
    version = data.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        raise SchemaError(f"{what} has an invalid schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"{what} was written with record schema version {version}, newer than this rewardsmith's "
                          f"{SCHEMA_VERSION}; upgrade rewardsmith to read it")
    return version


def nums(data: Mapping[str, Any] | None) -> dict[str, float | None]:
    return {str(k): num(v) for k, v in (data or {}).items()}


def num(value: Any) -> float | None:
    """JSON stores non-finite numbers as null; records hold None for them (never NaN)."""
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
