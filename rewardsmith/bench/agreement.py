"""Should a user trust the judge on their task? Where the task has a fitness metric, the judge ranks each generation
of a finished run from its films (exactly as --feedback judge would), and its ranking is compared with the fitness
ranking of the same candidates:

  Kendall tau   tau-b between the judge's order and the task scores (1: the same order, 0: unrelated, -1: reversed;
                candidates with equal scores count as ties)
  best hit      the judge's best candidate has the generation's highest task score
  worst hit     the judge's worst candidate has the generation's lowest task score

per generation and over the run (mean tau, hit rates). Only candidates with a finite task score of the task's
current fitness version and a film take part; a generation with fewer than two is skipped. The judge's requests,
its verdicts and the pictures it saw go to OUT/gen_XX/ (default RUN/judge_agreement/<time>/), never into the run's
own generations (they are not the run's spending). `python -m rewardsmith.bench judge --run RUN --judge-model M`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rewardsmith.context import open_run
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.feedback import judge
from rewardsmith.feedback.rankers import score
from rewardsmith.records import Status
from rewardsmith.runs.store import write_record


def kendall_tau(order: Sequence[str], scores: dict[str, float]) -> float | None:
    """tau-b between a ranking (best first, no ties) and scores (higher is better; ties allowed) over the ids in
    both; None when it is undefined (fewer than two ids, or every score equal)."""
    ids = [cid for cid in order if cid in scores]
    concordant = discordant = score_ties = pairs = 0
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):  # ids[i] is ranked above ids[j]
            pairs += 1
            diff = scores[ids[i]] - scores[ids[j]]
            if diff > 0:
                concordant += 1
            elif diff < 0:
                discordant += 1
            else:
                score_ties += 1
    denominator = math.sqrt(pairs * (pairs - score_ties))
    return (concordant - discordant) / denominator if denominator else None


def generation_agreement(order: Sequence[str], scores: dict[str, float]) -> dict[str, Any]:
    ranked = [cid for cid in order if cid in scores]
    values = [scores[cid] for cid in ranked]
    return {"n": len(ranked), "tau": kendall_tau(ranked, scores),
            "best_hit": bool(ranked) and scores[ranked[0]] == max(values),
            "worst_hit": bool(ranked) and scores[ranked[-1]] == min(values)}


def run_agreement(run: Path, model: str, api_base: str | None, out: Path | None = None,
                  echo: Callable[[str], None] = print, timeout_s: float = 120.0,
                  max_tokens: int | None = None) -> dict[str, Any]:
    """Asks the judge about every generation of `run` and returns (and writes to OUT/agreement.json) the agreement
    per generation and overall. ValueError (one line) when the task has no fitness or nothing can be compared."""
    from rewardsmith.llm import client

    store = open_run(run)
    cfg = store.config()
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    if not task.has_fitness:
        raise UserError(f"task {cfg.task!r} has no fitness metric: there is nothing to compare the judge with")
    client.check_model(model, api_base)
    out = out or store.root / "judge_agreement" / time.strftime("%Y%m%d-%H%M%S")
    config = judge.judge_config(model, api_base, timeout_s, max_tokens)
    episode = judge.episode_text(env, task)

    def intro_for(ids: Sequence[str]) -> str:
        return judge.intro_text(env.description, task.description, episode, ids)

    rows = []
    for gen in store.generations():
        cands = [c for c in store.candidates(gen) if c.status is Status.EVALUATED
                 and score(c, task.fitness_version) > -math.inf]
        scores = {c.id: score(c, task.fitness_version) for c in cands}
        if len(cands) < 2:
            echo(f"generation {gen}: skipped ({len(cands)} candidate(s) with a task score)")
            continue
        folder = out / f"gen_{gen:02d}"
        send = judge.sender(config, folder / "llm", client.Guards())
        verdict = judge.judge_generation(store, gen, cands, send, model, intro_for, folder)
        row = {"gen": gen, **generation_agreement(verdict.order, scores), "complete": verdict.complete,
               "judge": list(verdict.order), "fitness": sorted(scores, key=lambda cid: -scores[cid]),
               "cost_usd": verdict.usage.get("cost_usd", 0.0)}
        rows.append(row)
        echo(_row_text(row))
    if not rows:
        raise UserError(f"no generation of {store.root} has two candidates with a task score and a film")
    taus = [r["tau"] for r in rows if r["tau"] is not None]
    overall = {"generations": len(rows), "mean_tau": sum(taus) / len(taus) if taus else None,
               "best_hit_rate": sum(r["best_hit"] for r in rows) / len(rows),
               "worst_hit_rate": sum(r["worst_hit"] for r in rows) / len(rows),
               "incomplete": sum(not r["complete"] for r in rows),
               "cost_usd": sum(float(r["cost_usd"] or 0.0) for r in rows)}
    result = {"run": str(store.root), "model": model, "api_base": api_base, "task": cfg.task, "per_generation": rows,
              "overall": overall}
    write_record(out / "agreement.json", result)
    tau_text = "n/a" if overall["mean_tau"] is None else f"{overall['mean_tau']:+.2f}"
    echo(f"overall ({len(rows)} generations): mean Kendall tau {tau_text}, best hit "
         f"{overall['best_hit_rate']:.0%}, worst hit {overall['worst_hit_rate']:.0%}"
         + (f", {overall['incomplete']} generation(s) without a valid full ranking" if overall["incomplete"] else "")
         + f", judge cost ${overall['cost_usd']:.4f}")
    echo(f"written: {out / 'agreement.json'}")
    return result


def _row_text(row: dict[str, Any]) -> str:
    tau = "n/a" if row["tau"] is None else f"{row['tau']:+.2f}"
    hits = f"best {'hit' if row['best_hit'] else 'miss'}, worst {'hit' if row['worst_hit'] else 'miss'}"
    partial = "" if row["complete"] else " (the judge's reply was invalid; its valid part only)"
    return (f"generation {row['gen']}: {row['n']} candidates, Kendall tau {tau}, {hits}{partial}; judge "
            f"{' > '.join(row['judge'])}; task score {' > '.join(row['fitness'])}")
