"""The program's own termination (evolve --evolve-termination): extraction, the static policy, the pre-flight check
(a terminate that always ends or ends at the start is caught; never ending is fine), and training ORs it into the
episode ends (shorter training episodes, counted in the curve) while the evaluation keeps the task's own episodes."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.check import check_reward
from rewardsmith.program.extract import extract_program
from rewardsmith.program.load import load_reward
from rewardsmith.program.static import static_check
from rewardsmith.program.terminate import LEARNED_TERMINATION, REMOVED_WARNING, admitted, without_terminate

REWARD = (get_env("cartpole").reference_reward_path("balance")).read_text()
RIGHT = "\n\ndef terminate(s, xp):\n    return s['cart_x'] > 0.2\n"  # ends when the cart moves right


def with_terminate(body: str) -> str:
    return REWARD + f"\n\ndef terminate(s, xp):\n    {body}\n"


def test_extraction_keeps_terminate_in_the_program_or_from_a_block_of_its_own():
    together = extract_program(f"Idea.\n```python\n{REWARD + RIGHT}```\n")
    assert together.has_terminate and "def terminate(s, xp)" in together.source
    apart = extract_program(f"```python\n{REWARD}```\nand to end episodes:\n```python{RIGHT}```\n")
    assert apart.has_terminate and apart.source.count("def terminate") == 1
    assert not extract_program(f"```python\n{REWARD}```").has_terminate


def test_a_run_without_the_flag_removes_terminate_and_says_so():
    source, warning = admitted(REWARD + RIGHT, evolve_termination=False)
    assert "terminate" not in source and warning == REMOVED_WARNING
    assert without_terminate(REWARD + RIGHT).strip() == REWARD.strip()
    assert admitted(REWARD + RIGHT, evolve_termination=True) == (REWARD + RIGHT, None)
    assert admitted(REWARD, evolve_termination=False) == (REWARD, None)


def test_static_policy_wants_terminate_of_s_and_xp():
    bad = static_check(REWARD + "\n\ndef terminate(s, action, xp):\n    return s['cart_x'] > 0.2\n")
    assert any("terminate must take exactly the parameters (s, xp)" in v.message for v in bad)
    assert not static_check(REWARD + RIGHT)


@pytest.mark.parametrize("body, message", [
    ("return s['cart_x'] > -100.0", "terminate is True on all 64 sampled states"),
    ("return s['pole_upright'] > 0.5", "initial states"),
    ("return (s['cart_x'] > 0.2).astype(xp.float32)", "must return a bool array of shape (64,)"),
    ("return s['no_such_field'] > 0", "terminate failed with numpy"),
    ("return xp.asarray(s['cart_x'].tolist()) > 5.0", "terminate fails under jax.jit(jax.vmap(...))"),
])
def test_preflight_catches_a_broken_terminate(body, message):
    report = check_reward("cartpole", "balance", with_terminate(body), samples=64)
    assert not report.passed and any(message in e for e in report.errors), report.errors


def test_preflight_passes_a_terminate_that_never_ends_or_ends_off_the_start():
    for body in ("return s['cart_x'] > 100.0", "return s['cart_x'] > 0.2"):
        report = check_reward("cartpole", "balance", with_terminate(body), samples=64)
        assert report.passed, report.errors


def test_training_ors_terminate_in_and_the_evaluation_keeps_the_tasks_episodes():
    from rewardsmith.train.native import train_native
    from rewardsmith.train.rollouts import evaluate

    env = get_env("cartpole")
    task = env.task("balance")
    cfg = train_config_for(env.ppo, steps=8192, checkpoints=2, seed=3)
    plain, ended = load_reward(REWARD), load_reward(REWARD + RIGHT)
    assert plain.terminate is None and ended.terminate is not None
    alone = train_native(env, task, plain, cfg)
    both = train_native(env, task, ended, cfg)
    assert all(LEARNED_TERMINATION not in p.extra for p in alone.curve)
    shares = [p.extra[LEARNED_TERMINATION] for p in both.curve]
    assert all(s is not None and 0.0 < s <= 1.0 for s in shares), shares
    assert both.curve[0].episodes > alone.curve[0].episodes  # the same steps, cut into more (shorter) episodes
    assert both.curve[0].episode_length < alone.curve[0].episode_length
    # the evaluation of one policy is the same whether its reward has a terminate or not, even one that would end
    # every episode at its first step (loaded without the pre-flight check): the task's own episodes
    always = load_reward(with_terminate("return s['cart_x'] > -100.0"))
    with_program, _ = evaluate(env, task, always, both.policy, 4, seed=11, trace=False)
    without, _ = evaluate(env, task, plain, both.policy, 4, seed=11, trace=False)
    assert with_program.fitness_mean == without.fitness_mean
    assert with_program.episode_length_mean == without.episode_length_mean
    assert with_program.episode_length_mean > 1 and np.isfinite(with_program.fitness_mean)


def test_llm_free_with_evolve_termination_needs_an_init_reward():
    from rewardsmith.config import RunConfig
    from rewardsmith.errors import UserError

    with pytest.raises(UserError, match="--evolve-termination .* --llm-free"):
        RunConfig(env="cartpole", task="balance", evolve_termination=True).validate()
    RunConfig(env="cartpole", task="balance", evolve_termination=True, init_source=REWARD + RIGHT).validate()
    RunConfig(env="cartpole", task="balance", evolve_termination=True, models=("openai/x",)).validate()


@pytest.mark.parametrize("flag", [False, True])
def test_the_check_stage_keeps_terminate_only_with_the_flag_and_tells_the_llm_otherwise(tmp_path, flag):
    from rewardsmith.config import RunConfig
    from rewardsmith.context import RunContext
    from rewardsmith.env.registry import resolve_task
    from rewardsmith.execute.check_stage import check_all
    from rewardsmith.llm.reflect import check_warnings
    from rewardsmith.records import Sample
    from rewardsmith.runs.store import RunStore

    cfg = RunConfig(env="cartpole", task="balance", models=("openai/fake",), evolve_termination=flag)
    spec = get_env("cartpole")
    ctx = RunContext(RunStore.create(tmp_path, "run", cfg), cfg, spec, resolve_task(spec, "balance"), lambda e: None)
    [cand] = check_all(ctx, 0, 0, [Sample(text=f"```python\n{REWARD + RIGHT}```", error=None)])
    assert cand.check is not None and cand.check.passed, cand.reason
    assert ("def terminate" in (cand.source or "")) is flag
    assert (REMOVED_WARNING in check_warnings([cand])) is not flag  # the next prompt's warnings
    assert ctx.store.reward_path(0, 0).read_text() == cand.source
