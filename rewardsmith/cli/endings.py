"""How `evolve` ends on the terminal: the finished run (the summary table from ui.py, the answer, its film, the
confirmation, the plots), a run that evaluated nothing, and --dry-run's preview."""

from __future__ import annotations

from rich.markup import escape

from rewardsmith.cli.ui import console, errors, num, print_summary
from rewardsmith.evolve import EvolveResult
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


def print_finished(store, result: EvolveResult) -> None:
    """The end of a run: the per-generation table, the best candidate, and where its video, the export command
    and the plots are."""
    print_summary(store)
    best = result.best  # its success rate is measured where the task score is (the confirmation's fresh seeds)
    success = f"  success rate {num(result.success_rate)}" if result.success_rate is not None else ""
    export = f"  export with: rewardsmith export {store.root} -o reward.py" if best is not None else ""
    console.print(f"best: {best.id if best else 'none'}  task score {num(result.fitness)}{success}{export}",
                  soft_wrap=True)
    if best is not None and store.video_path(best.generation, best.index).is_file():
        console.print(f"best video: {store.video_path(best.generation, best.index)}", soft_wrap=True)
    confirmed = result.confirmation
    if confirmed is not None:
        for cid, summary in confirmed.summaries.items():
            scores = summary.mean_std("fitness")
            line = f"task score {scores[0]:.3f} ± {scores[1]:.3f}" if scores else "failed"
            console.print(f"confirmed from scratch, {cid} on {len(summary.seeds)} fresh seed(s): {line}",
                          soft_wrap=True, markup=False)
        if result.search_best is not None and best is not None and best.id != result.search_best.id:
            console.print(f"the confirmation changed the answer: {best.id}, not the search's {result.search_best.id}",
                          soft_wrap=True, markup=False)
    if result.choice is not None:
        console.print(result.choice.statement(), soft_wrap=True, markup=False)
    from rewardsmith.runs.plots import write_plots
    try:
        plots = write_plots(store)
    except (OSError, ValueError) as err:  # plots are a convenience: never fail a finished run over them
        errors.print(f"plots not written: {escape(str(err))}")
    else:
        console.print(f"fitness plot: {plots[0]}  (all plots: rewardsmith show {store.root} --plot)", soft_wrap=True)
