"""Robustness under stress: a trained policy's task score and success rate when the world is not quite the one it
was trained in (`rewardsmith stress RUN`, and `evolve --select-robust`, which picks by the worst case).

The conditions (each a Condition; `conditions()` makes the set):
  baseline            the env as trained
  mass x0.8, x1.2     every body's mass and rotational inertia scaled alike (the same shapes, lighter or denser)
  friction x0.8, x1.2 every geom's friction coefficients (sliding, torsional, rolling) scaled; an env whose geoms
                      never touch (cart-pole) is not changed by it, and the table shows that as no change
  actuator x0.8, x1.2 every actuator's force scaled: its gain and bias (force = gain x ctrl + bias), so a motor and
                      a position servo are alike weaker or stronger
  push S m/s          PUSHES_PER_EPISODE times per episode, at control steps drawn at random from the middle 80% of
                      the episode, the root body (the first below the world: a cart, a torso) gets a horizontal
                      impulse along x, forward or back at random, of S m/s x the robot's whole mass (N s): the
                      velocity change S would give the whole robot if it were one rigid body; the joints share it
                      out as the mass matrix says (qvel += M^-1 J^T p)
  obs noise s         every observation the policy sees gets Gaussian noise of s standard deviations of the policy's
                      own observation normaliser, per observation dimension (independent per step and episode)
  mjx                 (--mjx) the same episodes on MJX's physics instead of native MuJoCo (evaluate/stress_mjx.py)

Every condition runs the same episode seeds: NativeBatch draws the episodes' start states from the seed, so the
baseline measured alongside differs from a perturbed condition by the perturbation alone. Pushes and noise draw from
a generator of their own. A perturbed condition steps a perturbed copy of the model (`perturbed`); the env's model
file and every other copy are left as they are.

An episode is scored exactly as the evaluation scores it (train/rollouts.py): the task's fitness summed over its
alive steps over the full episode length; a termination ends it. The policy is an npz of weights run with numpy and
the fitness is the env's own code, so no sandbox is needed: no reward program is involved.

The worst case is the condition with the lowest mean task score, the baseline included (a worst case is never
better than the unperturbed policy); the first such condition in the table's order on a tie.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from rewardsmith.confidence import Measured, comparable
from rewardsmith.context import RunContext
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch
from rewardsmith.env.task import Task
from rewardsmith.events import Stressed
from rewardsmith.records import SCHEMA_VERSION, Candidate, Robustness, num
from rewardsmith.runs.store import read_json, write_json
from rewardsmith.train.policy import Policy

STRESS_SEED = 20_000  # the stress episodes' seed: not the training seeds, not the evaluation's (records.EVAL_SEED)
SCALE = 0.2  # masses, friction and actuator strength are scaled by 1 -/+ SCALE
PUSH_SPEED = 1.0  # m/s of the whole robot's mass (see the module's docstring)
PUSHES_PER_EPISODE = 2
NOISE_STD = 0.2  # in standard deviations of the policy's observation normaliser
EPISODES = 16  # per condition, `rewardsmith stress`'s default (as many as a candidate's evaluation)
ROBUST_EPISODES = 8  # per condition and seed under evolve --select-robust: the cheap set, native physics only
MODEL_KINDS = ("mass", "friction", "actuator")  # the conditions made by a perturbed copy of the model
KINDS = ("baseline", *MODEL_KINDS, "push", "noise", "mjx")


@dataclass(frozen=True)
class Condition:
    """One way of stressing the policy: `kind` (KINDS) and its size (a factor, a push in m/s, a noise in normaliser
    standard deviations; 0 for the baseline and mjx)."""

    kind: str
    size: float = 0.0

    @property
    def name(self) -> str:
        if self.kind in MODEL_KINDS:
            return f"{self.kind} x{self.size:g}"
        return {"push": f"push {self.size:g} m/s", "noise": f"obs noise {self.size:g} std"}.get(self.kind, self.kind)


def conditions(scale: float = SCALE, push: float = PUSH_SPEED, noise: float = NOISE_STD,
               mjx: bool = False) -> tuple[Condition, ...]:
    """The stress set, the baseline first: each model factor at 1 - scale and 1 + scale, one push, one noise (a size
    of 0 leaves that condition out), and MJX's physics where asked."""
    made = [Condition("baseline")]
    if scale:
        made += [Condition(kind, round(1 + sign * scale, 6)) for kind in MODEL_KINDS for sign in (-1, 1)]
    made += [Condition("push", push)] if push else []
    made += [Condition("noise", noise)] if noise else []
    return (*made, Condition("mjx")) if mjx else tuple(made)


def perturbed(model: mujoco.MjModel, condition: Condition) -> mujoco.MjModel:
    """A copy of `model` with the condition's factor applied (the model itself for a condition that acts during the
    episode: baseline, push, noise, mjx); `model` is never changed."""
    if condition.kind not in MODEL_KINDS:
        return model
    changed = copy.deepcopy(model)
    factor = condition.size
    if condition.kind == "mass":
        changed.body_mass[1:] *= factor  # body 0 is the world
        changed.body_inertia[1:] *= factor
    elif condition.kind == "friction":
        changed.geom_friction[:] *= factor
    else:  # force = gain(ctrl, length, velocity) x ctrl + bias(length, velocity): both scaled, the force with them
        changed.actuator_gainprm[:, :3] *= factor
        changed.actuator_biasprm[:, :3] *= factor
    mujoco.mj_setConst(changed, mujoco.MjData(changed))  # what the compiler derives from masses (subtree masses ...)
    return changed


@dataclass(frozen=True)
class ConditionResult:
    """One condition's episodes: each one's task score and length in control steps."""

    condition: Condition
    episode_scores: tuple[float | None, ...]  # None: not finite (a physics blow-up)
    episode_lengths: tuple[int, ...]

    @property
    def score(self) -> float | None:
        finite = all(s is not None for s in self.episode_scores)
        return float(np.mean([s for s in self.episode_scores if s is not None])) if finite else None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.condition.kind, "size": self.condition.size, "name": self.condition.name,
                "score": self.score, "episode_scores": list(self.episode_scores),
                "episode_lengths": list(self.episode_lengths)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionResult:
        return cls(Condition(str(data["kind"]), float(data.get("size") or 0.0)),
                   tuple(num(v) for v in data.get("episode_scores") or ()),
                   tuple(int(v) for v in data.get("episode_lengths") or ()))


def _order_key(result: ConditionResult) -> float:
    return -np.inf if result.score is None else result.score


@dataclass(frozen=True)
class StressReport:
    """A policy under every condition of a stress set, on the same episode seeds (stress.json)."""

    candidate: str
    seed: int  # the episodes' seed (their start states)
    episodes: int  # per condition
    threshold: float | None  # the task's success threshold
    episode_steps: int  # the task's full episode length (a shorter episode ended early)
    results: tuple[ConditionResult, ...]  # the baseline first

    @property
    def baseline(self) -> ConditionResult:
        return next(r for r in self.results if r.condition.kind == "baseline")

    @property
    def worst(self) -> ConditionResult:
        """The condition with the lowest mean task score, the baseline included (a score not finite is lowest)."""
        return min(self.results, key=_order_key)

    def rows(self) -> list[dict[str, str]]:
        """The table as `rewardsmith stress` prints it: per condition, the task score with its bootstrap 95%
        interval, the change from the baseline, the success rate with its Wilson interval, and the episodes that
        ended early."""
        rng = np.random.default_rng(self.seed)
        base, worst = self.baseline.score, self.worst
        rows = []
        for result in self.results:
            row = {"condition": result.condition.name + (" (worst)" if result is worst else ""), "score": "not "
                   "finite (a physics blow-up)", "change": "", "success": "",
                   "ended early": f"{sum(n < self.episode_steps for n in result.episode_lengths)}/{self.episodes}"}
            if result.score is not None:
                m = Measured(result.condition.name, (tuple(float(s or 0.0) for s in result.episode_scores),),
                             self.threshold)
                low, high = m.score_interval(rng)
                interval = m.success_interval()
                row["score"] = f"{m.score:.3f} [{low:.3f}, {high:.3f}]"
                row["change"] = "" if result is self.baseline or base is None else f"{result.score - base:+.3f}"
                row["success"] = "" if interval is None or m.success is None else \
                    f"{m.success:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "candidate": self.candidate, "seed": self.seed, "episodes": self.episodes,
                "threshold": self.threshold, "episode_steps": self.episode_steps, "worst": self.worst.condition.name,
                "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StressReport:
        return cls(str(data["candidate"]), int(data["seed"]), int(data["episodes"]), num(data.get("threshold")),
                   int(data["episode_steps"]), tuple(ConditionResult.from_dict(r) for r in data["results"]))


def stress(env: EnvSpec, task: Task, policy: Policy, candidate: str, chosen: Sequence[Condition],
           episodes: int = EPISODES, seed: int = STRESS_SEED) -> StressReport:
    """The policy under every chosen condition, each on the same `episodes` episode seeds."""
    results = tuple(run_condition(env, task, policy, condition, episodes, seed) for condition in chosen)
    return StressReport(candidate, seed, episodes, task.success_threshold, task.episode_steps, results)


def run_condition(env: EnvSpec, task: Task, policy: Policy, condition: Condition, episodes: int,
                  seed: int) -> ConditionResult:
    """`episodes` episodes of the policy under one condition."""
    if condition.kind == "mjx":
        from rewardsmith.evaluate.stress_mjx import MjxBatch

        sim: Any = MjxBatch(env, task.name, episodes, seed)
    else:
        base = mujoco.MjModel.from_xml_path(str(env.model_path))
        sim = NativeBatch(env, task.name, episodes, seed=seed, model=perturbed(base, condition))
    try:
        scores, lengths = _episodes(sim, env, task, policy, condition, np.random.default_rng([seed, 1]))
    finally:
        sim.close()
    return ConditionResult(condition, _finite(scores), tuple(int(x) for x in lengths))


def _episodes(sim: Any, env: EnvSpec, task: Task, policy: Policy, condition: Condition,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each episode's task score and length, scored as train/rollouts.py scores an evaluation; `sim` is a NativeBatch
    or an MjxBatch (evaluate/stress_mjx.py: no pushes there)."""
    n, steps = sim.num_envs, task.episode_steps
    alive, length, fitness = np.ones(n, dtype=bool), np.zeros(n), np.zeros(n)
    push_at = _push_steps(rng, n, steps) if condition.kind == "push" else np.zeros((n, 0), dtype=int)
    for step in range(steps):
        raw = sim.raw()
        obs = env.observation(raw.qpos, raw.qvel, sim.sensors(), np)
        if condition.kind == "noise":
            obs = obs + condition.size * np.sqrt(policy.obs_var + 1e-8) * rng.standard_normal(obs.shape)
        sim.step(policy.act(obs, sim.model.nu))
        pushed = np.flatnonzero((push_at == step).any(axis=1) & alive)
        if pushed.size:
            push(sim, pushed, condition.size, rng.choice([-1.0, 1.0], pushed.size))
        raw = sim.raw()
        s = env.state_view(raw.qpos, raw.qvel, sim.sensors(), np)
        live = alive.astype(np.float64)
        length += live
        if task.fitness is not None:
            fitness += live * np.asarray(task.fitness(s, np), dtype=np.float64)
        if task.terminate is not None:
            alive &= ~np.asarray(task.terminate(s, np), dtype=bool)
        if not alive.any():
            break
    return fitness / steps, length


def _push_steps(rng: np.random.Generator, n: int, steps: int) -> np.ndarray:
    """[n, PUSHES_PER_EPISODE] control steps at which each episode is pushed, from the middle 80% of the episode."""
    return rng.integers(steps // 10, max(steps // 10 + 1, steps - steps // 10), (n, PUSHES_PER_EPISODE))


def push(sim: NativeBatch, rows: np.ndarray, speed: float, signs: np.ndarray) -> None:
    """Kicks the envs `rows` of the batch: an impulse along x on the root body of speed x the robot's mass (N s),
    signed by `signs`, turned into a change of joint velocities (qvel += M^-1 J^T p); their sensors are recomputed."""
    model = sim.model
    data = mujoco.MjData(model)
    mass = float(model.body_mass[1:].sum())
    jac = np.zeros((3, model.nv))
    for row, sign in zip(rows, signs, strict=True):
        mujoco.mj_setState(model, data, sim.state[row], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        mujoco.mj_forward(model, data)  # positions, the Jacobian and the factored mass matrix
        mujoco.mj_jacBodyCom(model, data, jac, None, 1)
        impulse = jac.T @ np.array([sign * speed * mass, 0.0, 0.0])
        kick = np.zeros((1, model.nv))
        mujoco.mj_solveM(model, data, kick, impulse[None, :])
        data.qvel[:] += kick[0]
        mujoco.mj_forward(model, data)  # the sensors of the kicked state
        sim.set_velocity(row, data.qvel, data.sensordata)


def _finite(scores: np.ndarray) -> tuple[float | None, ...]:
    return tuple(float(x) if np.isfinite(x) else None for x in scores)


def robustness(env: EnvSpec, task: Task, policies: Sequence[Path], candidate: str,
               episodes: int = ROBUST_EPISODES, seed: int = STRESS_SEED) -> tuple[Robustness, list[StressReport]]:
    """The cheap stress set (native physics) on each training seed's policy: the Robustness a candidate record keeps
    for `evolve --select-robust`, and each seed's full report."""
    chosen = conditions()
    reports = [stress(env, task, Policy.load(path), candidate, chosen, episodes, seed) for path in policies]
    return summary_of(reports), reports


def summary_of(reports: Sequence[StressReport]) -> Robustness:
    """What a candidate record keeps of its seeds' reports: each one's worst case and baseline."""
    return Robustness(worst=tuple(r.worst.condition.name for r in reports),
                      worst_scores=tuple(r.worst.episode_scores for r in reports),
                      baseline_scores=tuple(r.baseline.episode_scores for r in reports),
                      conditions=max((len(r.results) for r in reports), default=0))


def write_reports(path: Path, reports: Sequence[StressReport]) -> None:
    """stress.json: the reports of a candidate's stressed policies (one per training seed), written atomically."""
    write_json(path, {"schema": SCHEMA_VERSION, "reports": [r.to_dict() for r in reports]})


def read_reports(path: Path) -> list[StressReport]:
    return [StressReport.from_dict(r) for r in read_json(path)["reports"]]


def stress_all(ctx: RunContext, candidates: list[Candidate]) -> list[Candidate]:
    """evolve --select-robust: the policies (one per training seed) of every candidate the selection rule compares
    (evaluated at the full budget: halving's losers are never compared, so never stressed) under the cheap stress
    set; its record keeps the worst case (Robustness), stress.json the reports. A candidate stressed already on as
    many seeds (a resumed generation) is left as it is."""
    return [_stressed(ctx, c) if comparable(c) and not _stressed_already(c) else c for c in candidates]


def _stressed_already(cand: Candidate) -> bool:
    return cand.stress is not None and len(cand.stress.worst) == max(1, len(cand.seeds))


def _stressed(ctx: RunContext, cand: Candidate) -> Candidate:
    policies = ctx.store.policy_paths(cand)
    if not all(path.is_file() for path in policies):  # not compared by its worst case (confidence.measured)
        return cand
    started = time.monotonic()
    measured, reports = robustness(ctx.env, ctx.task, policies, cand.id)
    write_reports(ctx.store.stress_path(cand.generation, cand.index), reports)
    ctx.report(Stressed(cand.id, measured.worst[0], measured.worst_score, measured.baseline_score,
                        time.monotonic() - started))
    stressed = cand.replace(stress=measured)
    ctx.store.save_candidate(stressed)
    return stressed
