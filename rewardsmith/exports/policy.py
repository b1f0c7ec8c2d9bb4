"""A candidate's trained policy -> policy.npz plus a sibling .py: a standalone numpy inference function."""

from __future__ import annotations

import shutil
from pathlib import Path

from rewardsmith.exports.formats import ExportError
from rewardsmith.exports.reward import check_output, chosen_candidate, env_folder
from rewardsmith.runs.store import RunStore, write_text

_INFERENCE = '''"""Policy exported by rewardsmith from run {run}, candidate {cand} (env {env}, task {task!r}).

{score}Usage (needs numpy only):
    import numpy as np
    from {module} import load_policy
    act = load_policy("{npz}")                  # the .npz next to this file
    action = act(observation)                   # observation [..., obs_dim] -> deterministic action in [-1, 1]
The observation is the env's `observation()` ({env_folder}/env.py), e.g. the gymnasium env
rewardsmith/{env}-{task}-v0's observations. The .npz holds the observation normalizer (obs_mean, obs_var, obs_clip)
and the MLP layers policy.<i>.w / policy.<i>.b.
"""

from pathlib import Path

import numpy as np


def _activation(name):
    if name == "tanh":
        return np.tanh
    if name == "swish":
        return lambda x: x / (1.0 + np.exp(-x))
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    raise ValueError(f"unknown activation {{name!r}}")


def load_policy(path=Path(__file__).with_suffix(".npz")):
    """A function observation -> deterministic action."""
    flat = np.load(path)
    count = sum(1 for k in flat.files if k.startswith("policy.") and k.endswith(".w"))
    layers = [(flat[f"policy.{{i}}.w"], flat[f"policy.{{i}}.b"]) for i in range(count)]
    mean, var, clip = flat["obs_mean"], flat["obs_var"], float(flat["obs_clip"])
    act, squash, action_dim = _activation(str(flat["activation"])), bool(flat["squash"]), flat["log_std"].shape[-1]

    def policy(obs):
        x = (np.asarray(obs) - mean) / np.sqrt(var + 1e-8)
        x = (x if np.isnan(clip) else np.clip(x, -clip, clip)).astype(np.float32)
        for w, b in layers[:-1]:
            x = act(x @ w + b)
        out = (x @ layers[-1][0] + layers[-1][1])[..., :action_dim]
        return np.tanh(out) if squash else np.clip(out, -1.0, 1.0)
    return policy
'''


def export_policy(store: RunStore, candidate_id: str | None, output: Path, force: bool = False) -> tuple[Path, Path]:
    """Copy the candidate's policy.npz to `output` (.npz) and write `output` with .py: its inference function."""
    if output.suffix != ".npz":
        raise ExportError(f"{output}: a policy export is written as .npz (e.g. -o policy.npz)")
    cand = chosen_candidate(store, candidate_id)
    source = store.work_dir(cand.generation, cand.index) / "policy.npz"
    if not source.is_file():
        raise ExportError(f"candidate {cand.id} has no trained policy ({source} is missing)")
    script = output.with_suffix(".py")
    check_output(output, force)
    check_output(script, force)
    config = store.config()
    fitness = cand.evaluation.fitness_mean if cand.evaluation else None
    score = f"Task score after training: {fitness:.3f}.\n\n" if fitness is not None else ""
    text = _INFERENCE.format(run=store.root.name, cand=cand.id, env=config.env, env_folder=env_folder(config.env),
                             task=config.task, score=score, module=script.stem, npz=output.name)
    tmp = output.with_name(output.name + ".tmp")
    shutil.copyfile(source, tmp)
    write_text(script, text)
    tmp.replace(output)
    return output, script
