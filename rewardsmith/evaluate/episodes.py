"""Which evaluation episodes a candidate's film shows, and what its end card says.

The score is a mean over E evaluation episodes; the film shows one of them, so it must be the one that stands for
the score: the representative is the episode whose task score is closest to the median episode score (ties: the
lower index). A mean can hide a failure (14 episodes kneel, 2 fall over: the score still looks good), so the worst
episode (the lowest score; a score that is not finite, a physics blow-up, is the lowest) is filmed too when the
spread is large. Large means a person watching both would see different behaviour, one of:

  a success split      the representative reaches the task's success threshold and the worst does not: the score
                       says "solved" for an episode that failed;
  a gap in score       the worst scores more than SPREAD_SHARE (half) of the task's success threshold below the
                       representative. The threshold is the only per-task scale that means something to a person
                       (the score that counts as doing the task: 0.5 of a kneeling episode, 1 m/s of a hop), so half
                       of it is half the task; the episode-score spread itself is no scale (it is large for a
                       policy that learned nothing and wobbles between 0.01 and 0.03). A task without a threshold
                       uses the largest episode score's magnitude instead;
  an early end         the worst episode was ended by the task's termination (it fell) and the representative
                       ran the full episode: a fall is a failure even when the lost steps cost little score.

The end card: after its last alive step the film holds that state with a mark (evaluate/mark.py): a border green
for a success, red for a failure, grey where the task has no threshold or the run is blind, and lines saying which
episode it is, its score against the threshold and whether it ended early. A blind run's card leaves out the score
and the success (blind review hides them); the episode's end is behaviour, which the film shows anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rewardsmith.env.task import Task
from rewardsmith.evaluate.mark import FAILURE, NEUTRAL, SUCCESS, Mark
from rewardsmith.records import FilmedEpisode

SPREAD_SHARE = 0.5  # of the success threshold (or the largest episode score's magnitude): a large gap


@dataclass(frozen=True)
class EpisodePick:
    """The episodes a film shows: indices into the evaluation's episodes."""

    representative: int
    worst: int | None  # None: the spread is not large (or there is one episode)
    spread: str | None  # why the worst is shown, in words


def representative(scores: Sequence[float | None]) -> int:
    """The episode whose score is closest to the median of the finite scores (ties: the lower index); 0 when no
    score is finite."""
    finite = {i: s for i, s in enumerate(scores) if s is not None and math.isfinite(s)}
    if not finite:
        return 0
    ordered = sorted(finite.values())
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return min(finite, key=lambda i: (abs(finite[i] - median), i))


def worst(scores: Sequence[float | None]) -> int:
    """The episode with the lowest score (a score that is not finite is the lowest; ties: the lower index)."""
    return min(range(len(scores)), key=lambda i: (_or_lowest(scores[i]), i))


def choose(scores: Sequence[float | None], lengths: Sequence[int], task: Task) -> EpisodePick:
    """The representative episode and, when the spread is large, the worst, from each episode's score (empty: the
    task has no fitness) and length in control steps."""
    if len(scores) != len(lengths):  # no score for each traced episode: nothing to choose by
        return EpisodePick(0, None, None)
    rep = representative(scores)
    low = worst(scores)
    if low == rep:
        return EpisodePick(rep, None, None)
    why = spread_reason(scores, lengths, rep, low, task)
    return EpisodePick(rep, low if why else None, why)


def spread_reason(scores: Sequence[float | None], lengths: Sequence[int], rep: int, low: int,
                  task: Task) -> str | None:
    """Why the worst episode `low` is filmed next to the representative `rep` (the module's rule), or None."""
    threshold, steps = task.success_threshold, task.episode_steps
    mine, theirs = scores[rep], scores[low]
    if mine is None:
        return None
    if theirs is None:
        return f"episode {low + 1}'s score is not finite (the physics blew up)"
    if threshold is not None and mine >= threshold > theirs:
        reached = sum(1 for s in scores if s is not None and s >= threshold)
        return (f"a success split: {reached} of {len(scores)} episodes reach the success threshold {threshold:g}; "
                f"the worst, episode {low + 1}, scores {theirs:.3g}")
    unit = abs(threshold) if threshold else max(abs(s) for s in scores if s is not None)
    if unit > 0 and mine - theirs > SPREAD_SHARE * unit:
        what = f"the success threshold {threshold:g}" if threshold else "the largest episode score"
        return (f"the worst episode ({low + 1}) scores {theirs:.3g}, {mine - theirs:.3g} below the representative's "
                f"{mine:.3g}: more than {SPREAD_SHARE:g} of {what}")
    if lengths[low] < steps <= lengths[rep]:
        return (f"the worst episode ({low + 1}) ended early at step {lengths[low]} of {steps}; the representative "
                f"ran all {steps}")
    return None


def filmed_episode(role: str, index: int, scores: Sequence[float | None], lengths: Sequence[int], task: Task,
                   video: str, frames: int = 0) -> FilmedEpisode:
    """The record of episode `index` as a film shows it."""
    score = scores[index] if index < len(scores) else None
    threshold = task.success_threshold
    success = None if threshold is None or score is None else score >= threshold
    return FilmedEpisode(video=video, role=role, episode=index, episodes=len(lengths), score=score,
                         steps=int(lengths[index]), ended_early=int(lengths[index]) < task.episode_steps,
                         success=success, frames=frames)


def end_mark(episode: FilmedEpisode, task: Task, blind: bool = False) -> Mark:
    """The end card of a filmed episode: its border colour and lines (the module's docstring)."""
    which = "the episode" if episode.episodes <= 1 else \
        f"{episode.role} episode {episode.episode + 1} of {episode.episodes}"
    lines = [which]
    colour = NEUTRAL
    if not blind and episode.score is not None:
        threshold = task.success_threshold
        if episode.success is None:
            lines.append(f"score {episode.score:.3g}")
        else:
            verdict = "SUCCESS" if episode.success else "NOT A SUCCESS"
            lines.append(f"{verdict}: score {episode.score:.3g} (threshold {threshold:g})")
            colour = SUCCESS if episode.success else FAILURE
    if episode.ended_early:
        lines.append(f"ENDED EARLY: terminated at step {episode.steps} of {task.episode_steps}")
    else:
        lines.append(f"ran all {task.episode_steps} steps")
    return Mark(tuple(lines), colour)


def _or_lowest(score: float | None) -> float:
    return score if score is not None and math.isfinite(score) else -math.inf
