"""`python -m rewardsmith.bench evolve --arm NAME`: one LLM-free evolve with one of the budget settings, and the line a
note quotes: env steps, wall time of the search and of the confirmation from scratch, the best task score with its
interval, and whether the best reward teaches a fresh policy.

One arm per invocation (2 cores are slow: a humanoid kneel K=4 x 3 arm takes tens of minutes); run the arms one after
another on the same machine and compare their lines. Mutations of the reference reward stand in for the LLM: the
training cost, which is what the arms change, is the same. Every arm trains with --stop-at-success and the default
racing and confirmation (--final-seeds), filming on (what a user's run does).

  default    what `rewardsmith evolve` does with no option: inheritance, halving, --parallel by the machine
  halving    successive halving alone (execute/train_stage.py), one training at a time, no inheritance
  parallel   + --parallel 2: two trainings at once, each on one core
  inherit    + --inherit: children start from their parent's policy (execute/inherit.py)
  adaptive   + --allocation adaptive: the budget follows the learning curves (execute/allocate.py)
  both       + --inherit and --allocation adaptive
  inherit-parallel  + --inherit and --parallel 2: both cores busy with two trainings, children from their parent
  default-adaptive  the default with --allocation adaptive (inheritance, --parallel by the machine): the adaptive
             allocation measured against the halving it would replace as the default

The arms but `default` and `default-adaptive` name --parallel (1 unless they say 2), so each keeps meaning what it
measured when the default was one training at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.events import Event, SelectionMade
from rewardsmith.records import Candidate

ARMS: dict[str, dict[str, Any]] = {
    "default": {},
    "halving": {"inherit": False, "parallel": 1},
    "parallel": {"parallel": 2, "inherit": False},
    "inherit": {"inherit": True, "parallel": 1},
    "adaptive": {"allocation": "adaptive", "inherit": False, "parallel": 1},
    "both": {"inherit": True, "allocation": "adaptive", "parallel": 1},
    "inherit-parallel": {"inherit": True, "parallel": 2},
    "default-adaptive": {"allocation": "adaptive"},
}


@dataclass(frozen=True)
class ArmResult:
    """What one arm cost and found (every number from the run's records and the clock)."""

    arm: str
    run: Path
    search_steps: int  # env steps of every search training (all seeds, racing included)
    confirm_steps: int  # env steps of the confirmation's trainings from scratch
    search_wall_s: float  # from the start to the last generation's selection
    confirm_wall_s: float  # from then to the answer (the confirmation, the last generation's filming)
    best: str | None
    best_line: str  # the selection rule's measurement of the answer, with its intervals
    fresh: str  # the answer retrained from scratch, in words
    generation_walls: tuple[float, ...]  # wall time of each generation, in order


def run_arm(arm: str, env: str, task: str, samples: int, generations: int, seed: int, out: Path,
            steps: int | None = None, say: Callable[[str], None] = print) -> ArmResult:
    from rewardsmith.config import RunConfig
    from rewardsmith.evolve import evolve, prepare
    from rewardsmith.runs.store import RunStore, new_run_id

    settings = dict(ARMS[arm])
    known = set(RunConfig.__dataclass_fields__)
    missing = sorted(set(settings) - known)
    if missing:  # an arm whose option this build does not have
        raise SystemExit(f"error: arm {arm!r} needs the setting(s) {missing}, which this build lacks")
    cfg = RunConfig(env=env, task=task, iterations=generations, samples=samples, seed=seed, train_steps=steps,
                    train={"stop_at_success": True}, **settings)
    prepare(cfg, live=False)
    store = RunStore.create(out, f"{arm}-{new_run_id(env, task)}", cfg)
    marks: list[float] = []
    start = time.monotonic()

    def on_event(event: Event) -> None:
        if isinstance(event, SelectionMade):
            marks.append(time.monotonic() - start)
            say(f"  generation {len(marks)} selected at {marks[-1]:.0f} s: {event.selection.best_overall}")

    evolve(store, cfg, on_event)
    total = time.monotonic() - start
    search = marks[-1] if marks else total
    walls = tuple(b - a for a, b in zip((0.0, *marks[:-1]), marks, strict=True))
    return summarize(arm, store.root, search, total - search, walls)


def summarize(arm: str, run: Path, search_wall_s: float, confirm_wall_s: float,
              generation_walls: tuple[float, ...] = ()) -> ArmResult:
    """An arm's numbers from a finished run's records (also for a run made by `rewardsmith evolve`, timed outside)."""
    from rewardsmith.runs.store import RunStore

    store = RunStore.open(run)
    cands = [c for g in store.generations() for c in store.candidates(g)]
    result = store.load_result() or {}
    confirmed = result.get("confirmed") or {}
    best = result.get("best")
    choice = result.get("choice") or {}
    return ArmResult(arm, run, sum(trained_steps(c) for c in cands), _confirm_steps(confirmed), search_wall_s,
                     confirm_wall_s, best, (choice.get("lines") or {}).get(best, "—") if best else "—",
                     _fresh(confirmed.get(best)) if best else "no answer", generation_walls)


def trained_steps(cand: Candidate) -> int:
    """The env steps a candidate's search trainings ran: every seed's (racing's too); a continued one counted once.
    Its inherited steps are its parent's, counted where the parent was trained."""
    if cand.seeds:
        return sum(s.steps for s in cand.seeds)
    return cand.train.steps if cand.train is not None else 0


def _confirm_steps(confirmed: dict[str, Any]) -> int:
    return sum(int(seed.get("steps") or 0) for summary in confirmed.values() for seed in summary.get("seeds") or ())


def _fresh(summary: dict[str, Any] | None) -> str:
    """The answer's retraining from scratch in words: its seeds' mean task score and success rate."""
    if not summary:
        return "not confirmed from scratch (--final-seeds 0, or no task score)"
    seeds = summary.get("seeds") or []
    ok = [s for s in seeds if s.get("status") == "ok"]
    score, success = summary.get("fitness_mean_std"), summary.get("success_rate_mean_std")
    if not ok or score is None:
        return f"from scratch: {len(ok)}/{len(seeds)} seeds trained"
    rates = f", success {success[0]:.2f}" if success else ""
    per_seed = ", ".join(f"{s['fitness']:.3f}" for s in ok if s.get("fitness") is not None)
    return f"from scratch on {len(ok)} seeds: task score {score[0]:.3f} ({per_seed}){rates}"


def line(result: ArmResult, env: str, task: str, samples: int, generations: int) -> str:
    walls = " / ".join(f"{w:.0f}" for w in result.generation_walls)
    return (f"{env}/{task} K={samples} x {generations} arm {result.arm:9s} search: {result.search_steps:,} env steps, "
            f"{result.search_wall_s:.0f} s ({result.search_wall_s / 60:.1f} min; per generation {walls} s) | "
            f"confirmation: {result.confirm_steps:,} env steps, {result.confirm_wall_s:.0f} s | best {result.best}: "
            f"{result.best_line} | {result.fresh}")
