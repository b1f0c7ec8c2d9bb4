"""The reflect stage's product: the chat messages for a generation. Generation 0 gets the environment, the task and
the facts about them (llm/facts.py) and, where scores are shown, how a trained policy is judged (the task score and
the success rule in words); later generations also get what happened to the last one: a table of every candidate,
then the two best programs in full with their reflections (llm/reflect.py turns records into that text), and the
pre-flight check's warnings.

The messages are saved before they are sent (gen_XX/messages.json), with their size in tokens beside them
(gen_XX/prompt_tokens.json); a resumed run sends the very same prompt.

Budget: a follow-up prompt for the humanoid (the largest state view) stays under FOLLOW_UP_BUDGET tokens with
K = 4..8 candidates (tests/llm/test_prompting.py measures it). The runner-up's statistics, then its code, are the
parts left out where a follow-up would not fit (long programs).
"""

from __future__ import annotations

import os
from typing import Any

from rewardsmith.context import RunContext
from rewardsmith.env.task import Task
from rewardsmith.llm import facts, memory_text, prompts, reflect
from rewardsmith.records import Candidate, Selection, Status
from rewardsmith.runs.store import write_record

# What a follow-up prompt shows of the last generation, as the ranker decides (RankerPlug.follow_up): SCORES, Eureka's
# table of task scores and the best program's reflection; RANKING, ICPL's best and worst with no score anywhere.
SCORES, RANKING = "scores", "ranking"
FOLLOW_UPS = (SCORES, RANKING)

FOLLOW_UP_BUDGET = 12_000  # tokens, as counted by count_tokens
TOKENIZER = "cl100k_base"
TOKEN_METHOD = (f"litellm.token_counter with tiktoken {TOKENIZER} (bundled with litellm, offline), chat overhead "
                "included; a model's own tokenizer may count somewhat differently")


def messages_for(ctx: RunContext, gen: int, parent: Candidate | None, follow_up: str,
                 island: int | None = None) -> list[dict[str, str]]:
    """The chat messages of generation `gen` (saved; a resumed run reads them back). `follow_up`: what a follow-up
    prompt shows, SCORES or RANKING (the ranker's trait, feedback/rankers.py). `island` (evolve --islands): the
    prompt of that island, built from its own parent and its own last generation and selection only."""
    messages = ctx.store.load_messages(gen, island)
    if messages is None:
        messages = prompts.chat(prompts.render("system"), user_prompt(ctx, gen, parent, follow_up, island))
        ctx.store.save_messages(gen, messages, island)
    tokens_path = ctx.store.prompt_tokens_path(gen, island)
    if not tokens_path.is_file():
        write_record(tokens_path, {"prompt_tokens": count_tokens(messages), "counted_with": TOKEN_METHOD})
    return messages


def count_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of chat messages, offline: litellm's counter with the cl100k_base encoding it ships (with no
    model named it never tries to download a tokenizer)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm fetches a cost map at import otherwise
    import litellm

    return int(litellm.token_counter(model="", messages=messages))


def first_prompt(ctx: RunContext, follow_up: str = SCORES) -> str:
    """The environment, the task and the facts about them; with SCORES (Eureka) also how a trained policy is judged
    (the task score and the success rule in words, never the fitness code); with RANKING (ICPL) not: the reviewer's
    judgement is the measure there."""
    model = facts.load_model(ctx.env)
    return prompts.render(
        "first", env_name=ctx.env.name, env_description=ctx.env.description,
        state_view=ctx.env.state_view_source.strip(), action_dim=model.nu,
        control_dt=f"{facts.control_dt(ctx.env, model):g}", episode_steps=ctx.task.episode_steps,
        task_description=ctx.task.description, judged=judged_text(ctx) if follow_up == SCORES else "",
        **facts.prompt_facts(ctx, scored=follow_up == SCORES),
    )


def success_rule(task: Task) -> str:
    """When an evaluation episode counts as a success, in words (the task's success_doc; its bare threshold for a
    task written without one); empty for a task without a threshold."""
    if not task.has_fitness or task.success_threshold is None:
        return ""
    return task.success_doc or f"its task score is at least {task.success_threshold:g}"


def judged_text(ctx: RunContext) -> str:
    """The first prompt's section on the evaluation: how a task score is made and what counts as a success. Empty
    for a task without a fitness (a free-text task)."""
    task = ctx.task
    if not task.has_fitness:
        return ""
    ended = "; the steps after an early end count nothing" if task.terminate is not None else ""
    rule = success_rule(task)
    measure = task.score_doc or "the task's own measure of how well the policy does the task"
    success = f" Success: an episode counts as doing the task when {rule}." if rule else ""
    return (f"\n## How a trained policy is judged\nAfter training, the policy runs "
            f"{ctx.training_config().eval_episodes} evaluation episodes, acting deterministically (its mean action, "
            f"no exploration noise) for up to {task.episode_steps} steps each. An episode's task score: "
            f"{measure}{ended}.{success}\n")


def user_prompt(ctx: RunContext, gen: int, parent: Candidate | None, follow_up: str,
                island: int | None = None) -> str:
    first = first_prompt(ctx, follow_up) + island_line(ctx, island)
    if gen == 0:  # --memory: examples from other tasks of this env (llm/memory_text.py), in the first prompt only
        first += memory_text.prompt_section(ctx.cfg.memory, ctx.env.name, ctx.task)
        if ctx.cfg.init_source:  # the user's own reward as a starting point (it is also candidate g0c00)
            return prompts.render("init", first_prompt=first, init_source=ctx.cfg.init_source.strip())
        return first
    last = [c for c in ctx.store.candidates(gen - 1) if island is None or c.island == island]
    failures = reflect.failure_list(last)
    if parent is None:
        return prompts.render("error_only", first_prompt=first, failure_list=failures or "(no details recorded)")
    failure_text = prompts.render("failures", failure_list=failures) if failures else ""
    warnings = reflect.check_warnings(last)
    warning_text = prompts.render("warnings", warning_list=warnings) if warnings else ""
    selection = ctx.store.load_selection(gen - 1, island)
    if follow_up == SCORES:
        migrated = island is not None and parent.island != island  # the run's best, moved in (execute/islands.py)
        note = (f"the run's best so far, from island {parent.island}: it became this island's parent"
                if migrated else "the best of that generation" if parent.generation == gen - 1 else
                f"from generation {parent.generation}, still the best so far")
        runner = runner_up(parent, last, selection)
        prompt = ""
        for shown in ("reflection", "code", None) if runner else (None,):  # the most that fits the budget
            prompt = prompts.render(
                "next", first_prompt=first, last_gen=gen - 1, score_line=score_line(ctx),
                table=reflect.generation_table(last, selection), best_id=parent.id, best_note=note,
                best_source=(parent.source or "").strip(), reflection=_reflection(ctx, parent),
                more=sections(_runner_up_text(ctx, runner, selection, shown, migrated), warning_text,
                              failure_text),
            )
            if shown is None or count_tokens(prompts.chat(prompts.render("system"), prompt)) <= FOLLOW_UP_BUDGET:
                break
        return prompt
    return _ranked_prompt(ctx, gen, first, parent, failure_text, warning_text, last, island)


def island_line(ctx: RunContext, island: int | None) -> str:
    """With --islands N > 1, which of the run's N islands (lines of programs) a prompt is for: an island's prompts show
    only its own programs, and a program from another island only by migration (said where it does). It also makes the
    islands' first prompts differ, as their samples should (a cache or a relay keyed by the prompt would otherwise
    give every island the same programs)."""
    if island is None or ctx.cfg.islands <= 1:
        return ""
    return (f"\nThis run keeps {ctx.cfg.islands} islands, separate lines of programs (numbered 0 to "
            f"{ctx.cfg.islands - 1}), each improving its own best; this prompt is for island {island}.\n")


def sections(*texts: str) -> str:
    """Optional parts of a prompt (each rendered, ending in a newline), each after a blank line; "" when none."""
    return "".join(f"\n{text}" for text in texts if text)


def _reflection(ctx: RunContext, cand: Candidate, show_score: bool = True, explain: bool = True) -> str:
    return reflect.reflection(cand, ctx.task.episode_steps, show_score, ends_early=ctx.task.terminate is not None,
                              explain=explain)


def runner_up(parent: Candidate, last: list[Candidate], selection: Selection | None) -> Candidate | None:
    """The second of the two best programs, shown in full beside the program to improve (an LLM cannot build on a
    sibling it knows only by its term names): the best-ranked other evaluated program of the last generation (its
    best when the parent is from an older one). None when there is none."""
    by_id = {c.id: c for c in last}
    ranked = [by_id[cid] for cid in (selection.ranking if selection else ()) if cid in by_id and cid != parent.id]
    return next((c for c in ranked if c.status is Status.EVALUATED and c.train and c.evaluation), None)


def _runner_up_text(ctx: RunContext, runner: Candidate | None, selection: Selection | None, shown: str | None,
                    migrated: bool = False) -> str:
    """The runner-up's section: its code and reflection ("reflection"), its code alone ("code"), nothing (None), as
    much as the token budget leaves room for. `migrated`: the program to improve came from another island, so the
    runner-up is this line's own best."""
    if runner is None or shown is None or selection is None:
        return ""
    rank = selection.ranking.index(runner.id) + 1
    of = "this island's last generation" if migrated else "that generation"
    note = {1: f"the best of {of}", 2: f"the second best of {of}"}.get(rank, f"number {rank} of {of}")
    reflection = _reflection(ctx, runner, explain=False) if shown == "reflection" else \
        "(its training statistics are left out: the prompt's token budget has no room for them)"
    return prompts.render("runner_up", runner_id=runner.id, runner_note=note,
                          runner_source=(runner.source or "").strip(), runner_reflection=reflection)


def score_line(ctx: RunContext) -> str:
    """What the task score and the success rate are, pointing at the first part's rule, without the fitness."""
    if judged_text(ctx):
        rule = success_rule(ctx.task)
        return (f"The task score{' and success are' if rule else ' is'} as \"How a trained policy is judged\" above "
                "says: the task score is the mean over the evaluation episodes (higher is better)"
                f"{', success the share of them that count as doing the task' if rule else ''}.")
    return (f"Task score: the task's own measure of how well the policy does the task, averaged over the evaluation "
            f"episodes (the policy acting deterministically for the full {ctx.task.episode_steps} steps); higher is "
            "better.")


def _ranked_prompt(ctx: RunContext, gen: int, first: str, best: Candidate, failure_text: str, warning_text: str,
                   last: list[Candidate], island: int | None = None) -> str:
    """ICPL's prompt: every candidate's status and rank, the best and worst of the last ranking, the reviewer's
    words, the history of chosen programs; no task score anywhere."""
    store = ctx.store
    selection = store.load_selection(gen - 1, island)
    assert selection is not None, "a ranked follow-up needs the last generation's selection"
    worst = store.find_candidate(selection.worst) if selection.worst else None
    chosen = [store.find_candidate(s.best) for g in range(gen) if (s := store.load_selection(g, island)) and s.best]
    return prompts.render(
        "next_ranked", first_prompt=first, last_gen=gen - 1,
        table=reflect.generation_table(last, selection, show_score=False), best_id=best.id,
        worst_id=worst.id if worst else "none", best_source=(best.source or "").strip(),
        best_reflection=_reflection(ctx, best, show_score=False),
        worst_source=(worst.source or "").strip() if worst else "# (no second program could be compared)",
        worst_reflection=_reflection(ctx, worst, show_score=False) if worst else "",
        comments=reflect.comments_text(selection), history=reflect.history_text(chosen),
        more=sections(warning_text, failure_text), ranked_by=reflect.ranked_by(selection.decided_by),
    )
