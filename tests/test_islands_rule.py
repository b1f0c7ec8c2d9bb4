"""evolve --islands without training: each island's selection, the migration rule on the stated generations only, and
each island's prompt built from its own parent and history (execute/islands.py, llm/prompting.py)."""

from __future__ import annotations

import pytest
from builders import evaluated

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.execute.islands import Islands, first_islands, next_islands, select_islands, sizes
from rewardsmith.feedback.rankers import MetricsRanker
from rewardsmith.llm.prompting import SCORES, user_prompt
from rewardsmith.records import Candidate
from rewardsmith.runs.store import RunStore


def _ctx(tmp_path, **overrides) -> RunContext:
    settings = {"samples": 4, "islands": 2, "migrate_every": 2, **overrides}
    cfg = RunConfig(env="cartpole", task="balance", models=("openai/fake",), **settings)
    env = get_env("cartpole")
    return RunContext(RunStore.create(tmp_path, "run", cfg), cfg, env, resolve_task(env, "balance"), lambda e: None)


def _generation(ctx: RunContext, gen: int, fitness: list[float], islands: Islands) -> Islands:
    """Generation `gen` with these task scores (islands 0, 0, 1, 1), ranked as evolve ranks it; the next parents."""
    cands = [evaluated(gen, i, f, success_rate=0.0).replace(island=i // 2) for i, f in enumerate(fitness)]
    for cand in cands:
        ctx.store.save_candidate(cand)
    ranker = MetricsRanker(ctx)
    best = [p for p in islands.parents if p is not None]
    parent = max(best, key=lambda c: c.fitness or 0.0) if best else None
    selection = ranker.rank(gen, cands, parent)
    select_islands(ctx, gen, cands, selection, islands, ranker)
    ctx.store.save_selection(selection)
    return next_islands(ctx, islands, selection)


def _ids(islands: Islands) -> list[str | None]:
    return [p.id if p else None for p in islands.parents]


def test_the_split_gives_the_earlier_islands_the_remainder(tmp_path):
    assert sizes(_ctx(tmp_path)) == [2, 2]
    assert sizes(_ctx(tmp_path / "b", samples=5)) == [3, 2]


def test_each_island_keeps_its_own_best_and_migration_comes_every_m_generations(tmp_path):
    ctx = _ctx(tmp_path, iterations=4)
    one = _generation(ctx, 0, [0.9, 0.5, 0.2, 0.1], first_islands(ctx))
    assert _ids(one) == ["g0c00", "g0c02"] and one.migration is None  # (0 + 1) % 2: no migration
    two = _generation(ctx, 1, [0.3, 0.3, 0.4, 0.35], one)
    # island 1's parent (0.4) is worse than island 0's (0.9, kept: elitist per island): the run's best moves there
    assert _ids(two) == ["g0c00", "g0c00"]
    assert two.migration is not None and (two.migration.island, two.migration.best, two.migration.replaced) == \
        (1, "g0c00", "g1c02")
    three = _generation(ctx, 2, [0.1, 0.1, 0.95, 0.1], two)
    assert _ids(three) == ["g0c00", "g2c02"] and three.migration is None  # (2 + 1) % 2: no migration


def test_no_migration_over_a_parent_that_scores_as_well(tmp_path):
    """The worst island's parent ties the run's best: replacing it would end a line that is no worse."""
    ctx = _ctx(tmp_path, iterations=4)
    one = _generation(ctx, 0, [0.9, 0.5, 0.9, 0.1], first_islands(ctx))
    assert _ids(one) == ["g0c00", "g0c02"]
    two = _generation(ctx, 1, [0.3, 0.3, 0.4, 0.35], one)
    assert _ids(two) == ["g0c00", "g0c02"] and two.migration is None


def test_no_migration_after_the_last_generation_nor_with_m_zero(tmp_path):
    ctx = _ctx(tmp_path, iterations=2)
    one = _generation(ctx, 0, [0.9, 0.5, 0.2, 0.1], first_islands(ctx))
    assert _generation(ctx, 1, [0.3, 0.3, 0.4, 0.35], one).migration is None  # generation 1 was the last
    never = _ctx(tmp_path / "never", iterations=4, migrate_every=0)
    one = _generation(never, 0, [0.9, 0.5, 0.2, 0.1], first_islands(never))
    assert _generation(never, 1, [0.3, 0.3, 0.4, 0.35], one).migration is None


@pytest.mark.parametrize("island", [0, 1])
def test_an_islands_prompt_shows_its_own_parent_and_history_only(tmp_path, island):
    ctx = _ctx(tmp_path)
    one = _generation(ctx, 0, [0.9, 0.5, 0.2, 0.1], first_islands(ctx))
    prompt = user_prompt(ctx, 1, one.parents[island], SCORES, island)
    mine = [c for c in ctx.store.candidates(0) if c.island == island]
    others = [c for c in ctx.store.candidates(0) if c.island != island]
    assert all(f"program {c.id}" in prompt for c in mine)  # its parent and its runner-up, in full
    assert not any(f"program {c.id}" in prompt or c.id in prompt for c in others)


def test_the_islands_first_prompts_differ_and_name_their_island(tmp_path):
    """A prompt says which island it is for: the first prompts of two islands would otherwise be the same text, and a
    cache or a relay keyed by the prompt would hand both islands the same programs (seen in a live relay run)."""
    ctx = _ctx(tmp_path)
    first = [user_prompt(ctx, 0, None, SCORES, island) for island in (0, 1)]
    assert first[0] != first[1]
    assert all(f"this prompt is for island {i}." in prompt for i, prompt in enumerate(first))
    single = _ctx(tmp_path / "one", islands=1)
    assert "island" not in user_prompt(single, 0, None, SCORES).lower()


def test_a_migrated_parent_is_named_as_the_runs_best_from_its_island(tmp_path):
    """After a migration the program to improve is another island's: the prompt says so, and the island's own best
    (the runner-up shown in full) is this island's best, so no two programs are both "the best of that generation"."""
    ctx = _ctx(tmp_path, iterations=4)
    one = _generation(ctx, 0, [0.9, 0.5, 0.2, 0.1], first_islands(ctx))
    two = _generation(ctx, 1, [0.3, 0.3, 0.4, 0.35], one)
    assert two.migration is not None and two.migration.island == 1
    prompt = user_prompt(ctx, 2, two.parents[1], SCORES, 1)
    assert "g0c00, the run's best so far, from island 0: it became this island's parent" in prompt
    assert "g1c02, the best of this island's last generation" in prompt
    assert prompt.count("the best of that generation") == 0
    own = user_prompt(ctx, 2, two.parents[0], SCORES, 0)  # island 0 kept its own parent: the usual words
    assert "this island's parent" not in own


def test_a_candidate_record_keeps_its_island():
    cand = evaluated(0, 3, 0.5).replace(island=1)
    assert Candidate.from_dict(cand.to_dict()).island == 1


def test_k_below_n_is_refused_naming_both():
    with pytest.raises(UserError, match=r"--islands 3 .* --samples is 2"):
        RunConfig(env="cartpole", task="balance", samples=2, islands=3).validate()
    with pytest.raises(UserError, match="--migrate-every"):
        RunConfig(env="cartpole", task="balance", islands=2, migrate_every=-1).validate()


def test_one_island_samples_exactly_as_before(tmp_path):
    """--islands 1 (the default) takes the run's one line: the same rounds, mutation seeds and files as before."""
    from rewardsmith.llm.mutate import mutated_programs
    from rewardsmith.llm.sample import sample
    from rewardsmith.program.extract import extract_program

    cfg = RunConfig(env="cartpole", task="balance", samples=3, seed=4)
    env = get_env("cartpole")
    ctx = RunContext(RunStore.create(tmp_path, "one", cfg), cfg, env, resolve_task(env, "balance"), print)
    reference = env.reference_reward_path("balance").read_text()
    scales = extract_program(f"```python\n{reference}```").scales
    samples = sample(ctx, 1, 2, 3, None, None)
    legacy = mutated_programs(reference, scales, 3, 4 * 1000 + 1 * 10 + 2, reference=scales)  # the seed before
    assert [extract_program(s.text).source.strip() for s in samples] == [p.strip() for p in legacy]
    assert {s.island for s in samples} == {0} and ctx.store.round_path(1, 2).is_file()
    assert not list(ctx.store.gen_dir(1).glob("*_i*.json"))


def test_the_cost_estimate_counts_one_request_per_island():
    from rewardsmith.llm.estimate import llm_estimates

    one, two = (llm_estimates(RunConfig(env="cartpole", task="balance", samples=4, iterations=3, islands=n,
                                        models=("openai/gpt-4o-mini",)), 1000)[0] for n in (1, 2))
    assert (one.requests, two.requests) == (3, 6) and two.prompt_tokens == 2 * one.prompt_tokens
