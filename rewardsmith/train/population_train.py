"""Training a population (population.py's program) from the host: checkpoints, progress, failures, early stop at
success, the final batched evaluation, and each member's TrainOutcome.

Checkpoints: each member's learner slice and curve go to `<folder>/checkpoint.npz`, so successive halving continues
the survivors in a new, smaller population (the batch is re-laid at each rung: one compile per rung).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.task import Task
from rewardsmith.program.compose import compose
from rewardsmith.program.load import LoadedReward
from rewardsmith.records import EVAL_SEED, CurvePoint, Evaluation
from rewardsmith.train.native import (
    EVAL_FITNESS,
    EVAL_SUCCESS,
    INHERITED_OBSERVATIONS,
    STOP_EVAL_SEED,
    STOPPED_AT_SUCCESS,
)
from rewardsmith.train.policy import Policy, Progress, TrainingStopped, TrainOutcome
from rewardsmith.train.population import Learner, Member, Program, Sim, bad_reason, run_chunks, slice_view
from rewardsmith.train.population_eval import Evaluator
from rewardsmith.train.ppo import inherited_params, to_numpy

CHECKPOINT_FILE = "checkpoint.npz"
MemberProgress = Callable[[str, CurvePoint], None]  # (member key, point)


@dataclass
class MemberResult:
    key: str
    outcome: TrainOutcome | None = None
    evaluation: Evaluation | None = None
    trace: dict | None = None
    reason: str | None = None  # why it failed (None: trained)
    stopped_early: bool = False  # --stop-at-success stopped it before its budget


def trace_failure(sim: Sim, reward: LoadedReward, num_envs: int) -> str | None:
    """Why the reward cannot be traced under JAX on this env's state view (None: it can). Abstract evaluation
    only: nothing is compiled or run."""
    data = sim.draw(jnp.arange(num_envs) % sim.bank_size)

    def terms(data, action):
        raw = reward.reward_terms(slice_view(sim.view(data), 0, 1, num_envs), action, jnp)
        return compose(reward.scales, raw, jnp, (num_envs,), jnp.float32)[0]
    try:
        jax.eval_shape(terms, data, jnp.zeros((num_envs, sim.nu), jnp.float32))
    except Exception as err:  # untrusted code: any error is the program's, reported to the LLM
        return f"the reward does not trace under JAX (the population trainer runs it as jax.numpy): " \
               f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return None


def save_member(path: Path, learner: Learner, k: int, curve: list[CurvePoint], succeeded: bool) -> None:
    part = jax.device_get(jax.tree_util.tree_map(lambda a: a[k], learner))
    leaves = jax.tree_util.tree_leaves((part.params, part.opt_state))
    meta = {"iteration": int(part.iteration), "succeeded": succeeded, "curve": [dataclasses.asdict(p) for p in curve]}
    normalizers = {name: np.asarray(getattr(part, name)) for name in
                   ("obs_mean", "obs_var", "obs_count", "ret_mean", "ret_var", "ret_count")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    arrays = {"meta": np.array(json.dumps(meta)), **normalizers,
              **{f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}}
    np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    tmp.replace(path)


def load_member(path: Path, learner: Learner, k: int) -> tuple[Learner, list[CurvePoint], bool]:
    """`learner` with member k's slice replaced by the checkpoint at `path` (made with the same settings), its
    curve, and whether it had stopped at success."""
    with np.load(path) as saved:
        meta = json.loads(str(saved["meta"]))
        tree = (learner.params, learner.opt_state)
        count = len(jax.tree_util.tree_leaves(tree))
        if sum(1 for name in saved.files if name.startswith("leaf_")) != count:
            raise TrainingStopped(f"the checkpoint {path.name} was made with other network settings; it cannot be "
                                  "continued")
        leaves = [leaf.at[k].set(jnp.asarray(saved[f"leaf_{i}"]))
                  for i, leaf in enumerate(jax.tree_util.tree_leaves(tree))]
        params, opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(tree), leaves)
        normalizers = {name: getattr(learner, name).at[k].set(jnp.asarray(saved[name])) for name in
                       ("obs_mean", "obs_var", "obs_count", "ret_mean", "ret_var", "ret_count")}
    learner = learner._replace(params=params, opt_state=opt_state, iteration=learner.iteration.at[k].set(
        meta["iteration"]), **normalizers)
    return learner, [CurvePoint.from_dict(p) for p in meta["curve"]], bool(meta.get("succeeded", False))


def inherit_member(learner: Learner, k: int, start: Policy, cfg: TrainConfig) -> Learner:
    """`learner` with member k starting from `start` (evolve --inherit), as the native trainer's inherit_state: its
    networks (inherited_params) and its observation normaliser, weighed as INHERITED_OBSERVATIONS."""
    part = jax.tree_util.tree_map(lambda a: a[k], learner.params)
    try:
        params = inherited_params(part, start, cfg)
    except ValueError as err:
        raise TrainingStopped(str(err)) from None
    stacked = jax.tree_util.tree_map(lambda whole, one: whole.at[k].set(one), learner.params, params)
    return learner._replace(params=stacked,
                            obs_mean=learner.obs_mean.at[k].set(jnp.asarray(start.obs_mean, learner.obs_mean.dtype)),
                            obs_var=learner.obs_var.at[k].set(jnp.asarray(start.obs_var, learner.obs_var.dtype)),
                            obs_count=learner.obs_count.at[k].set(float(INHERITED_OBSERVATIONS)))


def policy_of(learner: Learner, k: int) -> Policy:
    part = jax.device_get(jax.tree_util.tree_map(lambda a: a[k], learner))
    return Policy(params=to_numpy(part.params), obs_mean=np.asarray(part.obs_mean, np.float64),
                  obs_var=np.asarray(part.obs_var, np.float64))


def train_population(env: EnvSpec, task: Task, members: list[Member], cfg: TrainConfig,
                     progress: MemberProgress = lambda key, point: None, folders: list[Path] | None = None,
                     eval_seed: int = EVAL_SEED) -> list[MemberResult]:
    """Trains every member to cfg.steps env steps (continuing from `folders[k]/checkpoint.npz` where there and
    saving it there at the end), evaluates them all together, and returns one MemberResult per member in order.
    With cfg.stop_at_success, a member whose evaluated success rate reaches cfg.stop_success_rate at a checkpoint
    stops there (as the native trainer: the decision's episodes are not the final evaluation's)."""
    start = time.monotonic()
    sim = Sim(env, task, seed=members[0].seed)
    results = {m.key: MemberResult(m.key) for m in members}
    for m in members:
        results[m.key].reason = trace_failure(sim, m.reward, cfg.num_envs)
    ready = [m for m in members if results[m.key].reason is None]
    if ready:
        _train(sim, ready, cfg, progress, folders and [folders[members.index(m)] for m in ready], eval_seed,
               results, start)
    return [results[m.key] for m in members]


def _train(sim: Sim, members: list[Member], cfg: TrainConfig, progress: MemberProgress, folders: list[Path] | None,
           eval_seed: int, results: dict[str, MemberResult], start: float) -> None:
    program = Program(sim, members, cfg)
    learner, envs = program.start()
    curves: list[list[CurvePoint]] = [[] for _ in members]
    for k, member in enumerate(members):
        if member.start is not None:
            learner = inherit_member(learner, k, member.start, cfg)
    for k, folder in enumerate(folders or []):
        if (folder / CHECKPOINT_FILE).is_file():
            learner, curves[k], succeeded = load_member(folder / CHECKPOINT_FILE, learner, k)
            results[members[k].key].stopped_early = succeeded  # a continued training stays stopped
    if any(results[m.key].stopped_early for m in members):
        learner = learner._replace(live=jnp.asarray([not results[m.key].stopped_early for m in members]))
    first_iteration = np.asarray(learner.iteration).copy()
    evaluator = Evaluator(program, cfg.eval_episodes)
    final_starts = evaluator.starts(eval_seed)
    evaluator.compile_in_background(learner, final_starts)
    judge = judge_success(evaluator, members, results, cfg, sim.task)
    per_iteration = program.N * program.T

    def on_chunk(learner: Learner, points: list[CurvePoint]) -> Learner:
        live, bad = np.asarray(learner.live), np.asarray(learner.bad)
        for k, member in enumerate(members):
            result = results[member.key]
            if result.reason is not None or result.stopped_early:
                continue
            if bad[k] != -1:
                result.reason = bad_reason(member, int(bad[k]), points[k].step + per_iteration)
        if judge is not None:
            learner, points = judge(learner, points)
        for k, member in enumerate(members):
            if live[k] and results[member.key].reason is None:
                curves[k].append(points[k])
                progress(member.key, points[k])
        return learner

    iterations = cfg.whole_batch_steps // per_iteration
    learner, _ = run_chunks(program, learner, envs, iterations, cfg.checkpoints, on_chunk, cfg.time_budget_s, start)
    wall = time.monotonic() - start
    evaluations = evaluator(learner, final_starts)
    done = np.asarray(learner.iteration)
    for k, member in enumerate(members):
        result = results[member.key]
        if result.reason is not None:
            continue
        if done[k] < iterations and not result.stopped_early:
            result.reason = f"training exceeded its time budget of {cfg.time_budget_s:.0f} s at step " \
                            f"{int(done[k]) * per_iteration}"
            continue
        policy = policy_of(learner, k)
        if folders:
            save_member(folders[k] / CHECKPOINT_FILE, learner, k, curves[k], result.stopped_early)
        trained_now = int(done[k] - first_iteration[k]) * per_iteration
        result.outcome = TrainOutcome(policy=policy, curve=curves[k], steps=int(done[k]) * per_iteration, wall_s=wall,
                                      steps_per_s=trained_now / wall, reached_success=result.stopped_early)
        result.evaluation, result.trace = evaluations[k]


def judge_success(evaluator: Evaluator, members: list[Member], results: dict[str, MemberResult], cfg: TrainConfig,
                  task: Task):
    """With cfg.stop_at_success and a task with a success threshold: judge(learner, points) -> (learner, points)
    evaluates every member on the decision's own episodes, adds eval_success / eval_fitness (and
    stopped_at_success where it stops) to each live member's point and stops those that reached the rate."""
    if not cfg.stop_at_success or task.fitness is None or task.success_threshold is None:
        return None
    starts = evaluator.starts(STOP_EVAL_SEED + cfg.seed)

    def judge(learner: Learner, points: list[CurvePoint]) -> tuple[Learner, list[CurvePoint]]:
        live = np.asarray(learner.live).copy()
        if not live.any():
            return learner, points
        judged = list(points)
        for k, (evaluation, _) in enumerate(evaluator(learner, starts)):
            if not live[k]:
                continue
            rate = evaluation.success_rate or 0.0
            extra = {EVAL_SUCCESS: rate, EVAL_FITNESS: evaluation.fitness_mean}
            if rate >= cfg.stop_success_rate and points[k].step >= cfg.success_from_step:
                live[k], extra[STOPPED_AT_SUCCESS] = False, 1.0
                results[members[k].key].stopped_early = True
            judged[k] = dataclasses.replace(points[k], extra={**points[k].extra, **extra})
        return learner._replace(live=jnp.asarray(live)), judged

    return judge


def train_population_alone(env: EnvSpec, task: Task, reward: LoadedReward, cfg: TrainConfig,
                           progress: Progress = lambda step, point: None,
                           checkpoint: Path | None = None, start: Policy | None = None) -> TrainOutcome:
    """The population trainer with one member, as a registered trainer (`train(env, task, reward, cfg, ...)`): for
    single trainings (final re-evaluation seeds) outside a generation's population job."""
    folders = [checkpoint.parent] if checkpoint is not None else None
    [result] = train_population(env, task, [Member("alone", reward, cfg.seed, start)], cfg,
                                lambda key, point: progress(point.step, point), folders)
    if result.outcome is None:
        raise TrainingStopped(result.reason or "the population trainer returned nothing")
    return result.outcome
