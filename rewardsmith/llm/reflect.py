"""Evaluation + ranking -> feedback text for the next prompt (Eureka's reward reflection). Pure functions.

The text tells the LLM, for every program of the last generation: one row of a table (status and the env steps it
really trained, task score and success rate, or the reviewer's rank when people rank; episode length; the terms that
weighed most), so it can compare the K programs it wrote; for the programs shown in full: the task score, why the
training score differs from the evaluation, episode lengths (of finished episodes, and only for tasks whose episodes
can end early), and every term's scaled contribution per episode over training with its course in words (what the
policy learned to collect or to avoid); the pre-flight check's warnings; and for the programs that failed: why, in
the words of the check or the trainer.
"""

from __future__ import annotations

import math

from rewardsmith.program.terminate import LEARNED_TERMINATION
from rewardsmith.records import Candidate, CurvePoint, DecidedBy, Decider, Selection, Status, Stop, TermStats


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value + 0.0:.3g}"  # + 0.0: -0.0 reads 0


def _series(values: list, partial: list[bool] | None = None) -> str:
    """Values in order; with `partial`, those from a checkpoint at which no training episode had ended are marked *."""
    marks = partial or [False] * len(values)
    return ", ".join(_fmt(v) + ("*" if mark and v is not None else "") for v, mark in zip(values, marks, strict=True))


def _partial(curve) -> list[bool]:
    """Which checkpoints had no finished training episode (their values are running sums, cut short)."""
    return [p.episodes == 0 for p in curve]


# Said once under a reflection whose series carry a *: a live LLM read such running sums, rising by the same amount
# at every checkpoint (0.064, 0.128, ...), as a counter and asked what they were.
PARTIAL_NOTE = ("*: no training episode had ended by that checkpoint (the policy kept every episode going), so the "
                "value is the running episodes' sum so far, which grows with the steps run, not a finished episode's.")


# Why a policy's score during training and its evaluation differ (the native and population trainers: their curves
# come from the training episodes; Brax's curve is its own deterministic evaluation and gets no such line).
TRAINING_VS_EVALUATION = (
    "Training scores are usually below the evaluation's: they come from the training episodes, where the policy "
    "samples noisy actions to explore and is still learning, averaged at each checkpoint over the episodes that ended "
    "since the one before (over the unfinished ones, cut short, where none had ended); the evaluation runs the final "
    "policy's deterministic actions for full episodes."
)
_ZERO = 1e-6  # a term's contribution this close to 0 counts as 0


def reflection(candidate: Candidate, episode_steps: int, show_score: bool = True, *, ends_early: bool = True,
               explain: bool = True) -> str:
    """What happened when a policy was trained on this candidate's reward. `show_score` is False when people
    (or their synthetic proxy) rank: then the task metric is theirs to judge, not a number in the prompt.
    `ends_early`: the task can end an episode before its time limit (without, episode lengths say nothing);
    `explain`: say why the training score differs from the evaluation (once per prompt is enough)."""
    assert candidate.train is not None and candidate.evaluation is not None, "only evaluated candidates reflect"
    curve = candidate.train.curve
    partial = _partial(curve)
    evaluation = candidate.evaluation
    lines = []
    if show_score and evaluation.fitness_mean is not None:
        success = evaluation.success_rate
        success_text = f", success rate {success:.0%}" if success is not None else ""
        lines.append(
            f"Task score of the trained policy (higher is better): {_fmt(evaluation.fitness_mean)}"
            f" ± {_fmt(evaluation.fitness_std)} over {evaluation.episodes} episodes{success_text}."
        )
        lines.append(f"Task score during training: {_series([p.fitness for p in curve], partial)}.")
        if explain and any(p.episodes is not None for p in curve):
            lines.append(TRAINING_VS_EVALUATION)
    learned = [p.extra.get(LEARNED_TERMINATION) for p in curve if LEARNED_TERMINATION in p.extra]
    ends_early = ends_early or bool(learned)
    if learned:  # the program's own terminate (evolve --evolve-termination)
        lines.append(f"Share of the finished training episodes that your terminate ended (the task's termination "
                     f"or the time limit ended the rest; the evaluation ignores it): {_series(learned)}.")
    if ends_early:  # lengths of finished training episodes only (n/a: none finished by that checkpoint)
        lines.append(
            f"Episode length (max {episode_steps}): during training {_series([p.episode_length for p in curve])}; "
            f"at the evaluation {_fmt(evaluation.episode_length_mean)}."
        )
    lines.append(f"Total reward per episode during training: "
                 f"{_series([p.episode_return for p in curve], partial)}.")
    lines.append("Each term's scaled contribution per episode at each checkpoint of training; its course from the "
                 "first checkpoint to the last (per step where episode lengths are known, so that longer episodes "
                 "alone do not read as growth); its raw value per step at the evaluation:")
    for term, stats in evaluation.terms.items():
        history = _series([p.terms.get(term) for p in curve], partial)
        course = term_course(term, curve, stats, ends_early)
        lines.append(f"- {term} (scale {_fmt(stats.scale)}): {history}{f'; {course}' if course else ''}; raw per "
                     f"step {_fmt(stats.per_step_mean)} ± {_fmt(stats.per_step_std)}")
    if any(partial):
        lines.append(PARTIAL_NOTE)
    return "\n".join(lines)


def _signed(value: float) -> str:
    return "0" if abs(value) < _ZERO else f"{value:+.3g}"


def _per_step(point: CurvePoint, term: str) -> float | None:
    value, length = point.terms.get(term), point.episode_length
    return None if value is None or not length else value / length


def term_course(term: str, curve: tuple[CurvePoint, ...], stats: TermStats | None, ends_early: bool) -> str:
    """How a term's scaled contribution changed from the first checkpoint to the last, and what that says ("-17 per
    episode at 500,000 steps, 0 at 5,000,000 (...): the policy learned to avoid it"). The first point is the first
    made of finished episodes (a checkpoint before any episode ended has only partial sums); the verdict compares
    the values per step where the episode lengths are known, so that longer episodes alone do not read as growth.
    Empty with fewer than two checkpoints."""
    points = [p for p in curve if p.terms.get(term) is not None]
    finished = [p for p in points if p.episodes is None or p.episodes > 0]
    points = finished if len(finished) >= 2 else points
    if len(points) < 2:
        return ""
    first, last = points[0], points[-1]
    a, b = first.terms[term], last.terms[term]
    assert a is not None and b is not None
    if all(abs(p.terms[term] or 0.0) < _ZERO for p in points):
        return ("0 at every checkpoint: it never cost anything, the policy never did what it penalises"
                if stats is not None and stats.scale < 0 else
                "0 at every checkpoint: it never paid, the policy never reached what it rewards")
    since = "" if first is curve[0] else f" from {first.step:,} steps"  # the first checkpoint with finished episodes
    pa, pb = _per_step(first, term), _per_step(last, term)
    if pa is None or pb is None:
        return f"per episode {_signed(a)} → {_signed(b)}{since}: {_verdict(a, b, '')}"
    constant = stats is not None and stats.per_step_std is not None and stats.per_step_std < 1e-9
    if constant and abs(pb) >= _ZERO and abs(pa - pb) <= 0.02 * max(abs(pa), abs(pb)):
        effect = ("episodes never end early, so it adds the same to every episode and changes nothing the policy "
                  "can learn" if not ends_early else
                  "it pays only for the steps an episode lasts: a reason to make episodes last" if pb > 0 else
                  "it costs for every step an episode lasts: a reason to end episodes early")
        return f"the same {_signed(pb)} per step all through training: {effect}"
    return f"per step {_signed(pa)} → {_signed(pb)}{since}: {_verdict(pa, pb, ' per step')}"


def _verdict(x: float, y: float, unit: str) -> str:
    """What a change of a term's contribution from x to y says, in words."""
    if abs(x) < _ZERO and abs(y) < _ZERO:
        return "0 at the first and the last checkpoint, not in between"
    if x <= _ZERO and y <= _ZERO:  # a cost
        if abs(x) < _ZERO:
            return "it began to cost as training went on"
        ratio = abs(y) / abs(x)
        return ("the policy learned to avoid it" if ratio < 0.05 else
                "the policy learned to avoid most of it" if ratio < 0.5 else
                "the policy learned to avoid some of it" if ratio < 0.8 else
                f"about as costly{unit} all through training" if ratio <= 1.25 else
                f"it cost more{unit} as training went on")
    if x >= -_ZERO and y >= -_ZERO:  # a payment
        if abs(x) < _ZERO:
            return "the policy learned to collect it"
        ratio = abs(y) / abs(x)
        return ("the policy gave it up" if ratio < 0.05 else
                f"it paid less{unit} as training went on" if ratio < 0.8 else
                f"about the same{unit} all through training" if ratio <= 1.25 else
                "the policy learned to collect more of it")
    return "it changed sign"


def top_terms(candidate: Candidate, count: int = 3) -> str:
    """The terms with the largest |scaled contribution per episode| at the evaluation, signed, largest first."""
    terms = candidate.evaluation.terms if candidate.evaluation else {}
    sums = [(k, t.episode_sum) for k, t in terms.items() if t.episode_sum is not None]
    sums.sort(key=lambda item: -abs(item[1]))
    return ", ".join(f"{k} {v:+.3g}" for k, v in sums[:count]) or "—"


def generation_table(candidates: list[Candidate], selection: Selection | None, show_score: bool = True) -> str:
    """One row per candidate of a generation, failed ones included, in id order: its status (what ended its
    training), the env steps it actually trained, then with `show_score` the task score and success rate, without
    (people rank) the reviewer's rank instead, as ICPL hides the scores."""
    ranks = {cid: i + 1 for i, cid in enumerate(selection.ranking)} if selection else {}
    middle = "task score | success" if show_score else "reviewer's rank"
    lines = [f"| id | status | env steps trained | {middle} | episode length | largest terms, scaled, per episode |",
             f"|---|---|---|{'---|---' if show_score else '---'}|---|---|"]
    for cand in sorted(candidates, key=lambda c: c.index):
        evaluated = cand.status is Status.EVALUATED and cand.evaluation is not None
        if show_score:
            success = "n/a" if cand.success_rate is None else f"{cand.success_rate:.0%}"
            middle = f"{_fmt(cand.fitness)} | {success}" if evaluated else "— | —"
        else:
            rank = ranks.get(cand.id)
            middle = (f"{rank} of {len(ranks)}" if rank else "not ranked") if evaluated else "—"
        steps = f"{cand.train.steps:,}" if evaluated and cand.train else "—"
        length = _fmt(cand.evaluation.episode_length_mean) if evaluated and cand.evaluation else "—"
        lines.append(f"| {cand.id} | {status_words(cand, show_score)} | {steps} | {middle} | {length} | "
                     f"{top_terms(cand) if evaluated else '—'} |")
    return "\n".join(lines)


def status_words(cand: Candidate, show_score: bool = True) -> str:
    """The candidate's status as the records say it (Candidate.status_text); where people rank, a stop at success
    reads "finished early": whether a policy does the task is the reviewer's to judge there, not the metric's."""
    if not show_score and cand.status is Status.EVALUATED and cand.stop is Stop.SUCCESS and cand.train is not None:
        return f"finished early at {cand.train.steps:,} steps"
    return cand.status_text


def check_warnings(candidates: list[Candidate]) -> str:
    """One line per warning of the pre-flight check, naming the candidates it was given for (programs of one LLM
    often share a term, and so a warning), in the order they first appear; empty when there is none."""
    given: dict[str, list[str]] = {}
    for cand in sorted(candidates, key=lambda c: c.index):
        for warning in cand.check.warnings if cand.check is not None else ():
            given.setdefault(warning, []).append(cand.id)
    return "\n".join(f"- {', '.join(ids)}: {warning}" for warning, ids in given.items())


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
    if decided is not None and decided.kept_judge_order is not None and decided.judge_fallback:
        return "a reviewer, shown a proposed order first (the vision model's replies were unusable, so the order was " \
               "filled in by task score or candidate order),"
    if decided is not None and decided.kept_judge_order is not None:
        return "a reviewer, shown a vision model's proposed ranking first,"
    return "a reviewer"
