"""evolve --islands end to end: the split, each island's own prompt, migration on the stated generation only, the answer
over the islands, and a resume that recomputes the islands' parents — through the real CLI, litellm and a fake
server. Slow (about 30 trainings and checks of 2,048 steps: ~100 s of CPU): `pytest -m slow tests/test_islands.py`;
tests/test_islands_rule.py checks the same rules without training in the default suite."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import FakeLLM

from rewardsmith.runs.show import candidate_rows, generation_rows
from rewardsmith.runs.store import RunStore

PROGRAM = '''SCALES = {{"upright": 1.0, "centred": {centred}}}


def reward_terms(s, action, xp):
    # variant {n}
    return {{"upright": s["pole_upright"], "centred": -xp.abs(s["cart_x"])}}
'''
pytestmark = pytest.mark.slow

ARGS = ["--env", "cartpole", "--task", "balance", "--samples", "4", "--islands", "2", "--migrate-every", "2", "--train-steps", "2048", "--no-halving", "--race-seeds", "0", "--final-seeds", "1",
        "--no-video", "--model", "openai/fake"]


def _variants():
    """Every reply a different program (its own marker and scale): a prompt's code says which candidate it shows."""
    counter = itertools.count()

    def reply(request: dict) -> str:
        n = next(counter)
        return f"```python\n{PROGRAM.format(centred=0.05 * (n % 7) + 0.1, n=n)}```"

    return reply


def _evolve(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-secret"}
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], capture_output=True, text=True,
                          timeout=900, env=env)


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One islands run (K=4, N=2, migration every 2): two generations, then extended to three by --resume, which
    recomputes the islands' parents from the saved selections (one run serves every test: 2 cores)."""
    out = tmp_path_factory.mktemp("runs")
    with FakeLLM(default=_variants()) as llm:
        first = _evolve(*ARGS, "--iterations", "2", "--api-base", llm.base_url, "--out", str(out))
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        (run_dir,) = out.iterdir()
        before = {g: (run_dir / f"gen_{g:02d}" / "islands.json").read_text() for g in (0, 1)}
        resumed = _evolve("--resume", str(run_dir), "--iterations", "3")
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        return RunStore.open(run_dir), list(llm.requests), before


def test_each_island_gets_its_share_from_its_own_request(run):
    store, requests, _ = run
    assert [r.get("n", 1) for r in requests] == [2, 2] * 3  # per generation: one request of K/N per island
    for gen in range(3):
        assert [c.island for c in store.candidates(gen)] == [0, 0, 1, 1]
        for island in (0, 1):  # the server got exactly the prompt each island saved
            saved = store.load_messages(gen, island)
            assert requests[2 * gen + island]["messages"] == saved
        assert store.load_messages(gen) is None  # no run-wide prompt: every prompt is an island's


def test_each_island_prompt_shows_its_own_parent_and_history(run):
    store, _, _ = run
    islands = _json(store.gen_dir(1) / "islands.json")
    assert islands["migration"] is None
    for island, parent_id in enumerate(islands["parents"]):
        parent = store.find_candidate(parent_id)
        assert parent.island == island and parent_id == store.load_selection(0, island).best_overall
        prompt = store.load_messages(1, island)[-1]["content"]
        assert parent.source.strip() in prompt
        for other in store.candidates(0):  # the other island's programs and ids are nowhere in it
            if other.island != island:
                assert other.id not in prompt and other.source.strip() not in prompt


def test_migration_happens_on_the_stated_generation_only(run):
    store, _, _ = run
    assert _json(store.gen_dir(1) / "islands.json")["migration"] is None  # (0 + 1) % 2 != 0
    islands = _json(store.gen_dir(2) / "islands.json")
    before = [store.find_candidate(store.load_selection(1, i).best_overall) for i in (0, 1)]
    best = store.load_selection(1).best_overall
    worst = min((0, 1), key=lambda i: (before[i].fitness, -i))  # the lowest task score (ties: the later island)
    if before[worst].id == best or before[worst].fitness >= store.find_candidate(best).fitness:  # there, or a tie
        assert islands["migration"] is None
    else:
        assert islands["migration"] == {"generation": 2, "best": best, "island": worst, "replaced": before[worst].id}
        assert islands["parents"][worst] == best and islands["parents"][1 - worst] == before[1 - worst].id
        assert store.find_candidate(best).source.strip() in store.load_messages(2, worst)[-1]["content"]


def test_the_answer_is_decided_over_every_islands_best(run):
    store, _, _ = run
    result = store.load_result()
    finals = {store.load_selection(2, i).best_overall for i in (0, 1)}
    assert result["search_best"] == store.load_selection(2).best_overall
    assert finals | {result["search_best"]} <= set(result["confirmed"])  # every island's best confirmed
    assert result["best"] in result["confirmed"]
    tokens = [json.loads(store.prompt_tokens_path(2, i).read_text())["prompt_tokens"] for i in (0, 1)]
    assert generation_rows(store)[2].prompt_tokens == sum(tokens)  # the generation's prompts: both islands'
    shown = [row.source for row in candidate_rows(store) if row.gen == 2]  # `show` says each candidate's island
    assert shown == ["openai/fake, island 0"] * 2 + ["openai/fake, island 1"] * 2


def test_resume_recomputes_the_islands_parents_from_saved_selections(run):
    store, _, before = run
    # the resumed process rebuilt generations 0 and 1's parents (rewritten alike), then generation 2's from the
    # saved selections: the migration test above checks them against the rule
    for gen in (0, 1):
        assert (store.gen_dir(gen) / "islands.json").read_text() == before[gen]
    assert [c.island for c in store.candidates(2)] == [0, 0, 1, 1]
