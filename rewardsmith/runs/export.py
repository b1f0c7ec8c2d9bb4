"""A reward -> a standalone Python module that needs numpy (or jax) and nothing of rewardsmith."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.records import Candidate
from rewardsmith.runs.store import RunStore, write_text

_HEADER = '''"""Reward exported by rewardsmith from run {run}, candidate {cand} (env {env}, task {task!r}).

{score}
Usage:
    import numpy as np            # or: import jax.numpy as jnp, and pass xp=jnp inside jit/vmap
    from {module} import reward
    total, terms = reward(s, action, xp=np)
`s` is a dict of the env's named state arrays (rewardsmith's envs/{env}/state_view.py documents every field) with
leading batch dimensions; `action` has shape [..., n]. total = sum(SCALES[k] * terms[k]).
"""

'''

_FOOTER = '''

def reward(s, action, xp):
    """Total reward and the per-term values."""
    terms = reward_terms(s, action, xp)
    total = sum(SCALES[name] * terms[name] for name in SCALES)
    return total, terms
'''


class ExportError(ValueError):
    """The named candidate has no trained reward, or the output file cannot be written."""


def _chosen(store: RunStore, candidate_id: str | None) -> Candidate:
    if candidate_id is None:
        best = (store.load_result() or {}).get("best")
        if best is None:
            best = next((s.best_overall for g in reversed(store.generations())
                         if (s := store.load_selection(g)) and s.best_overall), None)
        if best is None:
            raise ExportError(f"run {store.root} has no evaluated candidate yet; name one with --candidate")
        candidate_id = best
    cand = store.find_candidate(candidate_id)
    if cand.source is None or not cand.source.strip():
        raise ExportError(f"candidate {candidate_id} has no reward program ({cand.status.value}: {cand.reason})")
    return cand


def export_reward(store: RunStore, candidate_id: str | None, output: Path, force: bool = False) -> Path:
    cand = _chosen(store, candidate_id)
    if output.exists() and not force:
        raise ExportError(f"{output} already exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise ExportError(f"directory {output.parent} does not exist")
    config = store.config()
    evaluation = cand.evaluation
    fitness = evaluation.fitness_mean if evaluation else None
    score = f"Task score after training: {fitness:.3f} (success rate {evaluation.success_rate}).\n" \
        if evaluation and fitness is not None else ""
    header = _HEADER.format(run=store.root.name, cand=cand.id, env=config.env, task=config.task,
                            score=score, module=output.stem)
    write_text(output, header + (cand.source or "").strip() + "\n" + _FOOTER)
    return output
