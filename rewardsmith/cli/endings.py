"""How `evolve` ends on the terminal besides the summary (ui.py): a run that evaluated nothing, and --dry-run's
preview."""

from __future__ import annotations

from rewardsmith.cli.ui import console
from rewardsmith.records import Status


def nothing_evaluated(store) -> str | None:
    """Why a finished run has no answer, in one line, when none of its candidates was trained and evaluated (exit
    1: a run that produced nothing is a failed run); None when some candidate was."""
    from collections import Counter

    candidates = [c for gen in store.generations() for c in store.candidates(gen)]
    if any(c.status is Status.EVALUATED for c in candidates):
        return None
    stages = Counter(c.status.stage for c in candidates if c.status.failed)
    reasons = Counter(" ".join((c.reason or "").split())[:200] for c in candidates if c.status.failed)
    common = f"; the most common reason: {reasons.most_common(1)[0][0]}" if reasons else ""
    failed = ", ".join(f"{n} at the {stage} stage" for stage, n in stages.most_common())
    return (f"no candidate was evaluated ({len(candidates)} program(s): {failed or 'none failed'}){common}; "
            f"see rewardsmith show {store.root}")


def print_dry_run(preview, cfg) -> None:
    """`evolve --dry-run`: the first prompt as the LLM would get it, its size, and the run's estimated cost."""
    from rewardsmith.llm.estimate import REPLY_TOKENS

    for message in preview.messages:
        console.print(f"--- {message['role']} ---\n{message['content']}", soft_wrap=True, markup=False)
    if preview.messages:
        console.print(f"first prompt: {preview.prompt_tokens:,} tokens (counted offline with cl100k_base)")
    else:
        console.print("no LLM prompt: an --llm-free run mutates the reference reward's scales")
    for estimate in preview.estimates:
        console.print(estimate.line(), soft_wrap=True, markup=False)
    total = preview.usd
    spend = "nothing (no paid model)" if not preview.estimates else (
        f"about ${total:.4f}" if total is not None else "cost: unknown (a model has no litellm price)")
    console.print(f"estimated for {cfg.iterations} generation(s) x {cfg.samples} program(s): {spend}; assumed: "
                  f"replies of {cfg.max_tokens or REPLY_TOKENS:,} tokens, one sampling round per generation, "
                  "follow-up prompts the first plus the results and two programs (rewardsmith/llm/estimate.py). "
                  "Nothing was sent, trained or written.", soft_wrap=True, markup=False)
