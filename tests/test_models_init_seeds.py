"""Several models, the user's own reward, several training seeds — end to end through the real CLI and litellm,
each model on its own fake OpenAI-compatible server (paired with its --api-base in order)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import FakeLLM

from rewardsmith.records import Status
from rewardsmith.runs.store import RunStore

GOOD = '''SCALES = {"upright": 1.0, "centred": 0.2}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"], "centred": -xp.abs(s["cart_x"])}
'''
# three different programs from the LLMs: identical ones tie at every halving rung and all go on (20 trainings of
# ~5 s each instead of 14); different rewards train different policies, so the better half is a real half
OTHERS = [GOOD.replace('"centred": 0.2', f'"centred": {w}') for w in (0.6, 1.5)]
MINE = '''SCALES = {"upright": 1.0, "still": 0.05}


def reward_terms(s, action, xp):
    # the user's own reward
    return {"upright": s["pole_upright"], "still": -xp.abs(s["pole_angular_velocity"])}
'''


def _rewardsmith(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-secret"}
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    init = out.parent / "my_reward.py"
    init.write_text(MINE)
    with FakeLLM([f"```python\n{GOOD}```", f"```python\n{OTHERS[0]}```"]) as big, \
            FakeLLM([f"Try this:\n```python\n{OTHERS[1]}```"]) as small:
        proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--final-seeds", "0", "--race-seeds", "0",
                            "--model", "openai/big", "--api-base", big.base_url,
                            "--model", "openai/small", "--api-base", small.base_url,
                            "--init", str(init), "--train-seeds", "2", "--samples", "4", "--iterations", "1",
                            "--train-steps", "4096", "--no-video", "--out", str(out))
        asked = {"big": [r.get("n", 1) for r in big.requests], "small": [r.get("n", 1) for r in small.requests]}
        prompts = [r["messages"][-1]["content"] for r in big.requests]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = out.iterdir()
    return RunStore.open(run_dir), asked, prompts


def test_samples_are_split_across_the_models_and_recorded(run):
    store, asked, _ = run
    # 4 programs: the user's reward, then 3 from the LLMs split [2, 1] — one request per model
    assert asked == {"big": [2], "small": [1]}
    cands = store.candidates(0)
    assert [(c.origin, c.model) for c in cands] == [("init", None), ("llm", "openai/big"), ("llm", "openai/big"),
                                                     ("llm", "openai/small")]
    usage = json.loads(store.usage_path(0, 0).read_text())
    assert set(usage["by_model"]) == {"openai/big", "openai/small"}
    assert usage["by_model"]["openai/big"]["requests"] == 1 and usage["requests"] == 2


def test_the_users_reward_is_candidate_zero_as_written(run):
    store, _, prompts = run
    init = store.candidates(0)[0]
    assert init.id == "g0c00" and init.status is Status.EVALUATED
    assert init.source.strip() == MINE.strip()
    assert store.config().init_source.strip() == MINE.strip()  # kept in the run: a resume needs no file
    # the LLM sees it as a starting point, in the prompt every model got
    assert len(prompts) == 1 and "## A starting point" in prompts[0] and "# the user's own reward" in prompts[0]


def test_each_candidate_is_trained_on_every_seed_and_ranked_by_the_mean(run):
    store, _, _ = run
    for cand in store.candidates(0):
        assert cand.status is Status.EVALUATED, cand.reason
        assert [s.seed for s in cand.seeds] == [0, 1000]
        scores = [s.fitness_mean for s in cand.seeds]
        assert cand.fitness == pytest.approx(sum(scores) / 2)
        assert cand.evaluation.fitness_mean == scores[0]  # the first seed's detailed evaluation is kept
        assert (store.seed_work_dir(0, cand.index, 1000) / "policy.npz").is_file()
    selection = store.load_selection(0)
    best = max((c for c in store.candidates(0) if not c.cut_short), key=lambda c: c.fitness)  # halving is on
    assert selection.best == best.id and selection.fitness[best.id] == pytest.approx(best.fitness)


def test_show_reports_each_source_of_programs(run):
    store, _, _ = run
    proc = _rewardsmith("show", str(store.root))
    assert proc.returncode == 0, proc.stderr
    for source in ("openai/big", "openai/small", "your --init reward"):
        assert source in proc.stdout
    assert "by source of programs" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--model", "openai/a", "--model", "openai/b", "--api-base", "http://127.0.0.1:1/v1", "--api-base",
      "http://127.0.0.1:2/v1", "--api-base", "http://127.0.0.1:3/v1"], "--api-base was given 3 times for 2 --model(s)"),
    (["--llm-free", "--train-seeds", "0"], "--train-seeds must be a positive integer"),
    (["--llm-free", "--init", "/nonexistent/reward.py"], "--init /nonexistent/reward.py is not a file"),
])
def test_bad_model_init_and_seed_settings_are_one_line(tmp_path, args, message):
    proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", *args, "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
        proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()


def test_an_init_reward_that_breaks_the_static_policy_is_refused(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n" + MINE)
    proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--init", str(bad),
                        "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and f"--init {bad}: line 1" in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()


def test_llm_free_evolution_starts_from_the_init_reward(tmp_path):
    init = tmp_path / "mine.py"
    init.write_text(MINE)
    proc = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--init", str(init),
                        "--samples", "3", "--iterations", "1", "--train-steps", "2048", "--no-video", "--no-halving",
                        "--out", str(tmp_path / "runs"))  # halving is not what this checks: 3 trainings, not 6
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    cands = RunStore.open(run_dir).candidates(0)
    assert [c.origin for c in cands] == ["init", "mutation", "mutation"]
    # the mutations vary the init reward's scales, not the reference reward's
    assert all(set(c.scales) == {"upright", "still"} for c in cands)
    assert any(c.scales != cands[0].scales for c in cands[1:])


def test_runs_written_with_one_model_keep_it():
    fixture = Path(__file__).resolve().parent / "fixtures" / "run_v1"
    cfg = RunStore.open(fixture).config()
    assert cfg.models == () and cfg.llm_free and cfg.train_seeds == 1 and cfg.init_source is None
