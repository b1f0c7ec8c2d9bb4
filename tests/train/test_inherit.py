"""Children start from their parent's policy (evolve --inherit, execute/inherit.py): the trainer starts from a given
policy and keeps what the settings say, a success stop waits for success_from_step, and an evolve marks, budgets and
trains its children from the parent's policy.

Cart-pole balance: the reference reward reaches success within ~50k steps on seed 1 (test_stop_at_success.py); one
PPO iteration (2,048 steps) from scratch balances for a few dozen steps. ~35 s on 2 cores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builders import evaluated, failed

from rewardsmith.bench.arms import summarize
from rewardsmith.config import RunConfig, train_config_for
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env
from rewardsmith.evolve import evolve, prepare
from rewardsmith.execute.inherit import POLICY_FILE, earn_mark, with_inheritance
from rewardsmith.execute.train_stage import request_for, rung_budgets
from rewardsmith.jobs.messages import INHERIT_FILE
from rewardsmith.program.load import load_reward
from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore
from rewardsmith.train.native import EVAL_SUCCESS, STOPPED_AT_SUCCESS, train_native
from rewardsmith.train.policy import TrainingStopped
from rewardsmith.train.ppo import init_params
from rewardsmith.train.rollouts import evaluate
from rewardsmith.train.trainers import INHERIT_SHARE

BUDGET = 200_704  # 98 iterations of 64 envs x 32 steps
ONE_ITERATION = 64 * 32


@pytest.fixture(scope="module")
def cartpole():
    env = get_env("cartpole")
    task = env.task("balance")
    reward = load_reward(env.reference_reward_path("balance").read_text())
    cfg = train_config_for(env.ppo, steps=BUDGET, checkpoints=49, seed=1, stop_at_success=True)
    parent = train_native(env, task, reward, cfg)
    assert parent.reached_success, "the reference reward balances the pole within the budget"
    return env, task, reward, parent.policy


def _score(env, task, reward, policy) -> float:
    evaluation, _ = evaluate(env, task, reward, policy, 16, 777, trace=False)
    assert evaluation.fitness_mean is not None
    return evaluation.fitness_mean


def test_a_training_started_from_a_policy_keeps_what_it_learned(cartpole):
    env, task, reward, parent = cartpole
    cfg = train_config_for(env.ppo, steps=ONE_ITERATION, checkpoints=1, seed=5)
    fresh = train_native(env, task, reward, cfg)
    child = train_native(env, task, reward, cfg, start=parent)
    parent_score, fresh_score, child_score = (_score(env, task, reward, p) for p in (parent, fresh.policy,
                                                                                      child.policy))
    assert child.steps == fresh.steps == ONE_ITERATION  # its own bookkeeping: the parent's steps are not its own
    # one update with a fresh optimizer and return normaliser costs some of it (native.INHERITED_OBSERVATIONS)
    assert child_score >= 0.6 * parent_score and child_score > fresh_score + 0.3, (parent_score, fresh_score,
                                                                                   child_score)


def test_the_settings_say_what_is_kept_and_a_mismatched_policy_is_refused(cartpole, tmp_path):
    env, task, reward, parent = cartpole
    cfg = train_config_for(env.ppo, steps=ONE_ITERATION, checkpoints=1, seed=5, learning_rate=1e-12)
    kept = train_native(env, task, reward, cfg, start=parent).policy
    reset = train_native(env, task, reward, dataclasses.replace(cfg, inherit_value=False, inherit_log_std=False),
                         start=parent).policy
    fresh = init_params(cfg.seed, parent.obs_mean.size, len(parent.params["log_std"]), cfg)
    for policy in (kept, reset):  # a learning rate of ~0: the parameters are where the training began
        np.testing.assert_allclose(policy.params["policy"][0]["w"], parent.params["policy"][0]["w"], atol=1e-5)
    np.testing.assert_allclose(kept.params["value"][0]["w"], parent.params["value"][0]["w"], atol=1e-5)
    np.testing.assert_allclose(kept.params["log_std"], parent.params["log_std"], atol=1e-5)
    np.testing.assert_allclose(reset.params["value"][0]["w"], np.asarray(fresh["value"][0]["w"]), atol=1e-5)
    np.testing.assert_allclose(reset.params["log_std"], cfg.init_log_std, atol=1e-5)
    wider = dataclasses.replace(cfg, hidden=(32, 32))
    with pytest.raises(TrainingStopped, match="policy layers"):
        train_native(env, task, reward, wider, start=parent)


def test_a_success_stop_waits_for_success_from_step(cartpole):
    env, task, reward, parent = cartpole
    cfg = train_config_for(env.ppo, steps=12 * ONE_ITERATION, checkpoints=12, seed=5, stop_at_success=True)
    earn = 6 * ONE_ITERATION
    judged_at_once = train_native(env, task, reward, cfg, start=parent)
    assert EVAL_SUCCESS in judged_at_once.curve[0].extra  # without the setting its first checkpoint is judged
    later = train_native(env, task, reward, dataclasses.replace(cfg, success_from_step=earn), start=parent)
    assert later.reached_success and later.steps >= earn
    assert all(EVAL_SUCCESS not in p.extra for p in later.curve if p.step < earn)
    assert [p.step for p in later.curve if STOPPED_AT_SUCCESS in p.extra] == [later.steps]


def test_an_evolve_with_inherit_starts_its_children_from_the_parent(tmp_path):
    steps = 8 * ONE_ITERATION
    # the stop mark at 0: this tiny budget's parent counts as doing the task, so its children inherit (a parent below
    # the mark hands nothing on: test_only_a_parent_that_does_the_task_hands_its_policy_on)
    cfg = RunConfig(env="cartpole", task="balance", iterations=2, samples=2, train_steps=steps, seed=1, video=False,
                    halving=False, inherit=True, final_seeds=1, race_seeds=0,
                    train={"stop_success_rate": 0.0, "inherit_min_episodes": 0.0})  # a child of 8,192 steps inherits
    prepare(cfg, live=False)
    store = RunStore.create(tmp_path, "inherit", cfg)
    result = evolve(store, cfg)
    assert result.best is not None
    gen0, gen1 = store.candidates(0), store.candidates(1)
    assert all(c.inherits is None and c.inherited_steps == 0 for c in gen0)
    parent = store.find_candidate(store.load_selection(0).best_overall)
    inheriting = gen1  # a parent that does the task hands its policy to every child
    assert all(c.status is Status.EVALUATED for c in gen1)
    for cand in gen1:
        starts = cand in inheriting
        assert cand.inherits == (parent.id if starts else None)
        assert cand.inherited_steps == (parent.train.steps if starts else 0)
        assert cand.train.steps == (int(steps * INHERIT_SHARE) if starts else steps)
        assert (store.work_dir(1, cand.index) / INHERIT_FILE).is_file() == starts
        assert cand.total_steps == cand.train.steps + cand.inherited_steps
    assert f"from {parent.id}'s policy" in inheriting[0].status_text
    # a child's success counts after every env lived inherit_earn_episodes (8) whole episodes of its own (8 x 64
    # envs x 500 steps), never past the budget it trains, so a child can stop within halving's first rung of a 5M
    # budget; in whole PPO iterations rounded up (4 episodes, 128,000 steps: 63 iterations of 2,048 are 1,024 short)
    big = dataclasses.replace(cfg, train_steps=5_000_000)
    ctx = RunContext(store, big, get_env("cartpole"), get_env("cartpole").task("balance"), lambda event: None)
    first_rung = request_for(ctx, inheriting[0], 0, rung_budgets(5_000_000, 4)[0]).cfg
    assert first_rung.batch_steps == 2_048 and first_rung.num_envs == 64
    assert first_rung.success_from_step == 256_000 < first_rung.whole_batch_steps == 624_640
    assert earn_mark(first_rung.with_overrides(inherit_earn_episodes=4.0), 2_500_000, 500) == 129_024
    assert earn_mark(first_rung, 100_000, 500) == 98_304  # a budget shorter than the mark: the mark is its end
    # the benchmark's line counts each training once, the parent's steps where the parent trained
    arm = summarize("inherit", store.root, 1.0, 0.0)
    assert arm.search_steps == sum(c.train.steps for c in gen0 + gen1) and arm.best == result.best.id
    assert arm.confirm_steps == sum(s.steps for summary in result.confirmation.summaries.values()
                                    for s in summary.seeds)
    assert arm.fresh.startswith("from scratch on 1 seeds")
    # scores on a parent's steps are not a fresh reward's: the confirmation has a candidate trained from scratch too
    confirmed = [store.find_candidate(cid) for cid in result.confirmation.summaries]
    assert any(c.inherits for c in confirmed) and any(c.inherits is None for c in confirmed)


@pytest.mark.parametrize("parent_success, inherits", [(0.75, False), (0.8, True), (1.0, True)])
def test_only_a_parent_that_does_the_task_hands_its_policy_on(tmp_path, parent_success, inherits):
    # 256,000 steps: a child's 128,000 give each of cart-pole's 64 envs 4 whole 500-step episodes
    cfg = RunConfig(env="cartpole", task="balance", iterations=2, samples=3, inherit=True, train_steps=256_000)
    store = RunStore.create(tmp_path, "rule", cfg)
    ctx = RunContext(store, cfg, get_env("cartpole"), get_env("cartpole").task("balance"), lambda event: None)
    parent = evaluated(0, 1, 0.5, success_rate=parent_success)
    store.work_dir(0, 1).mkdir(parents=True)
    (store.work_dir(0, 1) / POLICY_FILE).write_bytes(b"a policy")
    children = [dataclasses.replace(evaluated(1, i, None), status=Status.CHECKED, train=None, evaluation=None)
                for i in range(3)] + [failed(1, 3)]
    marked = with_inheritance(ctx, children, parent)
    assert [c.inherits for c in marked] == [parent.id if inherits else None] * 3 + [None]  # never a failed one
    assert [c.inherited_steps for c in marked[:3]] == [parent.train.steps if inherits else 0] * 3


def test_inherit_is_refused_with_a_trainer_that_cannot_start_from_a_policy():
    from rewardsmith.errors import UserError

    with pytest.raises(UserError, match="--inherit needs a trainer"):
        prepare(RunConfig(env="cartpole", task="balance", trainer="mjx", inherit=True), live=False)


@pytest.mark.slow  # the population trainer on MJX-on-CPU: ~1-2 min of compiling on 2 cores
def test_a_population_member_starts_from_a_policy(cartpole):
    from rewardsmith.train.population import Member
    from rewardsmith.train.population_train import train_population

    env, task, reward, parent = cartpole
    cfg = train_config_for(env.ppo, steps=ONE_ITERATION, checkpoints=1, seed=5)
    fresh, child = train_population(env, task, [Member("fresh", reward, 5), Member("child", reward, 5, parent)], cfg)
    assert fresh.outcome is not None and child.outcome is not None
    assert child.outcome.steps == fresh.outcome.steps == ONE_ITERATION
    parent_score, fresh_score, child_score = (_score(env, task, reward, p) for p in (
        parent, fresh.outcome.policy, child.outcome.policy))
    assert child_score >= 0.6 * parent_score and child_score > fresh_score + 0.3, (parent_score, fresh_score,
                                                                                   child_score)


def test_population_jobs_group_requests_by_their_settings(tmp_path):
    """The population trainer trains a job's members alike: --inherit's children (a shorter budget) go in a job of
    their own, the seeds of one setting stay together."""
    from rewardsmith.config import TrainConfig
    from rewardsmith.execute.sandboxed import TrainRequest, same_settings

    def request(key, steps, seed):
        return TrainRequest(key, "cartpole", "balance", "", TrainConfig(steps=steps, seed=seed), tmp_path / key)

    groups = same_settings([request("a", 100, 0), request("b", 50, 1), request("c", 100, 2), request("d", 50, 3)])
    assert [[r.key for r in g] for g in groups] == [["a", "c"], ["b", "d"]]


@pytest.mark.slow  # the population trainer on MJX-on-CPU, two generations: ~3-6 min of compiling on 2 cores
@pytest.mark.timeout(2400)
def test_an_evolve_with_the_population_trainer_inherits_and_allocates_adaptively(tmp_path):
    """Issue 26: inheritance and the adaptive allocation work with the population trainer too. Generation 0's
    candidates share halving's spend in slices, trained together (one population job per round of equal slices);
    generation 1's children start from the parent's policy."""
    steps = 8 * ONE_ITERATION
    cfg = RunConfig(env="cartpole", task="balance", iterations=2, samples=3, train_steps=steps, seed=1, video=False,
                    trainer="population", allocation="adaptive", inherit=True, final_seeds=0, race_seeds=0,
                    train={"inherit_min_episodes": 0.0})
    prepare(cfg, live=False)
    store = RunStore.create(tmp_path, "population", cfg)
    result = evolve(store, cfg)
    assert result.best is not None
    gen0, gen1 = store.candidates(0), store.candidates(1)
    assert all(c.status is Status.EVALUATED and c.train.trainer == "population" for c in gen0 + gen1), \
        [c.reason for c in gen0 + gen1]
    assert len({c.train.steps for c in gen0}) > 1  # the slices went unevenly: not every candidate trained alike
    assert max(c.train.steps for c in gen0) <= steps
    parent = store.find_candidate(store.load_selection(0).best_overall)
    inheriting = [c for c in gen1 if c.inherits]
    assert inheriting and all(c.inherits == parent.id and c.inherited_steps == parent.train.steps for c in inheriting)
    # a population job places each member's start in the member's folder of the generation's population job
    placed = {path.parent.name.split("_seed")[0] for path in store.population_dir(1).rglob(INHERIT_FILE)}
    assert placed == {c.id for c in inheriting}
    for cand in gen1:
        assert cand.train.steps <= (int(steps * INHERIT_SHARE) if cand.inherits else steps)


@pytest.mark.parametrize(("steps", "inherits"), [(255_999, False), (256_000, True)])
def test_a_child_inherits_only_where_its_budget_holds_whole_episodes(tmp_path, steps, inherits):
    """A fine-tuned policy dips before it climbs back (execute/inherit.py): a child whose budget gives each env fewer
    than inherit_min_episodes (4) whole episodes starts fresh."""
    cfg = RunConfig(env="cartpole", task="balance", iterations=2, samples=2, inherit=True, train_steps=steps)
    store = RunStore.create(tmp_path, "short", cfg)
    ctx = RunContext(store, cfg, get_env("cartpole"), get_env("cartpole").task("balance"), lambda event: None)
    parent = evaluated(0, 0, 1.0, success_rate=1.0)
    store.work_dir(0, 0).mkdir(parents=True)
    (store.work_dir(0, 0) / POLICY_FILE).write_bytes(b"a policy")
    children = [dataclasses.replace(evaluated(1, i, None), status=Status.CHECKED, train=None, evaluation=None)
                for i in range(2)]
    assert [c.inherits for c in with_inheritance(ctx, children, parent)] == [parent.id if inherits else None] * 2
