"""A run's cost is the sum of what its records say (runs/cost.py): the usage of every round and of the judge, every
search training's own steps and CPU seconds (extra seeds included), and the confirmation's seeds. The run is the
fixture tests/fixtures/run_v2 (two candidates trained 2,048 steps each, recorded before CPU seconds were) with usage,
seeds and a confirmation written into it."""

import json
import shutil
from pathlib import Path

from rewardsmith.runs.cost import run_cost
from rewardsmith.runs.store import RunStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_v2"


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    return run


def test_an_old_run_costs_its_steps_and_no_cpu_seconds(tmp_path):
    cost = run_cost(RunStore.open(_run(tmp_path)))
    assert (cost.candidates_trained, cost.search_env_steps, cost.confirm_env_steps) == (2, 4096, 0)
    assert (cost.cpu_s, cost.gpu_s, cost.llm_requests, cost.cost_usd) == (0.0, 0.0, 0, 0.0)


def test_usage_seeds_and_the_confirmation_are_summed(tmp_path):
    run = _run(tmp_path)
    gen = run / "gen_00"
    (gen / "usage_0.json").write_text(json.dumps({"prompt_tokens": 1000, "completion_tokens": 300,
                                                  "cost_usd": 0.01, "requests": 2}))
    (gen / "usage_judge.json").write_text(json.dumps({"prompt_tokens": 50, "completion_tokens": 5,
                                                      "cost_usd": 0.002, "requests": 1}))
    path = gen / "cand_01" / "candidate.json"
    cand = json.loads(path.read_text())
    cand["train"]["cpu_s"] = 9.0
    cand["seeds"] = [{"seed": 0, "steps": 2048, "wall_s": 3.0, "cpu_s": 4.0},
                     {"seed": 1, "steps": 4096, "wall_s": 5.0, "cpu_s": 6.5}]
    path.write_text(json.dumps(cand))
    final = run / "final" / "g0c01"
    final.mkdir(parents=True)
    (final / "summary.json").write_text(json.dumps({"seeds": [
        {"seed": 1, "status": "ok", "steps": 8192, "wall_s": 7.0, "cpu_s": 11.0},
        {"seed": 2, "status": "ok", "steps": 8192, "wall_s": 7.0, "cpu_s": 12.0}]}))

    cost = run_cost(RunStore.open(run))
    assert (cost.llm_requests, cost.prompt_tokens, cost.completion_tokens) == (3, 1050, 305)
    assert abs(cost.cost_usd - 0.012) < 1e-12
    # cand_00 trained 2,048 steps on one seed; cand_01's seeds replace its first training (the first seed is in them)
    assert cost.search_env_steps == 2048 + 2048 + 4096 and cost.confirm_env_steps == 2 * 8192
    assert cost.env_steps == 8192 + 16384
    assert cost.cpu_s == 4.0 + 6.5 + 11.0 + 12.0 and cost.gpu_s == 0.0
