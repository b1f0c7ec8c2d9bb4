"""Records for tests, built through rewardsmith.records (never hand-made dicts)."""

from __future__ import annotations

from rewardsmith.records import Candidate, CurvePoint, Evaluation, Status, TermStats, TrainResult

# a cart-pole reward that passes the check and learns (the fake LLM's "good" answer in the end-to-end tests)
GOOD = '''SCALES = {"upright": 1.0, "centred": 0.2, "alive": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    return {
        "upright": s["pole_upright"],
        "centred": xp.exp(-s["cart_x"] ** 2),
        "alive": xp.ones_like(s["cart_x"]),
        "effort": xp.sum(action ** 2, axis=-1),
    }
'''

SOURCE = '''SCALES = {scales!r}


def reward_terms(s, action, xp):
    # {marker}
    return {{"upright": s["pole_upright"], "alive": xp.ones_like(s["cart_x"]), "effort": xp.sum(action ** 2, axis=-1)}}
'''


def evaluated(gen: int, index: int, fitness: float | None, scales: dict | None = None, marker: str | None = None,
              success_rate: float = 0.75) -> Candidate:
    """An evaluated cart-pole candidate with a two-point training curve."""
    scales = scales or {"upright": 1.0 + index, "alive": 0.5, "effort": -0.01}
    cid = Candidate.make_id(gen, index)
    point = CurvePoint(step=1000, episode_return=12.5, episode_length=40.0, fitness=0.123456,
                       terms={"upright": 9.0, "alive": 3.5, "effort": -0.25}, wall_s=0.5)
    terms = {k: TermStats(scale=v, episode_sum=1.0, per_step_mean=0.5, per_step_std=0.0 if k == "alive" else 0.1)
             for k, v in scales.items()}
    return Candidate(
        id=cid, generation=gen, index=index, status=Status.EVALUATED,
        source=SOURCE.format(scales=scales, marker=marker or f"program {cid}"), scales=scales,
        train=TrainResult(steps=2000, wall_s=1.0, steps_per_s=2000.0, curve=(point, point)),
        evaluation=Evaluation(episodes=16, fitness_mean=fitness, fitness_std=0.01, success_rate=success_rate,
                              return_mean=20.0, episode_length_mean=77.0, terms=terms),
    )


def failed(gen: int, index: int, status: Status = Status.CHECK_FAILED,
           reason: str = "term 'alive' has shape (3,) but the batch shape is (8,)") -> Candidate:
    scales = {"upright": 1.0 + index, "alive": 0.5, "effort": -0.01}
    cid = Candidate.make_id(gen, index)
    return Candidate(id=cid, generation=gen, index=index, status=status, reason=reason,
                     source=SOURCE.format(scales=scales, marker=f"program {cid}"), scales=scales)


NOISE = ("wall_s", "cpu_s", "steps_per_s", "seconds", "per_call_ms")  # how long things took: all that may differ between runs


def without_noise(value):
    """A record with its timings left out, for comparing what two runs (local and Ray, say) recorded."""
    if isinstance(value, dict):
        return {k: without_noise(v) for k, v in value.items() if k not in NOISE}
    if isinstance(value, list):
        return [without_noise(v) for v in value]
    return value
