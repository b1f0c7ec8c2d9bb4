"""The reflect stage's product: the chat messages for a generation. Generation 0 gets the environment and the task;
later generations also get what happened to the last one (feedback/reflect.py turns records into that text).

The messages are saved before they are sent (gen_XX/messages.json); a resumed run sends the very same prompt.
"""

from __future__ import annotations

from rewardsmith.context import RunContext
from rewardsmith.feedback import reflect
from rewardsmith.llm import prompts
from rewardsmith.records import Candidate
from rewardsmith.runs.store import read_json, write_json


def messages_for(ctx: RunContext, gen: int, parent: Candidate | None) -> list[dict[str, str]]:
    path = ctx.store.messages_path(gen)
    if path.is_file():
        return list(read_json(path))
    messages = prompts.chat(prompts.render("system"), user_prompt(ctx, gen, parent))
    write_json(path, messages)
    return messages


def first_prompt(ctx: RunContext) -> str:
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(ctx.env.model_path))
    return prompts.render(
        "first", env_name=ctx.env.name, env_description=ctx.env.description,
        state_view=ctx.env.state_view_source.strip(), action_dim=model.nu,
        control_dt=f"{model.opt.timestep * ctx.env.frame_skip:g}", episode_steps=ctx.task.episode_steps,
        task_description=ctx.task.description,
    )


def user_prompt(ctx: RunContext, gen: int, parent: Candidate | None) -> str:
    first = first_prompt(ctx)
    if gen == 0:
        return first
    failures = reflect.failure_list(ctx.store.candidates(gen - 1))
    if parent is None:
        return prompts.render("error_only", first_prompt=first, failure_list=failures or "(no details recorded)")
    failure_text = prompts.render("failures", failure_list=failures) if failures else ""
    if ctx.cfg.feedback == "metrics":
        return prompts.render(
            "next", first_prompt=first, best_source=(parent.source or "").strip(),
            reflection=reflect.reflection(parent, ctx.task.episode_steps), failures=failure_text,
        )
    return _ranked_prompt(ctx, gen, first, parent, failure_text)


def _ranked_prompt(ctx: RunContext, gen: int, first: str, best: Candidate, failure_text: str) -> str:
    """ICPL's prompt: best and worst of the last ranking, the reviewer's words, the history of chosen programs."""
    store = ctx.store
    selection = store.load_selection(gen - 1)
    assert selection is not None, "a ranked follow-up needs the last generation's selection"
    worst = store.find_candidate(selection.worst) if selection.worst else None
    chosen = [store.find_candidate(s.best) for g in range(gen) if (s := store.load_selection(g)) and s.best]
    steps = ctx.task.episode_steps
    return prompts.render(
        "next_ranked", first_prompt=first, best_id=best.id, worst_id=worst.id if worst else "none",
        best_source=(best.source or "").strip(),
        best_reflection=reflect.reflection(best, steps, show_score=False),
        worst_source=(worst.source or "").strip() if worst else "# (no second program could be compared)",
        worst_reflection=reflect.reflection(worst, steps, show_score=False) if worst else "",
        comments=reflect.comments_text(selection), history=reflect.history_text(chosen), failures=failure_text,
    )
