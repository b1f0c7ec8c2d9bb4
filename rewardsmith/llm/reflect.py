"""Evaluation + ranking -> feedback text for the next prompt (Eureka's reward reflection). Pure functions.

The text tells the LLM, for every program of the last generation: one row of a table (status, task score and
success rate, or the reviewer's rank when people rank; episode length; the terms that weighed most), so it can
compare the K programs it wrote; for the chosen program: the task score, episode lengths, and every term's scaled
contribution per episode over training (so it can see which terms grew, stalled or dominated); and for the
programs that failed: why, in the words of the check or the trainer.
"""

from __future__ import annotations

import math

from rewardsmith.records import Candidate, DecidedBy, Decider, Selection, Status


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.3g}"


def _series(values: list) -> str:
    return ", ".join(_fmt(v) for v in values)


def reflection(candidate: Candidate, episode_steps: int, show_score: bool = True) -> str:
    """What happened when a policy was trained on this candidate's reward. `show_score` is False when people
    (or their synthetic proxy) rank: then the task metric is theirs to judge, not a number in the prompt."""
    assert candidate.train is not None and candidate.evaluation is not None, "only evaluated candidates reflect"
    curve = candidate.train.curve
    evaluation = candidate.evaluation
    lines = []
    if show_score and evaluation.fitness_mean is not None:
        success = evaluation.success_rate
        success_text = f", success rate {success:.0%}" if success is not None else ""
        lines.append(
            f"Task score of the trained policy (higher is better): {_fmt(evaluation.fitness_mean)}"
            f" ± {_fmt(evaluation.fitness_std)} over {evaluation.episodes} episodes{success_text}."
        )
        lines.append(f"Task score during training: {_series([p.fitness for p in curve])}.")
    lines.append(
        f"Episode length (max {episode_steps}): during training {_series([p.episode_length for p in curve])}; "
        f"final {_fmt(evaluation.episode_length_mean)}."
    )
    lines.append(f"Total reward per episode during training: {_series([p.episode_return for p in curve])}.")
    lines.append("Each term's scaled contribution per episode during training, then its raw per-step value at the end:")
    for term, stats in evaluation.terms.items():
        history = _series([p.terms.get(term) for p in curve])
        constant = stats.per_step_std is not None and stats.per_step_std < 1e-9
        note = " (constant per step: it can only reward staying alive longer)" if constant else ""
        lines.append(
            f"- {term} (scale {_fmt(stats.scale)}): {history}; raw per step "
            f"{_fmt(stats.per_step_mean)} ± {_fmt(stats.per_step_std)}{note}"
        )
    return "\n".join(lines)


def top_terms(candidate: Candidate, count: int = 3) -> str:
    """The terms with the largest |scaled contribution per episode| at the evaluation, signed, largest first."""
    terms = candidate.evaluation.terms if candidate.evaluation else {}
    sums = [(k, t.episode_sum) for k, t in terms.items() if t.episode_sum is not None]
    sums.sort(key=lambda item: -abs(item[1]))
    return ", ".join(f"{k} {v:+.3g}" for k, v in sums[:count]) or "—"


def generation_table(candidates: list[Candidate], selection: Selection | None, show_score: bool = True) -> str:
    """One row per candidate of a generation, failed ones included, in id order. With `show_score` the task score
    and success rate; without (people rank) the reviewer's rank instead, as ICPL hides the scores."""
    ranks = {cid: i + 1 for i, cid in enumerate(selection.ranking)} if selection else {}
    middle = "task score | success" if show_score else "reviewer's rank"
    lines = [f"| id | status | {middle} | episode length | largest terms, scaled, per episode |",
             f"|---|---|{'---|---' if show_score else '---'}|---|---|"]
    for cand in sorted(candidates, key=lambda c: c.index):
        evaluated = cand.status is Status.EVALUATED and cand.evaluation is not None
        if show_score:
            success = "n/a" if cand.success_rate is None else f"{cand.success_rate:.0%}"
            middle = f"{_fmt(cand.fitness)} | {success}" if evaluated else "— | —"
        else:
            rank = ranks.get(cand.id)
            middle = (f"{rank} of {len(ranks)}" if rank else "not ranked") if evaluated else "—"
        length = _fmt(cand.evaluation.episode_length_mean) if evaluated and cand.evaluation else "—"
        lines.append(f"| {cand.id} | {cand.status_text} | {middle} | {length} | "
                     f"{top_terms(cand) if evaluated else '—'} |")
    return "\n".join(lines)


def failure_list(candidates: list[Candidate]) -> str:
    """One line per failed candidate: its id, the stage that failed and the reason."""
    lines = []
    for cand in candidates:
        if cand.status.failed and cand.status is not Status.LLM_FAILED:  # the LLM cannot fix a network error
            lines.append(f"- program {cand.id} failed at the {cand.status.stage} step: {cand.reason}")
    return "\n".join(lines)


def comments_text(selection: Selection) -> str:
    lines = [f"- about {cid}: {text}" for cid, text in selection.comments.items() if text]
    if selection.generation_comment:
        lines.append(f"- about the whole generation: {selection.generation_comment}")
    return "\n".join(lines) or "(none)"


def _changes(previous: Candidate, current: Candidate) -> str:
    before, after = previous.scales or {}, current.scales or {}
    parts = []
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    if added:
        parts.append(f"added {', '.join(added)}")
    if removed:
        parts.append(f"removed {', '.join(removed)}")
    rescaled = [f"{k} {_fmt(before[k])} -> {_fmt(after[k])}" for k in after if k in before and before[k] != after[k]]
    if rescaled:
        parts.append(f"rescaled {', '.join(rescaled)}")
    if not parts and previous.source != current.source:
        parts.append("same terms and scales, rewritten term code")
    return "; ".join(parts) or "unchanged"


def history_text(chosen: list[Candidate]) -> str:
    """The chosen program of each generation and what changed from the one before (ICPL's history)."""
    lines = []
    for i, cand in enumerate(chosen):
        terms = ", ".join(f"{k}={_fmt(v)}" for k, v in (cand.scales or {}).items())
        change = "" if i == 0 else f" — {_changes(chosen[i - 1], cand)}"
        lines.append(f"- generation {cand.generation}: {cand.id} with {terms}{change}")
    return "\n".join(lines) or "(none yet)"


def ranked_by(decided: DecidedBy | None) -> str:
    """Who ranked a generation, in the words of the next prompt ("... and X ranked the videos"). The synthetic ranker
    stands in for a person (ICPL's proxy), so it reads as one; a vision judge is named as a model."""
    if decided is not None and decided.who is Decider.JUDGE:
        return "a vision model (a judge looking at frames of each video)"
    if decided is not None and decided.several:
        return "several reviewers (their rankings combined)"
    if decided is not None and decided.kept_judge_order is not None:
        return "a reviewer, shown a vision model's proposed ranking first,"
    return "a reviewer"
