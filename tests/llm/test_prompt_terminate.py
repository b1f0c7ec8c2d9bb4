"""evolve --evolve-termination in the prompts: the first prompt explains the optional terminate(s, xp) beside the
task's own rule only with the flag; the reflection shows the share of training episodes it ended."""

from __future__ import annotations

import dataclasses

from builders import evaluated
from test_prompting import _ctx

from rewardsmith.llm.prompting import first_prompt
from rewardsmith.llm.reflect import reflection
from rewardsmith.program.terminate import LEARNED_TERMINATION


def test_the_first_prompt_explains_terminate_only_with_the_flag(tmp_path):
    plain = first_prompt(_ctx(tmp_path / "a"))
    flagged = first_prompt(_ctx(tmp_path / "b", evolve_termination=True))
    assert "def terminate(s, xp)" not in plain and "terminate" not in plain.replace("terminated", "")
    assert "def terminate(s, xp)" in flagged and "training only" in flagged
    assert "s['torso_up'] < 0.3" in flagged.split("def terminate")[1]  # the task's own rule, beside it


def test_the_prompt_says_when_the_task_has_no_termination_of_its_own(tmp_path):
    flagged = first_prompt(_ctx(tmp_path, env="half_cheetah", task="run", evolve_termination=True))
    assert "The task itself never ends an episode early" in flagged


def test_the_reflection_shows_the_share_of_episodes_terminate_ended():
    cand = evaluated(0, 0, 0.5)
    curve = tuple(dataclasses.replace(p, extra={**p.extra, LEARNED_TERMINATION: share})
                  for p, share in zip(cand.train.curve, (0.25, 0.1, 0.0, 0.0), strict=False))
    text = reflection(dataclasses.replace(cand, train=dataclasses.replace(cand.train, curve=curve)), 200)
    assert "that your terminate ended" in text and "0.25" in text
    assert "your terminate" not in reflection(cand, 200)
