"""The reflect stage's product: the chat messages for a generation. Generation 0 gets the environment, the task and
the facts about them (llm/facts.py); later generations also get what happened to the last one: a table of every
candidate, then the chosen program's full reflection (llm/reflect.py turns records into that text).

The messages are saved before they are sent (gen_XX/messages.json), with their size in tokens beside them
(gen_XX/prompt_tokens.json); a resumed run sends the very same prompt.

Budget: a follow-up prompt for the humanoid (the largest state view) stays under FOLLOW_UP_BUDGET tokens with
K = 4..8 candidates (tests/llm/test_prompting.py measures it).
"""

from __future__ import annotations

import os
from typing import Any

from rewardsmith.context import RunContext
from rewardsmith.llm import facts, prompts, reflect
from rewardsmith.records import Candidate
from rewardsmith.runs.store import write_record

# What a follow-up prompt shows of the last generation, as the ranker decides (RankerPlug.follow_up): SCORES, Eureka's
# table of task scores and the best program's reflection; RANKING, ICPL's best and worst with no score anywhere.
SCORES, RANKING = "scores", "ranking"
FOLLOW_UPS = (SCORES, RANKING)

FOLLOW_UP_BUDGET = 12_000  # tokens, as counted by count_tokens
TOKENIZER = "cl100k_base"
TOKEN_METHOD = (f"litellm.token_counter with tiktoken {TOKENIZER} (bundled with litellm, offline), chat overhead "
                "included; a model's own tokenizer may count somewhat differently")


def messages_for(ctx: RunContext, gen: int, parent: Candidate | None, follow_up: str) -> list[dict[str, str]]:
    """The chat messages of generation `gen` (saved; a resumed run reads them back). `follow_up`: what a follow-up
    prompt shows, SCORES or RANKING (the ranker's trait, feedback/rankers.py)."""
    messages = ctx.store.load_messages(gen)
    if messages is None:
        messages = prompts.chat(prompts.render("system"), user_prompt(ctx, gen, parent, follow_up))
        ctx.store.save_messages(gen, messages)
    tokens_path = ctx.store.prompt_tokens_path(gen)
    if not tokens_path.is_file():
        write_record(tokens_path, {"prompt_tokens": count_tokens(messages), "counted_with": TOKEN_METHOD})
    return messages


def count_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of chat messages, offline: litellm's counter with the cl100k_base encoding it ships (with no
    model named it never tries to download a tokenizer)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm fetches a cost map at import otherwise
    import litellm

    return int(litellm.token_counter(model="", messages=messages))


def first_prompt(ctx: RunContext) -> str:
    model = facts.load_model(ctx.env)
    return prompts.render(
        "first", env_name=ctx.env.name, env_description=ctx.env.description,
        state_view=ctx.env.state_view_source.strip(), action_dim=model.nu,
        control_dt=f"{facts.control_dt(ctx.env, model):g}", episode_steps=ctx.task.episode_steps,
        task_description=ctx.task.description, **facts.prompt_facts(ctx),
    )


def user_prompt(ctx: RunContext, gen: int, parent: Candidate | None, follow_up: str) -> str:
    first = first_prompt(ctx)
    if gen == 0:
        if ctx.cfg.init_source:  # the user's own reward as a starting point (it is also candidate g0c00)
            return prompts.render("init", first_prompt=first, init_source=ctx.cfg.init_source.strip())
        return first
    last = ctx.store.candidates(gen - 1)
    failures = reflect.failure_list(last)
    if parent is None:
        return prompts.render("error_only", first_prompt=first, failure_list=failures or "(no details recorded)")
    failure_text = prompts.render("failures", failure_list=failures) if failures else ""
    selection = ctx.store.load_selection(gen - 1)
    if follow_up == SCORES:
        note = ("the best of that generation" if parent.generation == gen - 1 else
                f"from generation {parent.generation}, still the best so far")
        return prompts.render(
            "next", first_prompt=first, last_gen=gen - 1, score_line=score_line(ctx),
            table=reflect.generation_table(last, selection), best_id=parent.id, best_note=note,
            best_source=(parent.source or "").strip(),
            reflection=reflect.reflection(parent, ctx.task.episode_steps), failures=failure_text,
        )
    return _ranked_prompt(ctx, gen, first, parent, failure_text, last)


def score_line(ctx: RunContext) -> str:
    """What the task score and the success rate measure, without the fitness itself."""
    measure = ctx.task.score_doc or "the task's own measure of how well the policy does the task"
    return (f"Task score: {measure}, averaged over the evaluation episodes (the policy acting deterministically for "
            f"the full {ctx.task.episode_steps} steps; an episode that ends early scores nothing for the steps it "
            "missed); higher is better. Success: the share of those episodes that count as doing the task.")


def _ranked_prompt(ctx: RunContext, gen: int, first: str, best: Candidate, failure_text: str,
                   last: list[Candidate]) -> str:
    """ICPL's prompt: every candidate's status and rank, the best and worst of the last ranking, the reviewer's
    words, the history of chosen programs; no task score anywhere."""
    store = ctx.store
    selection = store.load_selection(gen - 1)
    assert selection is not None, "a ranked follow-up needs the last generation's selection"
    worst = store.find_candidate(selection.worst) if selection.worst else None
    chosen = [store.find_candidate(s.best) for g in range(gen) if (s := store.load_selection(g)) and s.best]
    steps = ctx.task.episode_steps
    return prompts.render(
        "next_ranked", first_prompt=first, last_gen=gen - 1,
        table=reflect.generation_table(last, selection, show_score=False), best_id=best.id,
        worst_id=worst.id if worst else "none", best_source=(best.source or "").strip(),
        best_reflection=reflect.reflection(best, steps, show_score=False),
        worst_source=(worst.source or "").strip() if worst else "# (no second program could be compared)",
        worst_reflection=reflect.reflection(worst, steps, show_score=False) if worst else "",
        comments=reflect.comments_text(selection), history=reflect.history_text(chosen), failures=failure_text,
        ranked_by=reflect.ranked_by(selection.decided_by),
    )
