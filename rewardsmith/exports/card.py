"""A reward card: one folder a person can hand to a colleague, holding a run's answer and everything needed to judge
and replay it (`rewardsmith export RUN --card -o DIR`; `rewardsmith replay DIR` checks and retrains it).

    DIR/README.md        for a person: what the reward teaches, how well, how sure, at what cost, how to replay/use
    DIR/card.json        everything machine-readable (schema CARD_SCHEMA): provenance hashes and versions, the training
                         config, the measurement a replay is compared with, the selection, the cost, the files
    DIR/reward.py        the reward program, exactly the text that was trained (its sha256 is in card.json)
    DIR/policy.npz, policy.py   the trained policy and its numpy inference function (exports/policy.py)
    DIR/config.json      the run's full config
    DIR/video.mp4, strip.png, worst.mp4   the candidate's film, where it was filmed
    DIR/curve.json, curve.png   the candidate's training curve (task score, return, each reward term over steps)

The writer only copies and hashes text and files: it never imports or runs the reward program. The reward is a
parameter (CardReward): the run's answer by default; another reward (ablation's pruned one) comes with its own origin
in words and, where it was measured, its own measurement, while the policy, film and curves stay the candidate's.
The folder is built next to DIR and renamed into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import ast
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.exports.card_readme import readme
from rewardsmith.exports.formats import ExportError
from rewardsmith.exports.policy import export_policy
from rewardsmith.exports.provenance import provenance_here
from rewardsmith.exports.reproduce import RULE, Measurement
from rewardsmith.exports.reward import chosen_candidate, pruned_program
from rewardsmith.program.terminate import defines_terminate
from rewardsmith.records import Candidate, CurvePoint
from rewardsmith.runs.cost import run_cost
from rewardsmith.runs.plots import term_curves
from rewardsmith.runs.store import RunStore, read_json, write_json, write_text

CARD_SCHEMA = 1  # card.json's "schema"; a replay refuses a card of a newer schema in one line
CARD_FILE = "card.json"
REWARD_FILE = "reward.py"
DEFAULT_REPLAY_SEEDS = 3  # `replay --seeds`: a mean and a seed spread need a few seeds; each is a full training


@dataclass(frozen=True)
class CardReward:
    """The reward a card hands on: its program text, where it came from in words, and its measurement: per seed,
    the episodes' task scores of trainings of THIS program (None: not measured; a replay then has nothing to compare
    with). write_card's default is the candidate's own program with the run's measurement (run_measurement); the
    pruned reward of an ablation passes its own program and its own retrained seeds."""

    source: str
    origin: str
    measurement: Measurement | None = None


def pruned_card_reward(store: RunStore, cand: Candidate) -> CardReward:
    """The pruned reward `rewardsmith ablate` wrote for `cand`, measured by the ablation's own retraining of it (its
    seeds' evaluation episodes, in ablation.json): `export --card --pruned`."""
    source = pruned_program(store, cand)
    ablation = read_json(store.ablation_path(cand.id))
    kept = next((p for p in ablation.get("pruned") or () if p.get("as_well")), None)
    scores = (kept or {}).get("row", {}).get("episode_scores") or {}
    threshold = resolve_task(get_env(store.config().env), store.config().task).success_threshold
    measurement = Measurement("the ablation's retraining of the pruned reward", tuple(int(s) for s in scores),
                              tuple(tuple(float(x) for x in v) for v in scores.values()),
                              tuple(int(ablation["steps"]) for _ in scores), threshold) if scores else None
    dropped = ", ".join((kept or {}).get("dropped") or ())
    return CardReward(source, f"the reward `rewardsmith ablate` pruned from {cand.id} (without {dropped})",
                      measurement)


def check_card_output(out: Path, force: bool) -> None:
    """DIR must be a new or empty folder in a writable folder; --force replaces only a folder that is a card."""
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):  # an empty folder made for the card will do
        if not (out.is_dir() and (out / CARD_FILE).is_file()):
            raise ExportError(f"{out} exists and is not a reward card; give a new folder for the card")
        if not force:
            raise ExportError(f"{out} already holds a card; pass --force to replace it")
    if not out.parent.is_dir():
        raise ExportError(f"directory {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {out.parent} (permission denied); choose a folder you can write to")


def write_card(store: RunStore, out: Path, candidate_id: str | None = None, reward: CardReward | None = None,
               force: bool = False, pruned: bool = False) -> Path:
    """The card of `candidate_id` (default: the run's answer) in folder `out`; returns `out`. `pruned`: the card
    hands on the reward ablate pruned from it (with its own measurement), not the candidate's program."""
    cand = chosen_candidate(store, candidate_id)
    check_card_output(out, force)
    if pruned and reward is None:
        reward = pruned_card_reward(store, cand)
    reward = reward or CardReward(cand.source or "", "the candidate's program, as trained in the run",
                                  run_measurement(store, cand))
    tmp, old = (out.with_name(f".{out.name}.{os.getpid()}.{what}") for what in ("tmp", "old"))
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        tmp.mkdir()
        _fill(store, cand, reward, tmp)
        if out.exists():  # an empty folder, or a card --force replaces: kept aside until the new one is in place
            out.rename(old)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():  # the new card did not land: the old one stays
            old.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    return out


def _fill(store: RunStore, cand: Candidate, reward: CardReward, folder: Path) -> None:
    cfg = store.config()
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    training = RunContext(store, cfg, env, task, lambda event: None).training_config(0)  # as confirm.py trains
    write_text(folder / REWARD_FILE, reward.source)
    write_json(folder / "config.json", read_json(store.root / "config.json"))
    files = {"reward": REWARD_FILE, "config": "config.json", **_policy(store, cand, folder),
             **_film(store, cand, folder), **_curves(cand, folder)}
    provenance = provenance_here(env, task, reward.source)
    as_trained = reward.source == cand.source  # else the policy, film and curves are of the candidate's own program
    measurement = reward.measurement
    card: dict[str, Any] = {
        "schema": CARD_SCHEMA, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": {"id": store.root.name, "path": str(store.root.resolve())}, "candidate": cand.id,
        "env": cfg.env, "task": {"name": task.name, "text": cfg.task, "description": task.description,
                                 "fitness_doc": task.fitness_doc, "success_doc": task.success_doc,
                                 "success_threshold": task.success_threshold, "episode_steps": task.episode_steps,
                                 "fitness_version": task.fitness_version, "has_fitness": task.has_fitness},
        "reward": {"file": REWARD_FILE, "origin": reward.origin, "as_trained": as_trained,
                   "scales": literal_scales(reward.source), "terminate": defines_terminate(reward.source),
                   "terms": list(cand.check.terms) if cand.check and as_trained else None},
        "provenance": provenance.to_dict(),
        "training": {"trainer": cfg.trainer, "config": asdict(training), "search_steps": cand.total_steps,
                     "inherits": cand.inherits},
        "measurement": measurement.to_dict() if measurement is not None else None,
        "search": _search(cand), "selection": _selection(store), "cost": run_cost(store).to_dict(),
        "replay": {"default_seeds": DEFAULT_REPLAY_SEEDS, "used_seeds": sorted(_used_seeds(store, cand)),
                   "first_seed": cfg.seed + cfg.final_seeds + 1, "rule": RULE},
        "files": files,
    }
    write_json(folder / CARD_FILE, card)
    write_text(folder / "README.md", readme(card))


def literal_scales(source: str) -> dict[str, float] | None:
    """The program's SCALES as written (read from its syntax tree, never run); None where it is not a literal dict
    of numbers."""
    try:
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets):
                value = ast.literal_eval(node.value)
                return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else None
    except (SyntaxError, ValueError, TypeError):
        return None
    return None


def run_measurement(store: RunStore, cand: Candidate) -> Measurement | None:
    """The run's measurement of the candidate: its confirmation from scratch (RUN/final/<id>/) where the run made
    one, else its search trainings; None where the episodes' scores were not recorded (runs before they were)."""
    threshold = resolve_task(get_env(store.config().env), store.config().task).success_threshold
    summary = store.final_dir() / cand.id / "summary.json"
    if summary.is_file():
        seeds = [s for s in read_json(summary).get("seeds") or () if s.get("status") == "ok"]
        if seeds and all(s.get("episode_scores") for s in seeds):
            return Measurement("the run's confirmation from scratch", tuple(int(s["seed"]) for s in seeds),
                               tuple(tuple(float(x) for x in s["episode_scores"]) for s in seeds),
                               tuple(int(s.get("steps") or 0) for s in seeds), threshold)
    if cand.seeds:
        per_seed = [(s.seed, s.episode_scores, s.steps) for s in cand.seeds]
    elif cand.evaluation is not None and cand.train is not None:
        per_seed = [(cand.train.seed, cand.evaluation.episode_scores, cand.train.steps)]
    else:
        return None
    if not all(scores and all(x is not None for x in scores) for _, scores, _ in per_seed):
        return None
    what = "the search's training" + (f" (from {cand.inherits}'s policy)" if cand.inherits else "")
    return Measurement(what, tuple(seed for seed, _, _ in per_seed),
                       tuple(tuple(float(x) for x in scores if x is not None) for _, scores, _ in per_seed),
                       tuple(steps for _, _, steps in per_seed), threshold)


def _used_seeds(store: RunStore, cand: Candidate) -> set[int]:
    """Training seeds the card's numbers rest on (a replay takes others)."""
    used = {s.seed for s in cand.seeds} | ({cand.train.seed} if cand.train is not None else set())
    summary = store.final_dir() / cand.id / "summary.json"
    if summary.is_file():
        used |= {int(s["seed"]) for s in read_json(summary).get("seeds") or ()}
    return used


def _policy(store: RunStore, cand: Candidate, folder: Path) -> dict[str, str]:
    if not (store.work_dir(cand.generation, cand.index) / "policy.npz").is_file():
        return {}
    npz, script = export_policy(store, cand.id, folder / "policy.npz")
    return {"policy": npz.name, "policy_inference": script.name}


def _film(store: RunStore, cand: Candidate, folder: Path) -> dict[str, str]:
    """The film's files as the candidate's record names them (video, strip, the worst episode's video)."""
    film = cand.film
    names = {"video": film.video if film else None, "strip": film.strip if film else None,
             "worst_video": film.worst.video if film and film.worst else None}
    copied = {}
    for role, name in names.items():
        source = store.cand_dir(cand.generation, cand.index) / name if name else None
        if source is not None and source.is_file():
            shutil.copyfile(source, folder / source.name)
            copied[role] = source.name
    return copied


def _curves(cand: Candidate, folder: Path) -> dict[str, str]:
    if cand.train is None or not cand.train.curve:
        return {}
    write_json(folder / "curve.json", {"candidate": cand.id, "points": [asdict(p) for p in cand.train.curve]})
    _plot_curve(cand, cand.train.curve, folder / "curve.png")
    return {"curve": "curve.json", "curve_plot": "curve.png"}


def _plot_curve(cand: Candidate, curve: tuple[CurvePoint, ...], out: Path) -> None:
    """Two panels over training steps: the task score per step (and the episode return), and each reward term's
    scaled contribution per episode (runs/plots.py's term curves)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), dpi=100, sharex=True)
    steps = [p.step for p in curve]
    if any(p.fitness is not None for p in curve):
        top.plot(steps, [p.fitness for p in curve], "o-", color="C3", label="task score")
        top.set_ylabel("task score")
    returns = top.twinx()
    returns.plot(steps, [p.episode_return for p in curve], color="C0", alpha=0.5, label="episode return")
    returns.set_ylabel("episode return (own reward)")
    top.set_title(f"{cand.id}: training curve")
    for term, points in sorted(term_curves(cand).items()):
        bottom.plot([s for s, _ in points], [v for _, v in points], label=term)
    bottom.set_xlabel("training step")
    bottom.set_ylabel("scaled term per episode")
    if term_curves(cand):
        bottom.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _search(cand: Candidate) -> dict[str, Any]:
    """The candidate as the search measured it (its first seed's evaluation; its seeds' means)."""
    ev = cand.evaluation
    return {"status": cand.status_text, "fitness": cand.fitness, "success_rate": cand.success_rate,
            "return_mean": ev.return_mean if ev else None, "episodes": ev.episodes if ev else None,
            "seeds": len(cand.seeds) or 1, "origin": cand.origin, "model": cand.model}


def _selection(store: RunStore) -> dict[str, Any]:
    """Each generation's pick and who decided it, and the run's answer with its statement (result.json)."""
    generations = []
    for gen in store.generations():
        selection = store.load_selection(gen)
        if selection is not None:
            generations.append({"generation": gen, "best": selection.best, "best_overall": selection.best_overall,
                                "best_overall_fitness": selection.best_overall_fitness,
                                "decided_by": selection.decided_by_text,
                                "statement": selection.choice.statement() if selection.choice else None})
    result = store.load_result() or {}
    choice = result.get("choice") or {}
    return {"generations": generations, "answer": result.get("best"), "search_best": result.get("search_best"),
            "statement": choice.get("statement"), "confident": choice.get("confident"), "rule": choice.get("rule"),
            "p_best": choice.get("p_best"), "contenders": choice.get("contenders"),
            "confirmed": sorted((result.get("confirmed") or {}).keys())}
