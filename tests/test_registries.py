"""One registry idiom for every pluggable part: names listed, unknown names refused in one line with the valid
ones, factories called only when a part is asked for."""

from __future__ import annotations

import pytest

from rewardsmith.execute.executors import EXECUTORS, LocalExecutor
from rewardsmith.exports import FORMATS
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.jobs import JOBS
from rewardsmith.registry import Registry, UnknownNameError
from rewardsmith.train.trainers import TRAINERS


@pytest.mark.parametrize("registry, names, flag", [
    (TRAINERS, ("native", "mjx", "population"), "--trainer"),
    (RANKERS, ("metrics", "synthetic", "human", "judge", "hybrid"), "--feedback"),
    (EXECUTORS, ("local", "ray"), "--executor"),
    (JOBS, ("check", "train", "population", "play", "selftest"), "sandbox job"),
    (FORMATS, ("numpy", "gymnasium", "jax", "torch", "isaaclab"), "--format"),
])
def test_each_registry_lists_its_names_and_refuses_others(registry, names, flag):
    assert registry.names() == names
    with pytest.raises(UnknownNameError) as err:
        registry.get("nope")
    assert str(err.value) == f"unknown {flag} 'nope'; valid: {', '.join(names)}"
    assert registry.check(names[0]) == names[0]


def test_factories_run_only_when_asked_and_names_are_unique():
    calls = []
    registry: Registry[str] = Registry("thing")
    registry.register("a", lambda: calls.append("a") or "made a")
    assert calls == []
    assert registry.get("a") == "made a" and calls == ["a"]
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        registry.register("a", lambda: "again")


def test_the_local_executor_is_the_default():
    assert isinstance(EXECUTORS.get("local")(), LocalExecutor)
