"""The run store: runs/<run-id>/..., the only module that knows paths. Every write is atomic (tmp + rename).

Layout of a run:
  config.json                       the RunConfig (resume reads it back)
  gen_00/messages.json              the prompt sent to the LLM (chat messages)
  gen_00/llm/                       every LLM request and response (see llm.py)
  gen_00/round_0.json               the completions of one sampling round
  gen_00/cand_00/candidate.json     the candidate record: status, reason, check, training, evaluation
  gen_00/cand_00/reward.py          the reward program as checked and trained
  gen_00/cand_00/response.md        the raw LLM text it came from
  gen_00/cand_00/policy.npz, trace.npz, work/ (the sandbox's working directory)
  gen_00/selection.json             the ranking of the generation and the chosen candidate
  result.json                       the best candidate over the run, written when the run finishes
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path


class StoreError(ValueError):
    """A path that is not a run, or an output directory that cannot be written."""


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def _finite_or_null(value):
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
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    text = json.dumps(_finite_or_null(json.loads(json.dumps(data, default=_json_default))), indent=2)
    write_text(path, text + "\n")


def read_json(path: Path):
    return json.loads(path.read_text())


def new_run_id(env: str, task: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:24] or "task"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{env}-{slug}"


def check_writable(out_dir: Path) -> None:
    """Fails before anything is written when the output directory cannot hold a run."""
    probe = out_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise StoreError(f"--out {out_dir} is not writable (nearest existing parent: {probe})")


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def create(cls, out_dir: Path, run_id: str, config: dict) -> RunStore:
        check_writable(out_dir)
        store = cls(out_dir / run_id)
        if store.root.exists():
            raise StoreError(f"run directory {store.root} already exists")
        write_json(store.root / "config.json", config)
        return store

    @classmethod
    def open(cls, path: Path) -> RunStore:
        store = cls(path)
        if not (store.root / "config.json").is_file():
            raise StoreError(f"{path} is not a rewardsmith run (no config.json); runs live in runs/<run-id>/")
        return store

    def config(self) -> dict:
        return read_json(self.root / "config.json")

    def gen_dir(self, gen: int) -> Path:
        return self.root / f"gen_{gen:02d}"

    def cand_dir(self, gen: int, index: int) -> Path:
        return self.gen_dir(gen) / f"cand_{index:02d}"

    def generations(self) -> list[int]:
        return sorted(int(p.name[4:]) for p in self.root.glob("gen_[0-9]*") if p.is_dir())

    def candidate_indices(self, gen: int) -> list[int]:
        return sorted(int(p.parent.name[5:]) for p in self.gen_dir(gen).glob("cand_*/candidate.json"))

    def load_candidate(self, gen: int, index: int) -> dict | None:
        path = self.cand_dir(gen, index) / "candidate.json"
        return read_json(path) if path.is_file() else None

    def save_candidate(self, gen: int, index: int, record: dict) -> None:
        write_json(self.cand_dir(gen, index) / "candidate.json", record)

    def load_selection(self, gen: int) -> dict | None:
        path = self.gen_dir(gen) / "selection.json"
        return read_json(path) if path.is_file() else None

    def save_selection(self, gen: int, selection: dict) -> None:
        write_json(self.gen_dir(gen) / "selection.json", selection)

    def find_candidate(self, candidate_id: str) -> tuple[int, int]:
        """'g1c03' -> (1, 3); raises with the valid ids when it does not exist."""
        match = re.fullmatch(r"g(\d+)c(\d+)", candidate_id)
        if match and self.load_candidate(int(match[1]), int(match[2])) is not None:
            return int(match[1]), int(match[2])
        valid = [f"g{g}c{i:02d}" for g in self.generations() for i in self.candidate_indices(g)]
        raise StoreError(f"unknown candidate {candidate_id!r}; candidates of this run: {', '.join(valid) or 'none'}")
