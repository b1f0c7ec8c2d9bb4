"""Terminal output of the `rewardsmith` command: the consoles, one-line errors, progress events, run summaries."""

from __future__ import annotations

import errno
import functools
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rewardsmith.confidence import CONFIDENT, WORST_CASE
from rewardsmith.errors import BAD_INPUT, INTERRUPTED, STOPPED, Stopped, UserError
from rewardsmith.events import (
    AwaitingRanking,
    CandidateUpdate,
    Event,
    FilmFailed,
    FinalEvaluation,
    GenerationStarted,
    JudgeAsked,
    JudgeFallback,
    JudgeProposed,
    JudgeRetry,
    LLMAsked,
    LLMRetry,
    Placed,
    RaceRound,
    RankingDecided,
    RankingDueFailed,
    Retry,
    ReviewDeadlinePassed,
    Reviewed,
    ReviewPageOpen,
    RungStarted,
    SeedFinished,
    SelectionMade,
    SlicesGiven,
    Stressed,
    TrainProgress,
)
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.records import MIN_SEEDS, Stop

# Piped or captured output gets wide lines instead of tables folded at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, highlight=False)

# what a full disk, a quota, a read-only mount or a file-size limit raise while the run writes its records
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO)


def _click_class(name: str) -> type[Exception]:
    """click's exception classes as typer uses them (typer >= 0.2x vendors its own click; older ones use click)."""
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


UsageError = _click_class("UsageError")
ClickException = _click_class("ClickException")


class OneLineErrors(typer.Typer):
    """A typer app whose usage errors (an option of the wrong type, a missing or unknown option) and UserErrors are
    one line on stderr with exit code 2, instead of click's usage box or a traceback; a Stopped is one line and exit
    3. Anything else is a bug and keeps its traceback (exit 1)."""

    def __call__(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().__call__(*args, **kwargs)
        except UsageError as err:
            context = getattr(err, "ctx", None)
            if type(err).__name__ == "NoArgsIsHelpError":  # `rewardsmith` alone: the help, as before
                console.print(context.get_help() if context is not None else str(err), soft_wrap=True, markup=False)
                sys.exit(0)
            where = context.command_path if context is not None else "rewardsmith"
            fail_line(f"{err.format_message()} (see `{where} --help`)")
            sys.exit(BAD_INPUT)
        except ClickException as err:
            fail_line(err.format_message())
            sys.exit(getattr(err, "exit_code", 1))
        except UserError as err:  # bad input, wherever a command found it: one line (errors.py)
            fail_line(str(err))
            sys.exit(BAD_INPUT)
        except Stopped as err:  # a clean stop a command did not word itself
            errors.print(f"stopped: {escape(str(err))}", soft_wrap=True)
            sys.exit(STOPPED)
        except (typer.Abort, KeyboardInterrupt):  # a command that says nothing of its own: one line
            errors.print("interrupted", soft_wrap=True)
            sys.exit(INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


def fail_line(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """One clear line on stderr and a non-zero exit: the only way commands report bad input."""
    fail_line(message)
    raise typer.Exit(code)


@functools.singledispatch
def print_event(event: Event) -> None:
    """A progress event's line on the terminal; each kind has its renderer below (a kind without one, such as
    Filmed or the quality benchmark's own, prints nothing)."""


@print_event.register(GenerationStarted)
def _generation(event: GenerationStarted) -> None:
    console.print(f"[bold]generation {event.gen + 1}/{event.of}[/]")


@print_event.register(LLMAsked)
def _llm(event: LLMAsked) -> None:
    console.print(f"  asking the LLM for {event.n} program(s) (round {event.round_index + 1})")


@print_event.register(LLMRetry)
def _llm_retry(event: LLMRetry) -> None:
    console.print(f"  LLM {event.model}: {event.reason[:160]}; retry {event.attempt}/{event.of} "
                  f"in {event.wait_s:.1f} s", soft_wrap=True, markup=False)


@print_event.register(RungStarted)
def _rung(event: RungStarted) -> None:
    console.print(f"  halving rung {event.rung}/{event.of}: {len(event.candidates)} candidate(s) to "
                  f"{event.steps:,} steps")


@print_event.register(SlicesGiven)
def _slices(event: SlicesGiven) -> None:
    by_target: dict[int, list[str]] = {}
    for cid, steps in event.targets:
        by_target.setdefault(steps, []).append(cid)
    given = []
    for steps, ids in by_target.items():  # the first round's K candidates as a count
        who = f"{len(ids)} candidates" if len(ids) > 3 else ", ".join(ids)
        given.append(f"{who} to {steps:,} steps")
    console.print(f"  allocation round {event.round}: {'; '.join(given)} ({event.left} of {event.total} slices of "
                  f"{event.slice_steps:,} steps left)", soft_wrap=True)


@print_event.register(RaceRound)
def _race(event: RaceRound) -> None:
    unsure = f"< {CONFIDENT}" if event.p_best < CONFIDENT else f"but fewer than {MIN_SEEDS} seeds each"
    console.print(f"  racing (round {event.round}/{event.of}): P(best) {event.p_best:.2f} {unsure} among "
                  f"{', '.join(event.contenders)}; one more seed for {', '.join(event.raced)}",
                  soft_wrap=True)


@print_event.register(CandidateUpdate)
def _candidate(event: CandidateUpdate) -> None:
    reason = f": {event.reason}" if event.reason else ""
    if event.stop is not None and event.stop is not Stop.BUDGET and event.steps is not None:
        reason = f", {event.stop.words} at {event.steps:,} steps"
    console.print(f"  {event.id} {event.status}{reason}", soft_wrap=True)


@print_event.register(TrainProgress)
def _train(event: TrainProgress) -> None:
    point = event.point
    fitness_text = f"  task score {point.fitness:.3f}" if point.fitness is not None else ""
    # a statistic can be None (no finite value at this checkpoint): shown as "-", never a crash of the run. The
    # length is that of the episodes finished since the last checkpoint; where none finished there is none to show
    # (a running episode's length is only how far it got: "length 32" of 200-step episodes was a rollout's)
    ret, length = point.episode_return, point.episode_length
    length_text = f"  length {length:.0f}" if length is not None and point.episodes != 0 else ""
    console.print(f"    {event.id} {point.step:>9,}/{event.total:,} steps  "
                  f"return {'-' if ret is None else f'{ret:.1f}'}{length_text}{fitness_text}")


@print_event.register(Placed)
def _placed(event: Placed) -> None:  # where a training runs: a Ray node, or a --parallel slot's CPUs and GPU
    again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
    where = f"node {event.node} ({event.ip})" if event.node is not None else \
        f"CPUs {','.join(map(str, event.cpus)) or 'shared'}" + (f", GPU {event.gpu}" if event.gpu else "")
    console.print(f"    {event.id} on {where}{again}")


@print_event.register(Retry)
def _retry(event: Retry) -> None:
    console.print(f"    {event.id}: {event.reason}; trying again (attempt {event.attempt})", soft_wrap=True,
                  markup=False)


@print_event.register(ReviewPageOpen)
def _review(event: ReviewPageOpen) -> None:
    secret = " (its token is the key: share it only with your reviewers)" if event.token else ""
    console.print(f"review page: {event.url}{secret}", soft_wrap=True, markup=False)


@print_event.register(AwaitingRanking)
def _awaiting(event: AwaitingRanking) -> None:
    from rewardsmith.feedback.review.access import duration_text

    gen = event.gen  # the header counts generations from 1; ids, the page and `rank` count from 0
    people = event.reviewers or 1
    many = " --reviewer NAME" if people > 1 else ""
    wait = f"waiting for {people} reviewers" if people > 1 else "waiting"
    deadline = f" (or {duration_text(event.deadline_s)}, once one ranked)" if event.deadline_s else ""
    judged = event.judge_confident is not None
    if judged:  # hybrid (it always has a deadline): what the deadline means depends on the judge's confidence
        deadline += (f"; the judge's order stands if nobody ranks within {duration_text(event.deadline_s or 0)}"
                     if event.judge_confident else "; the judge is unsure, so a person must rank")
    picks = f"--best g{gen}cNN --worst g{gen}cNN" + (" | --judge" if judged else "")
    console.print(f"[bold]generation {gen + 1}/{event.of} (ids g{gen}cNN) is ready to rank:[/] open "
                  f"{event.url} (or: rewardsmith rank {event.run}{many} {picks}); "
                  f"{wait}{deadline}. Ctrl-C stops; --resume continues.", soft_wrap=True)


@print_event.register(Reviewed)
def _reviewed(event: Reviewed) -> None:
    console.print(f"  {event.reviewer} ranked g{event.gen}cNN ({event.count} of {event.of} reviewers)",
                  soft_wrap=True, markup=False)


@print_event.register(ReviewDeadlinePassed)
def _review_deadline(event: ReviewDeadlinePassed) -> None:
    console.print(f"  the review deadline passed with no ranking of g{event.gen}cNN yet; waiting for the first",
                  soft_wrap=True)


@print_event.register(RankingDecided)
def _decided(event: RankingDecided) -> None:
    console.print(f"  decided: {event.decided} ({', '.join(event.reviewers)})"
                  + (f"; mean Kendall tau {event.tau_mean:+.2f}" if event.tau_mean is not None else "")
                  + ("" if event.same_best is None else
                     f"; {'the same best' if event.same_best else 'different bests'}"),
                  soft_wrap=True, markup=False)


@print_event.register(RankingDueFailed)
def _ranking_due_failed(event: RankingDueFailed) -> None:
    console.print(f"  --on-ranking-due failed: {event.reason} (the run goes on)", soft_wrap=True, markup=False)


@print_event.register(JudgeAsked)
def _judge(event: JudgeAsked) -> None:
    console.print(f"  asking the judge {event.model} to rank {event.images} filmed candidate(s) "
                  f"({event.image_bytes / 1024:.0f} KB of pictures)", soft_wrap=True, markup=False)


@print_event.register(JudgeProposed)
def _judge_proposal(event: JudgeProposed) -> None:
    console.print(f"  the judge proposes {' > '.join(event.order)}: "
                  f"{'confident' if event.confident else 'unsure'} ({event.why})", soft_wrap=True, markup=False)


@print_event.register(JudgeRetry)
def _judge_retry(event: JudgeRetry) -> None:
    console.print(f"  judge reply {event.attempt}/{event.of} unusable: {'; '.join(event.errors)[:200]}; "
                  "asking again", soft_wrap=True, markup=False)


@print_event.register(JudgeFallback)
def _judge_fallback(event: JudgeFallback) -> None:
    console.print(f"  the judge gave no valid full ranking: {'; '.join(event.errors)[:200]}; the rest follows "
                  "in task-score (or candidate) order", soft_wrap=True, markup=False)


@print_event.register(FilmFailed)
def _film_failed(event: FilmFailed) -> None:
    console.print(f"  {event.id} not filmed: {event.reason}", soft_wrap=True)


@print_event.register(SeedFinished)
def _seed(event: SeedFinished) -> None:
    console.print(f"  {event.training}: {event.status}  task score {num(event.fitness)}  "
                  f"success {num(event.success_rate)}  {event.steps or 0:,} steps  "
                  f"{num(event.wall_s)} s {event.reason or ''}")


@print_event.register(FinalEvaluation)
def _final(event: FinalEvaluation) -> None:
    console.print(f"[bold]final evaluation[/] of {event.id} on seeds {list(event.seeds)}")  # a list, as always shown


@print_event.register(Stressed)
def _stressed(event: Stressed) -> None:
    console.print(f"  {event.id} under stress: worst case {event.worst} {num(event.worst_score)} (unperturbed "
                  f"{num(event.baseline_score)}), {event.seconds:.1f} s", soft_wrap=True, markup=False)


@print_event.register(SelectionMade)
def _selection(event: SelectionMade) -> None:
    selection = event.selection
    picked = selection.choice.lines.get(selection.best_overall or "", "") if selection.choice else ""
    robust = "; picked by the worst case under stress" if picked.startswith(WORST_CASE) else ""
    console.print(f"  selected {selection.best or 'none'}; best so far {selection.best_overall or 'none'} "
                  f"(task score {num(selection.best_overall_fitness)}){robust}")


def num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def who_writes_and_ranks(cfg) -> str:
    """Where a run's programs come from and who ranks them, with the judge's model: "LLM-free" alone would hide a
    judge that is paid per generation."""
    programs = ", ".join(cfg.models) if cfg.models else "LLM-free"
    judge = f" (judge {cfg.judge_model})" if _judged(cfg) else ""
    return f"programs: {programs}; feedback {cfg.feedback}{judge}"


def _judged(cfg) -> bool:
    return RANKERS.get(cfg.feedback).judged and cfg.judge_model is not None


def print_summary(store) -> None:
    from rewardsmith.runs.show import generation_rows

    cfg = store.config()
    judged = _judged(cfg)
    table = Table(title=f"run {store.root.name}")
    for column in ("gen", "candidates", "evaluated", "failed", "best", "best score", "prompt tokens",
                   *(("judge tokens",) if judged else ()), "LLM cost $"):
        table.add_column(column)
    for row in generation_rows(store):
        tokens = "—" if row.prompt_tokens is None else str(row.prompt_tokens)
        judge = ("—" if row.judge_tokens is None else str(row.judge_tokens),) if judged else ()
        table.add_row(str(row.gen), str(row.candidates), str(row.evaluated), str(row.failed),
                      row.best or "—", num(row.best_fitness), tokens, *judge, f"{row.cost_usd:.4f}")
    console.print(table)
    if not RANKERS.get(cfg.feedback).needs_fitness:  # who ranked each generation: people, the judge, or both
        for row in generation_rows(store):
            if row.decided_by:
                console.print(f"generation {row.gen} decided by {row.decided_by}", soft_wrap=True, markup=False)
    for row in generation_rows(store):  # the selection rule's pick of each generation and how sure it is
        if row.choice:
            console.print(f"generation {row.gen}: {row.choice}", soft_wrap=True, markup=False)
    result = store.load_result() or {}
    if (result.get("choice") or {}).get("statement"):
        console.print(f"answer: {result['choice']['statement']}", soft_wrap=True, markup=False)
    if not cfg.llm_free or judged:  # the judge's requests are logged and paid like the programs' (judge.py)
        from rewardsmith.llm.budget import spent_usd

        cap = f" of --max-cost ${cfg.max_cost:.4f}" if cfg.max_cost is not None else " (no --max-cost)"
        what = "LLM and judge" if judged and not cfg.llm_free else "judge" if judged else "LLM"
        console.print(f"{what} spend: ${spent_usd(store.llm_log_dirs()):.4f} paid{cap}")


MAX_SOURCE_BYTES = 1_000_000


def read_source(path: Path, flag: str) -> str:
    """A reward module's text, or one line saying why it cannot be one (missing, a folder, huge, not UTF-8)."""
    if not path.is_file():
        fail(f"{flag} {path} is not a file; give a Python module such as reward.py")
    try:
        data = path.read_bytes()
    except OSError as err:
        fail(f"{flag} {path} cannot be read: {err.strerror or err}")
    if len(data) > MAX_SOURCE_BYTES:
        fail(f"{flag} {path} is {len(data):,} bytes; a reward module is Python source under {MAX_SOURCE_BYTES:,}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        fail(f"{flag} {path} is not UTF-8 text (byte {err.start} is {data[err.start]:#04x}); give a Python module "
             "saved as UTF-8")


def higher_cap(stop) -> str:
    """A cap that lets at least the refused request through, rounded up to a cent."""
    import math

    return f"{math.ceil((stop.spent + stop.needed) * 100 + 1) / 100:.2f}"


def init_source(path: Path | None) -> str | None:
    """The --init reward's source, checked before anything is written (extraction and the static policy)."""
    if path is None:
        return None
    text = read_source(path, "--init")
    from rewardsmith.program.extract import ExtractError, extract_program
    from rewardsmith.program.static import static_check

    try:  # the extractor's own words are written for the LLM ("Return one ... block"): a person gets Python's
        compile(text, str(path), "exec", dont_inherit=True)
    except SyntaxError as err:
        fail(f"--init {path}: line {err.lineno}: {err.msg} (not valid Python)")
    except ValueError as err:  # a NUL byte
        fail(f"--init {path}: {err}")
    try:
        program = extract_program(f"```python\n{text}\n```")
    except ExtractError as err:
        fail(f"--init {path}: {err}")
    violations = static_check(program.source)
    if violations:
        fail(f"--init {path}: line {violations[0].line}: {violations[0].message}")
    return program.source


def reward_source(env, task, reward: Path | None, flag: str = "--reward") -> str:
    """The reward to train or check: a file given by the user (its contract checked) or the task's reference."""
    if reward is None:
        if all(t is not task for t in env.tasks):  # a description (resolve_task): say so in the user's words
            text = task.description if len(task.description) <= 60 else task.description[:57] + "..."
            fail(f"{text!r} is not a task of env {env.name!r} (its tasks: {', '.join(t.name for t in env.tasks)}), "
                 f"so there is no reference reward to train; give a task name, or {flag} FILE with your own reward")
        path = env.reference_reward_path(task.name)
        if not path.is_file():
            fail(f"task {task.name!r} has no reference reward; pass {flag} FILE")
        return path.read_text()
    text = read_source(reward, flag)
    from rewardsmith.program.extract import ExtractError, extract_program

    try:  # an exported module carries a docstring and a `reward()` helper: the contract is what is checked
        extract_program(f"```python\n{text}```")
    except ExtractError as err:
        fail(f"{reward}: {err}")
    return text
