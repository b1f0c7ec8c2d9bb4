"""`rewardsmith replay CARD`: read a reward card (exports/card.py), refuse where its result cannot be expected to
reproduce here (exports/provenance.py: env, fitness, reward, MuJoCo, trainer), retrain its reward from scratch on
fresh seeds with the card's training settings (seeds.train_seeds: each training in the sandbox, as `train` and the
confirmation do), and decide by exports/reproduce.py's rule whether the card's result reproduces.

Fresh seeds: from the card's first replay seed (the run's seed + its final seeds + 1) upward, skipping every seed the
card's numbers rest on. Training is deterministic in its seed, so a replay of the same card on the same software
gives the same numbers: a second machine replays exactly what the first did.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.events import Report
from rewardsmith.execute.seeds import MultiSeedSummary, train_seeds
from rewardsmith.exports.card import CARD_FILE, CARD_SCHEMA, REWARD_FILE
from rewardsmith.exports.provenance import Provenance, package_differences, provenance_here, refusals
from rewardsmith.exports.reproduce import RULE, Difference, Measurement, Verdict, verdict
from rewardsmith.runs.store import read_json, write_json

NOT_REPRODUCED = 4  # the exit code of a replay whose result does not reproduce the card's (0: it does; 2: refused)
REPLAY_FILE = "replay.json"
REPLAY_DIR = "replay"  # beside replay.json: the replayed trainings' sandbox folders (seed_S/policy.npz, trace.npz)


@dataclass(frozen=True)
class Card:
    """A card as read back: what a replay needs of it."""

    folder: Path
    data: dict[str, Any]
    source: str  # reward.py as it is now (its hash is compared with the card's)
    provenance: Provenance
    measurement: Measurement
    train_config: TrainConfig
    trainer: str

    @property
    def env(self) -> str:
        return str(self.data["env"])

    @property
    def task_text(self) -> str:
        return str(self.data["task"]["text"])


def read_card(folder: Path) -> Card:
    """The card in `folder`; UserError (one line) where it is no card, a newer one, damaged, or has nothing to
    compare a replay with."""
    path = folder / CARD_FILE
    if not path.is_file():
        raise UserError(f"{folder} is not a reward card (no {CARD_FILE}); write one with "
                        "`rewardsmith export RUN --card -o DIR`")
    try:
        data = read_json(path)
        schema = int(data["schema"])
        if schema > CARD_SCHEMA:
            raise UserError(f"{path} is a card of schema {schema}, written by a newer rewardsmith (this one reads "
                            f"up to {CARD_SCHEMA}); upgrade rewardsmith to replay it")
        source = (folder / REWARD_FILE).read_text()
        provenance = Provenance.from_dict(data["provenance"])
        raw_measurement = data.get("measurement")
        config = TrainConfig().with_overrides(**data["training"]["config"])
        trainer = str(data["training"]["trainer"])
        int(data["replay"]["first_seed"])  # where the fresh seeds start (replay_seeds)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{folder / REWARD_FILE} is missing; a card's reward must stay beside its {CARD_FILE}") \
            from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"{path} is damaged ({type(err).__name__}: {err}); write the card again") from None
    if not data["task"].get("has_fitness") or not raw_measurement:
        raise UserError(f"card {folder} holds no measurement of its reward's task score (a task without a score, a "
                        "reward never measured, or a run from before episode scores were recorded), so a replay has "
                        "nothing to compare with")
    return Card(folder, data, source, provenance, Measurement.from_dict(raw_measurement), config, trainer)


@dataclass(frozen=True)
class Checked:
    """A card found replayable here: this machine's provenance and the package versions that differ."""

    here: Provenance
    packages: tuple[str, ...]  # "name A -> B" per differing package (reported, not refused)


def check_card(card: Card) -> Checked:
    """UserError, one line naming each difference, where the env, the fitness, reward.py, MuJoCo or the trainer
    differ from the card's."""
    env = get_env(card.env)
    task = resolve_task(env, card.task_text)
    here = provenance_here(env, task, card.source)
    refused = refusals(card.provenance, here)
    if refused:
        raise UserError(f"cannot replay {card.folder}: {'; '.join(refused)} (a replay needs the card's env, fitness, "
                        "reward, MuJoCo and trainer)")
    return Checked(here, tuple(package_differences(card.provenance, here)))


def replay_seeds(card: Card, count: int) -> list[int]:
    """`count` fresh seeds: from the card's first replay seed up, none that the card's numbers rest on."""
    used = {int(s) for s in card.data["replay"].get("used_seeds") or ()} | set(card.measurement.seeds)
    seed, seeds = int(card.data["replay"]["first_seed"]), list[int]()
    while len(seeds) < count:
        if seed not in used:
            seeds.append(seed)
        seed += 1
    return seeds


@dataclass(frozen=True)
class Replayed:
    """A replay's outcome: the trainings, their measurement (None: every seed failed) and the verdict."""

    seeds: tuple[int, ...]
    summary: MultiSeedSummary
    measurement: Measurement | None
    verdict: Verdict
    differences: tuple[Difference, ...] = ()  # the rule's tests (none where no seed was measured)

    def to_dict(self, card: Card, checked: Checked) -> dict[str, Any]:
        return {"schema": CARD_SCHEMA, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "card": str(card.folder.resolve()), "candidate": card.data["candidate"], "seeds": list(self.seeds),
                "steps_per_seed": card.train_config.steps, "trainer": card.trainer, "rule": RULE,
                "card_measurement": card.measurement.to_dict(),
                "replayed": self.measurement.to_dict() if self.measurement is not None else None,
                "trainings": self.summary.to_dict(), "verdict": self.verdict.to_dict(),
                "differences": [d.to_dict() for d in self.differences],
                "packages_differ": list(checked.packages), "provenance_here": checked.here.to_dict()}


def replay(card: Card, checked: Checked, count: int, out: Path, report: Report) -> Replayed:
    """Retrains the card's reward on `count` fresh seeds, decides, and writes out/replay.json (and out/replay/, the
    trainings' folders, replacing an earlier replay's)."""
    seeds = replay_seeds(card, count)
    work = out / f".{REPLAY_DIR}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    try:
        summary = train_seeds(get_env(card.env), card.task_text, card.source, card.train_config, seeds, work, report,
                              card.trainer)
        replayed = _decided(card, seeds, summary)
        shutil.rmtree(out / REPLAY_DIR, ignore_errors=True)
        work.rename(out / REPLAY_DIR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(out / REPLAY_FILE, replayed.to_dict(card, checked))
    return replayed


def _decided(card: Card, seeds: list[int], summary: MultiSeedSummary) -> Replayed:
    failed = [f"seed {r.seed} failed: {r.reason}" for r in summary.seeds if not r.ok]
    ok = [r for r in summary.seeds if r.ok and r.episode_scores and all(x is not None for x in r.episode_scores)]
    measurement = Measurement("the replay", tuple(r.seed for r in ok),
                              tuple(tuple(float(x) for x in r.episode_scores if x is not None) for r in ok),
                              tuple(r.steps or 0 for r in ok), card.measurement.threshold) if ok else None
    if measurement is None:
        return Replayed(tuple(seeds), summary, None, Verdict(False, tuple(failed) or ("no seed was measured",)))
    decided, differences = verdict(card.measurement, measurement)
    if failed:  # a reward that trained before and fails here does not reproduce, whatever the other seeds say
        decided = Verdict(False, (*failed, *decided.reasons))
    return Replayed(tuple(seeds), summary, measurement, decided, differences)


def outcome_lines(card: Card, replayed: Replayed) -> Iterator[str]:
    """The end of a replay in words: both measurements, the rule and the verdict."""
    yield f"card:     {card.measurement.words()}"
    if replayed.measurement is not None:
        yield f"replayed: {replayed.measurement.words()}"
    yield f"rule: {RULE}"
    for found in replayed.differences:
        yield f"  {found.words()}: {'inside' if found.within else 'OUTSIDE'}"
    if any(found.weak and found.within for found in replayed.differences):
        yield ("note: the seeds disagree so widely that this test only catches a result of another kind; replay on "
               "more seeds (--seeds N) to sharpen it")
    if replayed.verdict.reproduces:
        yield "verdict: reproduces"
    else:
        yield f"verdict: does not reproduce: {'; '.join(replayed.verdict.reasons)} (exit {NOT_REPRODUCED})"
