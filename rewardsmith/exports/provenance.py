"""What a reward card's result rests on, as hashes and versions, and how a replay compares them (exports/card.py
writes them, execute/replay.py checks them).

Refused when they differ (the result could not be expected to reproduce, so a replay would measure the change, not
the reward): the env's content (every file of envs/<name>/), the task's fitness (its version and its definition's
hash), the reward program (reward.py edited after the card was written), the MuJoCo version, and the trainer version.
The trainer version is rewardsmith's package version plus a hash of the trainer's code (rewardsmith/train/ and the
batched simulator env/sim.py): a checkout with edited PPO code keeps the package version but not the code hash.
Every other installed package (numpy, jax, ...) is reported when its version differs, never refused: a replay is
the way to find out whether such a change matters.

Nothing here imports or runs a reward program: hashes are of text and bytes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.task import Task

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# the trainer's code: PPO, the trainers, rollouts and evaluation episodes (train/), and the batched simulator
TRAINER_CODE = ("train", "env/sim.py")
SKIPPED_PARTS = ("__pycache__",)  # bytecode Python writes next to an imported env.py is not the env's content


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _files(root: Path) -> list[Path]:
    """Every file under `root` in a stable order (sorted relative POSIX paths), bytecode caches left out."""
    if root.is_file():
        return [root]
    files = [p for p in root.rglob("*") if p.is_file() and not set(p.relative_to(root).parts) & set(SKIPPED_PARTS)
             and p.suffix != ".pyc"]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def tree_sha256(paths: Iterable[Path], base: Path) -> str:
    """One hash of files: each file's path relative to `base` and its bytes, in the order given (a renamed file
    changes the hash as an edited one does)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def env_sha256(env: EnvSpec) -> str:
    """The env folder's content: every file of envs/<name>/ (model, env.py with its tasks, state view, reference
    rewards, meshes), in sorted order."""
    return tree_sha256(_files(env.folder), env.folder)


def fitness_sha256(task: Task) -> str:
    """The task's fitness definition: the source of its fitness and termination functions, its success threshold,
    its episode length and its fitness version (helpers those functions call are covered by the env's hash)."""
    def source(fn: object) -> str | None:
        return inspect.getsource(fn) if callable(fn) else None

    definition = {"fitness": source(task.fitness), "terminate": source(task.terminate),
                  "success_threshold": task.success_threshold, "episode_steps": task.episode_steps,
                  "fitness_version": task.fitness_version}
    return sha256_text(json.dumps(definition, sort_keys=True))


def trainer_code_sha256() -> str:
    return tree_sha256([f for part in TRAINER_CODE for f in _files(PACKAGE_DIR / part) if f.suffix == ".py"],
                       PACKAGE_DIR)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: Mujoco_MJX and mujoco-mjx are one distribution


def package_versions() -> dict[str, str]:
    """Every installed distribution's version, by canonical name (the first found where one is installed twice,
    as the import system would find it)."""
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(_canonical(name), dist.version)
    return dict(sorted(versions.items()))


def rewardsmith_version() -> str:
    try:
        return importlib.metadata.version("rewardsmith")
    except importlib.metadata.PackageNotFoundError:  # a checkout run with PYTHONPATH, never installed
        return "unknown"


@dataclass(frozen=True)
class Provenance:
    """What a training result rests on, here or as a card recorded it."""

    env: str
    env_sha256: str
    task: str
    fitness_version: int
    fitness_sha256: str
    reward_sha256: str
    mujoco: str
    trainer: str  # rewardsmith's version + "+" + the first 12 hex digits of the trainer code's hash
    python: str
    packages: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        return {"env": self.env, "env_sha256": self.env_sha256, "task": self.task,
                "fitness_version": self.fitness_version, "fitness_sha256": self.fitness_sha256,
                "reward_sha256": self.reward_sha256, "mujoco": self.mujoco, "trainer": self.trainer,
                "python": self.python, "packages": dict(self.packages)}

    @classmethod
    def from_dict(cls, data: dict) -> Provenance:
        return cls(env=str(data["env"]), env_sha256=str(data["env_sha256"]), task=str(data["task"]),
                   fitness_version=int(data["fitness_version"]), fitness_sha256=str(data["fitness_sha256"]),
                   reward_sha256=str(data["reward_sha256"]), mujoco=str(data["mujoco"]), trainer=str(data["trainer"]),
                   python=str(data["python"]), packages={str(k): str(v) for k, v in data["packages"].items()})


def provenance_here(env: EnvSpec, task: Task, reward_source: str) -> Provenance:
    packages = package_versions()
    return Provenance(env=env.name, env_sha256=env_sha256(env), task=task.name, fitness_version=task.fitness_version,
                      fitness_sha256=fitness_sha256(task), reward_sha256=sha256_text(reward_source),
                      mujoco=packages.get("mujoco", "not installed"),
                      trainer=f"{rewardsmith_version()}+{trainer_code_sha256()[:12]}",
                      python=platform.python_version(), packages=packages)


def _short(digest: str) -> str:
    return digest[:12]


def refusals(card: Provenance, here: Provenance) -> list[str]:
    """What differs that a replay cannot stand, each in words naming the card's value and this machine's."""
    found = []
    if card.env_sha256 != here.env_sha256:
        found.append(f"env {card.env}: its files differ (sha256 {_short(card.env_sha256)} in the card, "
                     f"{_short(here.env_sha256)} here)")
    if card.fitness_version != here.fitness_version or card.fitness_sha256 != here.fitness_sha256:
        found.append(f"task {card.task}'s fitness: version {card.fitness_version} sha256 "
                     f"{_short(card.fitness_sha256)} in the card, version {here.fitness_version} sha256 "
                     f"{_short(here.fitness_sha256)} here")
    if card.reward_sha256 != here.reward_sha256:
        found.append(f"reward.py was edited after the card was written (sha256 {_short(card.reward_sha256)} in "
                     f"card.json, {_short(here.reward_sha256)} now)")
    if card.mujoco != here.mujoco:
        found.append(f"MuJoCo {card.mujoco} in the card, {here.mujoco} here")
    if card.trainer != here.trainer:
        found.append(f"trainer {card.trainer} in the card, {here.trainer} here")
    return found


def package_differences(card: Provenance, here: Provenance) -> list[str]:
    """Every other package whose version differs (or that only one side has): 'name A -> B', sorted by name."""
    names = sorted(set(card.packages) | set(here.packages))
    python = [f"python {card.python} -> {here.python}"] if card.python != here.python else []
    return python + [f"{name} {card.packages.get(name, 'absent')} -> {here.packages.get(name, 'absent')}"
                     for name in names if card.packages.get(name) != here.packages.get(name)
                     and name not in ("mujoco", "rewardsmith")]  # those two are checked (refusals)
