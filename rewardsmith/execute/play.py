"""A trained policy re-filmed on a new seed (`rewardsmith play`, cli/play.py).

The policy is the candidate's policy.npz (as `export --policy` takes it; default: the run's best candidate). The
episode runs in the sandbox's "play" job, since its return is measured with the candidate's reward, which is
untrusted code; the job hands back one episode's Evaluation and its qpos trace (read back as untrusted data), filmed
here as the film stage films a candidate: to the episode's last alive step, then the end card that marks success
and an early end. Only the video stays: RUN/play/<id>-seed<S>.mp4, or -o FILE (then nothing is written into the
run). The job's folder (the policy's copy, the trace) is temporary, and a failed play leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.errors import UserError
from rewardsmith.records import Candidate, Evaluation
from rewardsmith.runs.store import RunStore


class PlayError(UserError):
    """The candidate cannot be played: no trained policy, the episode failed, the video cannot be made."""


@dataclass(frozen=True)
class Played:
    candidate: str
    seed: int
    video: Path
    frames: int  # all of the video's, the end card's included
    evaluation: Evaluation  # of the one episode
    episode_steps: int = 0  # the task's full episode length

    def summary(self) -> str:
        ev = self.evaluation
        score = "—" if ev.fitness_mean is None else f"{ev.fitness_mean:.3f}"
        ret = "—" if ev.return_mean is None else f"{ev.return_mean:.2f}"
        solved = "" if ev.success_rate is None else f" ({'solved' if ev.success_rate >= 1 else 'not solved'})"
        early = " (ended early)" if ev.episode_length_mean < self.episode_steps else ""
        return (f"{self.candidate} on seed {self.seed}: task score {score}{solved}, return {ret}, "
                f"{ev.episode_length_mean:.0f} of {self.episode_steps} steps{early}\nvideo: {self.video} "
                f"({self.frames} frames)")


def play(store: RunStore, candidate_id: str | None, seed: int, output: Path | None = None,
         wall_s: float = 600) -> Played:
    """Plays one episode of the candidate's trained policy on `seed`, films it and returns what happened."""
    # imported here, not at the top: `rewardsmith --help` imports this module
    from rewardsmith.env.registry import get_env
    from rewardsmith.evaluate.episodes import end_mark, filmed_episode
    from rewardsmith.evaluate.film import RenderError, film
    from rewardsmith.exports.reward import chosen_candidate

    if not 0 <= seed < 2**32:  # what numpy's generators take; checked before the sandbox is started
        raise PlayError(f"--seed must be an integer from 0 to {2**32 - 1}, got {seed}")
    cand = chosen_candidate(store, candidate_id)
    policy = store.work_dir(cand.generation, cand.index) / "policy.npz"
    if not policy.is_file():
        raise PlayError(f"candidate {cand.id} has no trained policy ({cand.status.value}"
                        f"{': ' + cand.reason if cand.reason else ''}); play an evaluated candidate (see "
                        f"`rewardsmith show {store.root}`)")
    name = f"{cand.id}-seed{seed}"
    video = Path(output) if output is not None else store.play_dir() / f"{name}.mp4"
    if output is not None:
        if video.suffix != ".mp4":
            raise PlayError(f"-o {video}: the video is written as .mp4 (e.g. -o {video.with_suffix('.mp4').name})")
        if video.exists():
            raise PlayError(f"-o {video} already exists; remove it or name another file")
        if not video.parent.is_dir():
            raise PlayError(f"-o {video}: directory {video.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix=f"rewardsmith-play-{name}-") as tmp:
        workdir = Path(tmp)
        shutil.copyfile(policy, workdir / "policy.npz")  # the sandbox reads only its own folder, not the run
        evaluation, trace, task = _play_episode(store, cand, seed, workdir, wall_s)
        episode = filmed_episode("played", 0, evaluation.episode_scores, [int(trace.lengths[0])], task, video.name)
        env = get_env(store.config().env)
        try:
            video.parent.mkdir(parents=True, exist_ok=True)
            made = film(env, trace.episode(0), trace.dt, video, mark=end_mark(episode, task))  # play prints the score
        except (RenderError, ValueError, OSError) as err:
            raise PlayError(f"cannot film {cand.id}: {err}") from None
    return Played(candidate=cand.id, seed=seed, video=video, frames=made["frames"], evaluation=evaluation,
                  episode_steps=task.episode_steps)


def _play_episode(store: RunStore, cand: Candidate, seed: int, workdir: Path, wall_s: float) -> tuple:
    """The episode in the sandbox: (its Evaluation, its qpos trace, the task); PlayError when it fails."""
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.evaluate.trace import TraceError, read_trace
    from rewardsmith.jobs import run_job
    from rewardsmith.jobs.messages import PlayJob, PlayResult
    from rewardsmith.sandbox.protocol import JobStatus
    from rewardsmith.sandbox.runner import Limits

    config = store.config()
    assert cand.source is not None, "chosen_candidate returns candidates with a program"
    result = run_job(PlayJob(config.env, config.task, cand.source, seed), workdir, Limits(wall_s=wall_s))
    played = PlayResult.from_untrusted(result.result) if result.status is JobStatus.OK else None
    if played is None or played.evaluation is None:
        status = result.status if played is None else played.status
        raise PlayError(f"the episode of {cand.id} failed in the sandbox ({status}): "
                        f"{result.reason or (played.reason if played else None) or 'no result'}")
    task = resolve_task(get_env(config.env), config.task)
    try:  # the trace is the sandbox's output: read as data, checked
        trace = read_trace(workdir / "trace.npz", task.episode_steps)
    except TraceError as err:
        raise PlayError(f"the episode of {cand.id} came back malformed ({err})") from None
    return played.evaluation, trace, task
