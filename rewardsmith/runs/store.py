"""The run store: runs/<run-id>/..., the only module that knows a run's paths. Every write is atomic (tmp + rename).

Layout of a run:
  config.json                       the RunConfig (resume reads it back)
  gen_00/messages.json              the prompt sent to the LLM (chat messages)
  gen_00/prompt_tokens.json         that prompt's size in tokens and how it was counted
  gen_00/llm/                       every LLM request and response (see llm/client.py)
  gen_00/llm_cache/                 the answers paid for, replayed by a resumed round (llm/budget.py)
  gen_00/round_0.json               the completions of one sampling round
  gen_00/usage_0.json               tokens and cost of that round
  gen_00/cand_00/candidate.json     the Candidate record: status, reason, check, training, evaluation, film
  gen_00/cand_00/reward.py          the reward program as checked and trained
  gen_00/cand_00/response.md        the raw LLM text it came from
  gen_00/cand_00/check/             the check job's sandbox directory
  gen_00/cand_00/work/              the train job's sandbox directory: policy.npz, trace.npz, checkpoint.npz
  gen_00/cand_00/work_seed1000/     the same for a further training seed (--train-seeds)
  gen_00/cand_00/video.mp4, strip.png   the film of the representative evaluation episode (evaluate/episodes.py)
  gen_00/cand_00/worst.mp4          the worst evaluation episode's, when the episode scores spread widely
  gen_00/cand_00/stress.json        the policy under stress (evaluate/stress.py): `rewardsmith stress`, or each
                                    training seed's under evolve --select-robust
  gen_00/awaiting_ranking.json, ranking.json   the waiting protocol of a ranked generation (feedback/ranking.py)
  gen_00/rankings/<reviewer>.json   each reviewer's own ranking (--reviewers; ranking.json is their decision)
  gen_00/judge.json, judge/<id>.jpg the vision judge's verdict and the pictures it saw (feedback/judge.py); hybrid
                                    runs add judge_reversed.json (its second look) and judge_proposal.json
  gen_00/selection.json             the Selection record: the ranking and the chosen parent
  gen_00/selection_i1.json, messages_i1.json, round_i1_0.json, ...   evolve --islands: island 1's own records
  gen_00/islands.json               evolve --islands: each island's parent and the migration (execute/islands.py)
  final/                            the winner retrained on fresh seeds (--final-seeds)
  play/<id>-seed<S>.mp4, play/<id>-seed<S>/   `rewardsmith play`'s video and its sandbox folder
  ablation/<id>/ablation.json       `rewardsmith ablate`'s table: each term removed (scaled), retrained on seeds
  ablation/<id>/pruned_reward.py    the reward without the terms that did not matter, when it retrained as well
  ablation/<id>/train/<variant>/    the variants' trainings (seed_S/); pruned_check/ the pruned module's check
  result.json                       the best candidate over the run, written when the run finishes
  fork.json                         a fork's origin: the run whose ranked generations it copied (runs/fork.py)

JSON records carry a schema version (rewardsmith.records); files from a newer version are refused with one line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from rewardsmith.config import RunConfig
from rewardsmith.errors import UserError
from rewardsmith.records import SCHEMA_VERSION, Candidate, Film, Sample, SchemaError, Selection, check_schema
from rewardsmith.runs.files import read_json as read_json  # re-exported: the store's callers read and write with them
from rewardsmith.runs.files import write_json as write_json
from rewardsmith.runs.files import write_record as write_record
from rewardsmith.runs.files import write_text as write_text

VIDEO_NAME = "video.mp4"
STRIP_NAME = "strip.png"
WORST_NAME = "worst.mp4"
POLICY_NAME = "policy.npz"  # a training's policy in its workdir (jobs/train.py writes it)
ABLATION_NAME = "ablation.json"
PRUNED_NAME = "pruned_reward.py"
PLACEMENT_FILE = "placement.json"  # in a training's workdir: where each attempt ran (host/node, CPUs, GPU), outcome
_ID = re.compile(r"g(\d+)c(\d+)")


class StoreError(UserError):
    """A path that is not a run, a record that cannot be read, or an output directory that cannot be written."""


def new_run_id(env: str, task: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:24] or "task"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{env}-{slug}"


def check_writable(out_dir: Path) -> None:
    """Fails before anything is written when the output directory cannot hold a run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise StoreError(f"--out {out_dir} is a file; give a directory (it is created if missing)")
    probe = out_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise StoreError(f"--out {out_dir} cannot be created: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StoreError(f"--out {out_dir} is not writable (nearest existing parent: {probe})")


def make_dirs(path: Path, what: str) -> list[Path]:
    """mkdir -p that undoes its own partial work on failure and raises StoreError with one line; returns the
    folders it made, outermost first."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    made = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
    except OSError as err:
        for folder in reversed(made):
            folder.rmdir()
        raise StoreError(f"{what} cannot be created: {err.strerror or err} ({err.filename or path})") from None
    return made


def config_from_dict(data: dict[str, Any], what: str) -> RunConfig:
    try:
        check_schema(data, what)
    except SchemaError as err:
        raise StoreError(str(err)) from None
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    data = dict(data)
    if "model" in data or "api_base" in data:  # schema 1: one model and one server
        model, api_base = data.pop("model", None), data.pop("api_base", None)
        data.setdefault("models", [model] if model else [])
        data.setdefault("api_bases", [api_base] if api_base else [])
    unknown = sorted(set(data) - fields - {"schema"})
    if unknown:
        raise StoreError(f"{what} has unknown setting(s) {unknown}; valid: {sorted(fields)}")
    return RunConfig(**{k: v for k, v in data.items() if k in fields})


def _cause(err: BaseException) -> str:
    """Why a record does not read: a UserError's message says it whole; any other error is named by its type."""
    return _one_line(err) if isinstance(err, UserError) else f"{type(err).__name__}: {_one_line(err)}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:200]


def _on(island: int | None) -> str:
    """The file-name part of an island's own record (evolve --islands): none for a run without islands."""
    return "" if island is None else f"_i{island}"


def _parse_record(path: Path, data: Any) -> None:
    """Reads a record the way the run will (raising what its from_dict raises on a field of the wrong kind)."""
    if path.name == "candidate.json":
        Candidate.from_dict(data)
    elif path.name.startswith("selection") and path.suffix == ".json":
        Selection.from_dict(data)
    elif path.name.startswith("round_"):
        entries = data if isinstance(data, list) else data["samples"]
        for entry in entries:
            Sample.from_dict(entry)
    elif not isinstance(data, (dict, list)):
        raise TypeError(f"a JSON object was expected, not {type(data).__name__}")


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def create(cls, out_dir: Path, run_id: str, config: RunConfig) -> RunStore:
        check_writable(out_dir)
        store = cls(out_dir / run_id)
        if store.root.exists():
            raise StoreError(f"run directory {store.root} already exists")
        made = make_dirs(store.root, f"--out {out_dir}")
        try:
            store.save_config(config)
        except OSError as err:  # a full disk or a read-only mount: leave nothing behind
            shutil.rmtree(store.root, ignore_errors=True)
            for folder in reversed(made[:-1]):
                folder.rmdir()
            raise StoreError(f"--out {out_dir}: cannot write the run's config: {err.strerror or err}") from None
        return store

    @classmethod
    def open(cls, path: Path) -> RunStore:
        store = cls(path)
        if not (store.root / "config.json").is_file():
            raise StoreError(f"{path} is not a rewardsmith run (no config.json); runs live in runs/<run-id>/")
        store.check_records()  # a run from a newer schema is refused here, before anything is read or written
        return store

    def check_records(self) -> None:
        """Every record of the run is readable and of a schema this code reads; StoreError naming the first file
        that is not (truncated or hand-edited JSON, a field of the wrong type, a newer schema)."""
        self.config()
        paths = [*self.root.glob("gen_*/*.json"), *self.root.glob("gen_*/cand_*/candidate.json"),
                 self.root / "result.json", self.fork_path()]
        for path in sorted(p for p in paths if p.is_file()):
            try:
                data = read_json(path)
                if isinstance(data, dict):  # schema 1 kept rounds and messages as bare lists
                    check_schema(data, str(path.relative_to(self.root)))
                _parse_record(path, data)
            except SchemaError as err:
                raise StoreError(f"run {self.root}: {err}") from None
            except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
                raise StoreError(f"run {self.root}: {path.relative_to(self.root)} is damaged "
                                 f"({_cause(err)}); restore it, or delete it and "
                                 "--resume to redo that step") from None

    def config(self) -> RunConfig:
        path = self.root / "config.json"
        try:
            config = config_from_dict(read_json(path), f"run {self.root}")
            config.validate()
            return config
        except StoreError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreError(f"run {self.root}: config.json is damaged ({_cause(err)}); "
                             "restore it (the run cannot go on without its settings)") from None

    def save_config(self, config: RunConfig) -> None:
        write_json(self.root / "config.json", {"schema": SCHEMA_VERSION, **dataclasses.asdict(config)})

    # ---- paths ------------------------------------------------------------------------------------------------

    def gen_dir(self, gen: int) -> Path:
        return self.root / f"gen_{gen:02d}"

    def cand_dir(self, gen: int, index: int) -> Path:
        return self.gen_dir(gen) / f"cand_{index:02d}"

    def messages_path(self, gen: int, island: int | None = None) -> Path:
        return self.gen_dir(gen) / f"messages{_on(island)}.json"

    def prompt_tokens_path(self, gen: int, island: int | None = None) -> Path:
        return self.gen_dir(gen) / f"prompt_tokens{_on(island)}.json"

    def llm_log_dir(self, gen: int) -> Path:
        return self.gen_dir(gen) / "llm"

    def llm_log_dirs(self) -> list[Path]:
        return [self.llm_log_dir(gen) for gen in self.generations()]

    def llm_cache_dir(self, gen: int) -> Path:
        """Paid LLM answers, replayed when a round interrupted before round_N.json was written is asked again."""
        return self.gen_dir(gen) / "llm_cache"

    def round_path(self, gen: int, round_index: int, island: int | None = None) -> Path:
        return self.gen_dir(gen) / f"round{_on(island)}_{round_index}.json"

    def usage_path(self, gen: int, round_index: int, island: int | None = None) -> Path:
        return self.gen_dir(gen) / f"usage{_on(island)}_{round_index}.json"

    def usage_paths(self, gen: int) -> list[Path]:
        return sorted(self.gen_dir(gen).glob("usage_*.json"))

    def response_path(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / "response.md"

    def reward_path(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / "reward.py"

    def check_dir(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / "check"

    def work_dir(self, gen: int, index: int) -> Path:
        """The train job's sandbox directory; it writes policy.npz, trace.npz and checkpoint.npz there."""
        return self.cand_dir(gen, index) / "work"

    def seed_work_dir(self, gen: int, index: int, seed: int) -> Path:
        """The train job's directory for a further training seed (--train-seeds); the first seed uses work/."""
        return self.cand_dir(gen, index) / f"work_seed{seed}"

    def population_dir(self, gen: int) -> Path:
        """The population trainer's sandbox directory for a generation (one job trains its candidates together);
        each candidate's checkpoint stays in a folder of its own there across halving rungs."""
        return self.gen_dir(gen) / "population"

    def trace_path(self, gen: int, index: int) -> Path:
        return self.work_dir(gen, index) / "trace.npz"

    def video_path(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / VIDEO_NAME

    def strip_path(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / STRIP_NAME

    def worst_video_path(self, gen: int, index: int) -> Path:
        return self.cand_dir(gen, index) / WORST_NAME

    def policy_paths(self, cand: Candidate) -> list[Path]:
        """Each training seed's trained policy: the first seed's (work/), then those of --train-seeds and racing."""
        further = [self.seed_work_dir(cand.generation, cand.index, s.seed) for s in cand.seeds[1:]]
        return [folder / POLICY_NAME for folder in (self.work_dir(cand.generation, cand.index), *further)]

    def stress_path(self, gen: int, index: int) -> Path:
        """The candidate's policies under stress: evaluate/stress.py's reports, one per training seed stressed."""
        return self.cand_dir(gen, index) / "stress.json"

    def awaiting_path(self, gen: int) -> Path:
        return self.gen_dir(gen) / "awaiting_ranking.json"

    def ranking_path(self, gen: int) -> Path:
        return self.gen_dir(gen) / "ranking.json"

    def final_dir(self) -> Path:
        return self.root / "final"

    def play_dir(self) -> Path:
        """`rewardsmith play`: <id>-seed<S>.mp4 and the sandbox folder <id>-seed<S>/ of each episode played."""
        return self.root / "play"

    def ablation_dir(self, candidate_id: str) -> Path:
        """`rewardsmith ablate`'s folder for one candidate (ABLATION_NAME, PRUNED_NAME, train/, pruned_check/)."""
        return self.root / "ablation" / candidate_id

    def ablation_partial_dir(self, candidate_id: str) -> Path:
        """Where an ablation is built; renamed to ablation_dir when whole (an interrupted one leaves nothing)."""
        return self.root / "ablation" / f".{candidate_id}.partial"

    def ablation_path(self, candidate_id: str) -> Path:
        return self.ablation_dir(candidate_id) / ABLATION_NAME

    def pruned_reward_path(self, candidate_id: str) -> Path:
        return self.ablation_dir(candidate_id) / PRUNED_NAME

    # ---- records ----------------------------------------------------------------------------------------------

    def generations(self) -> list[int]:
        return sorted(int(p.name[4:]) for p in self.root.glob("gen_[0-9]*") if p.is_dir())

    def candidate_indices(self, gen: int) -> list[int]:
        return sorted(int(p.parent.name[5:]) for p in self.gen_dir(gen).glob("cand_*/candidate.json"))

    def load_candidate(self, gen: int, index: int) -> Candidate | None:
        path = self.cand_dir(gen, index) / "candidate.json"
        if not path.is_file():
            return None
        data = read_json(path)
        try:
            cand = Candidate.from_dict(data)
        except SchemaError as err:
            raise StoreError(f"{path}: {err}") from None
        if data.get("schema", 1) == 1 and cand.film is None:  # schema 1 kept its film only as files
            video, strip = self.video_path(gen, index), self.strip_path(gen, index)
            if video.is_file() or strip.is_file():
                cand = cand.replace(film=Film(video=video.name if video.is_file() else None,
                                              strip=strip.name if strip.is_file() else None))
        return cand

    def save_candidate(self, cand: Candidate) -> None:
        write_json(self.cand_dir(cand.generation, cand.index) / "candidate.json", cand.to_dict())

    def candidates(self, gen: int) -> list[Candidate]:
        return [c for c in (self.load_candidate(gen, i) for i in self.candidate_indices(gen)) if c is not None]

    def load_selection(self, gen: int, island: int | None = None) -> Selection | None:
        """The generation's selection; with `island` (evolve --islands), that island's own (execute/islands.py)."""
        path = self.gen_dir(gen) / f"selection{_on(island)}.json"
        if not path.is_file():
            return None
        try:
            return Selection.from_dict(read_json(path))
        except SchemaError as err:
            raise StoreError(f"{path}: {err}") from None

    def save_selection(self, selection: Selection, island: int | None = None) -> None:
        write_json(self.gen_dir(selection.generation) / f"selection{_on(island)}.json", selection.to_dict())

    def load_samples(self, gen: int, round_index: int, island: int | None = None) -> list[Sample] | None:
        """A saved sampling round; schema 1 stored the bare list."""
        path = self.round_path(gen, round_index, island)
        if not path.is_file():
            return None
        data = read_json(path)
        entries = data if isinstance(data, list) else data["samples"]
        return [Sample.from_dict(entry) for entry in entries]

    def save_samples(self, gen: int, round_index: int, samples: list[Sample], island: int | None = None) -> None:
        write_record(self.round_path(gen, round_index, island), {"samples": [dataclasses.asdict(s) for s in samples]})

    def load_messages(self, gen: int, island: int | None = None) -> list[dict[str, str]] | None:
        """The prompt sent for a generation (chat messages); schema 1 stored the bare list."""
        path = self.messages_path(gen, island)
        if not path.is_file():
            return None
        data = read_json(path)
        return list(data if isinstance(data, list) else data["messages"])

    def save_messages(self, gen: int, messages: list[dict[str, str]], island: int | None = None) -> None:
        write_record(self.messages_path(gen, island), {"messages": messages})

    def load_result(self) -> dict[str, Any] | None:
        path = self.root / "result.json"
        return read_json(path) if path.is_file() else None

    def save_result(self, result: dict[str, Any]) -> None:
        write_json(self.root / "result.json", {"schema": SCHEMA_VERSION, **result})

    def fork_path(self) -> Path:
        return self.root / "fork.json"

    def load_fork(self) -> dict[str, Any] | None:
        """Where a fork came from (runs/fork.py writes it); None for a run that is no fork."""
        path = self.fork_path()
        if not path.is_file():
            return None
        data = read_json(path)
        try:
            check_schema(data, "fork.json")
        except SchemaError as err:
            raise StoreError(f"run {self.root}: {err}") from None
        return dict(data)

    def parse_id(self, candidate_id: str) -> tuple[int, int] | None:
        match = _ID.fullmatch(candidate_id)
        return (int(match[1]), int(match[2])) if match else None

    def find_candidate(self, candidate_id: str) -> Candidate:
        """The candidate 'g1c03'; raises with the valid ids when it does not exist."""
        where = self.parse_id(candidate_id)
        cand = self.load_candidate(*where) if where else None
        if cand is not None:
            return cand
        valid = [c.id for g in self.generations() for c in self.candidates(g)]
        raise StoreError(f"unknown candidate {candidate_id!r}; candidates of this run: {', '.join(valid) or 'none'}")
