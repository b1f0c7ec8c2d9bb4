"""TaskSpec: what the policy should do, how long, with what budget, and how success is measured.

The fitness metric is the task's ground truth for selection (Eureka's task fitness). It is never shown to the
LLM. It is computed per control step from the env's state view and averaged over the full episode length, so
an episode that terminates early scores 0 for its missing steps (falling over is never rewarded by fitness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    description: str  # the text the LLM sees
    episode_steps: int  # control steps per episode
    train_steps: int  # default training budget in env steps
    fitness: Callable | None = None  # (s: state view dict, xp) -> [...] per-step score; None = no metric
    fitness_doc: str = ""  # what the fitness measures, for people (never for the LLM)
    success_threshold: float | None = None  # an episode succeeds when its fitness >= this
    terminate: Callable | None = None  # (s, xp) -> bool [...]: end the episode (e.g. fell over)
    # For the LLM (unlike fitness_doc): when `terminate` ends an episode, in words that complete "An episode ends
    # early when ...". Must say what `terminate` does, no more; required for every task with a `terminate`.
    termination_doc: str = ""
    # For the LLM in the follow-up prompt (metrics mode): what the task score measures, with its units and range
    # per episode, in plain words, without the thresholds or implementation details of the fitness.
    score_doc: str = ""
    # For the LLM (first prompt and follow-ups with scores): the success rule in words with its thresholds, completing
    # "An episode counts as a success when ...": what the fitness counts and how much of it success_threshold asks
    # for, starting "its task score is at least <success_threshold>: ..." (tests/llm/test_prompting.py checks it);
    # honest to the fitness and the threshold, never the fitness code. Required for every task with a threshold.
    success_doc: str = ""
    # Bump whenever this task's fitness, success_threshold or terminate changes (and say why in the change), so that
    # scores measured before and after the change are never compared or ranked together. 1 = the original metric.
    fitness_version: int = 1

    @property
    def has_fitness(self) -> bool:
        return self.fitness is not None
