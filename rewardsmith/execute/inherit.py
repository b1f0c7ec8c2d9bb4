"""Children start from their parent's policy (evolve --inherit), in the line of ROSKA (AAAI 2025).

From generation 1 on, a generation's checked candidates start their search trainings (every seed, every halving
rung's first) from the trained policy of the run's best so far (the parent): its policy network and observation
normaliser, and, by TrainConfig.inherit_value / inherit_log_std, its value function and action noise. Everything
else starts anew: the optimizer, the return normaliser, the iteration count, the curve and whether it reached
success, so a child earns its success under its own reward. Its record names the parent and the env steps behind
the parent's policy (Candidate.inherits, .inherited_steps), counted on top of its own when candidates are compared.

Budget: an inheriting child trains INHERIT_SHARE (train/trainers.py) of the budget (halving's rungs scaled alike),
and a stop at success counts only after every env lived TrainConfig.inherit_earn_episodes (8) whole episodes of its
own training (earn_mark): a policy that already does the task would otherwise stop at its first checkpoint, before
its new reward had shaped it at all. The mark is in episodes, as the fine-tuning dip below is, not a share of the
budget (the first rule, a quarter of it, is 12 episodes per env on kneel and 10 on hopper, and 1.6 where a budget
is small). Measured on the LLM-free humanoid kneel arm (K=4 x 3, --parallel 2, one seed; children of a parent at
success stop at the mark): 12 episodes searched in 22.2 min and its answer scored 0.914 retrained from scratch; 4
episodes in 15.4 min, but its generation-1 children ranked differently (Kendall tau 0.33 against 12's; a different
parent) and its answer scored 0.782 from scratch, no better than generation 0's best (0.794); 8 episodes in 20.1
min, the same generation-1 parent as 12's (tau 0.67), and the same answer from scratch. Fewer episodes measure the
parent's policy more than the child's reward.

Who starts fresh (ROSKA's blend of an old policy and a fresh one, decided by the parent's state): where the parent
reached the task's success (its success rate at least the stop mark), every child inherits: the parent does the task,
and the run's answer is retrained from scratch anyway (--final-seeds: the confirmation says whether the reward teaches
a fresh policy). Where it did not, every child starts fresh: a policy that does not do the task is no head start. The
first rule (one child in four fresh, the others from any parent) made the README's quick start worse: cart-pole at
57,344 steps, children of a 0.411 parent trained on half the budget scored 0.310 and then 0.334, where the run
without --inherit went 0.411 -> 0.782 -> 1.000; a parent stuck in a poor behaviour held three children in four there.

Too short a budget: a child inherits only where its own budget lets every env live TrainConfig.inherit_min_episodes
(4) whole episodes, so that even halving's first rung (a quarter of it) holds one. Fine-tuning starts with a dip (the
fresh optimizer and return normaliser, a value function fitted to another reward) that takes several updates to climb
out of. Measured on cart-pole balance (a live islands run's parent at task score 1.0 and success 1.0, fine-tuned under
its own reward, 64 envs, 500-step episodes, evaluated on 16 episodes): 16,384 steps (half an episode per env) ended at
1.0 / 0.32 / 0.31 / 0.28 / 0.31 on seeds 1-5; 32,768 (one episode) at 1.0 on seeds 3-5; 65,536 at 1.0 on seeds 1-2.
In that live run (32,768 steps, so 16,384 per child) all eight children of generations 1 and 2 scored 0.42-0.44
against their parent's 1.0, and the LLM read the fall as its rewards' fault.

The confirmation from scratch (execute/confirm.py) and the re-evaluation seeds never inherit. An inheriting child's
scores rest on its parent's steps as well as its own, so they are not a fresh reward's: in a live kneel run the
children scored 0.91-0.92 in the search (1.4-1.6M steps behind each policy) and the pick 0.807 retrained from scratch,
below its from-scratch parent's 0.823 in the search. So where the confirmation's contenders inherited, the best
candidate trained from scratch (fresh_rival) is confirmed with them, and the answer is decided on fresh seeds alone.
"""

from __future__ import annotations

import math
from pathlib import Path

from rewardsmith.config import TrainConfig
from rewardsmith.context import RunContext
from rewardsmith.records import Candidate, Status
from rewardsmith.train.trainers import children_inherit

POLICY_FILE = "policy.npz"  # a training's policy in its workdir (jobs/train.py writes it)


def with_inheritance(ctx: RunContext, candidates: list[Candidate], parent: Candidate | None) -> list[Candidate]:
    """The generation's candidates with the checked ones that inherit marked (all unchanged without --inherit, without
    a parent, where the parent has not reached success, or where its policy is not on disk)."""
    if (not children_inherit(ctx.cfg, ctx.training_config(), ctx.task.episode_steps) or parent is None
            or parent.train is None or not parent_succeeded(ctx, parent) or parent_policy(ctx, parent) is None):
        return candidates
    behind = parent.train.steps + parent.inherited_steps
    return [c.replace(inherits=parent.id, inherited_steps=behind) if c.status is Status.CHECKED else c
            for c in candidates]


def earn_mark(cfg: TrainConfig, budget: int, episode_steps: int) -> int:
    """The env steps an inheriting child trains before its stop at success counts: every env's
    cfg.inherit_earn_episodes whole episodes, in whole PPO iterations as the trainer counts them (rounded up), at
    most its whole budget."""
    wanted = cfg.inherit_earn_episodes * cfg.num_envs * episode_steps
    whole = cfg.with_overrides(steps=max(1, budget)).whole_batch_steps
    return min(whole, math.ceil(wanted / cfg.batch_steps) * cfg.batch_steps)


def parent_succeeded(ctx: RunContext, parent: Candidate) -> bool:
    rate = parent.success_rate
    return rate is not None and rate >= ctx.training_config().stop_success_rate


def parent_policy(ctx: RunContext, parent: Candidate) -> Path | None:
    """The parent's trained policy (its first seed's), or None where it is not there."""
    path = ctx.store.work_dir(parent.generation, parent.index) / POLICY_FILE
    return path if path.is_file() else None


def fresh_rival(ctx: RunContext, contenders: list[Candidate]) -> Candidate | None:
    """The best candidate of the run trained from scratch (by the selection rule), to be confirmed beside
    `contenders` when any of them inherited; None when none inherited, or it is among them already, or there is
    none."""
    from rewardsmith.confidence import choose

    if not any(c.inherits for c in contenders):
        return None
    fresh = [c for g in ctx.store.generations() for c in ctx.store.candidates(g) if c.inherits is None]
    best = choose(fresh, ctx.task.success_threshold, seed=ctx.cfg.seed * 7919 + 31337,
                  robust=ctx.cfg.select_robust).best
    if best is None or best in {c.id for c in contenders}:
        return None
    return ctx.store.find_candidate(best)
