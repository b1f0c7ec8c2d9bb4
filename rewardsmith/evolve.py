"""The evolution loop (Eureka's algorithm box over ICPL's feedback), resumable from the run store.

    parent <- none
    for each generation g:
        messages   <- reflect(the last generation, parent)                       llm/prompting.py
        repeat while fewer than K programs passed the check (bounded rounds):
            samples    <- sample(messages, or mutations of parent)                llm/sample.py
            candidates <- check_all(samples)  extract + static + sandboxed check  execute/check_stage.py
        candidates <- train_all(candidates, executor)  PPO + evaluation, sandbox  execute/train_stage.py
        candidates <- race(candidates, parent)  more seeds while the pick is unsure  execute/racing.py
        candidates <- stress_all(candidates)  --select-robust: policies under stress  evaluate/stress.py
        candidates <- film_all(candidates)                                        evaluate/film.py
        selection  <- rank(candidates, parent)  metrics | synthetic | human | ...  feedback/rankers.py
        parent     <- selection.best_overall
    answer <- confirm(parent and its contenders) from scratch on fresh seeds       execute/confirm.py

--islands N (execute/islands.py): each island samples and checks its share of K from its own parent and prompt; the
generation trains and is ranked as one; each island then keeps its own best, and every --migrate-every generations the
run's best replaces the worst island's parent; the confirmation also retrains every island's final parent.

Every product is saved as soon as it exists; a resumed run reloads finished work instead of redoing it.

Filming runs aside: a ranker that does not look at the videos (metrics, synthetic) ranks as soon as the trainings
are done, and the generation is filmed on a thread while the next generation's prompt, LLM call and checks go on
(mostly waiting on the network); the loop waits for it only before the next trainings (so filming never competes
with training for the CPU cores) and, after the last generation, while the winner's final re-evaluation trains.
A run killed with filming unfinished films the rest when resumed.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from rewardsmith.config import RunConfig, check_batches, shown, train_config_for
from rewardsmith.context import RunContext
from rewardsmith.env.check import refuse_placeholders
from rewardsmith.env.registry import EnvSpec, get_env, resolve_task
from rewardsmith.env.task import Task
from rewardsmith.errors import UserError
from rewardsmith.evaluate.film import film_all
from rewardsmith.evaluate.stress import stress_all
from rewardsmith.events import GenerationStarted, Report, SelectionMade
from rewardsmith.execute.check_stage import check_all
from rewardsmith.execute.confirm import Confirmation, confirm
from rewardsmith.execute.executors import Executor, check_executor, make_executor
from rewardsmith.execute.inherit import fresh_rival, with_inheritance
from rewardsmith.execute.islands import (
    Islands,
    first_islands,
    island_contenders,
    next_islands,
    record,
    select_islands,
    sizes,
    train_islands,
)
from rewardsmith.execute.racing import race
from rewardsmith.execute.seeds import MultiSeedSummary
from rewardsmith.execute.train_stage import halving_on, train_all
from rewardsmith.feedback.judge import check_judge
from rewardsmith.feedback.rankers import (
    RANKERS,
    Ranker,
    RankerPlug,
    check_feedback,
    check_review_live,
    rankers_that,
)
from rewardsmith.llm.estimate import Estimate, judge_estimate, llm_estimates
from rewardsmith.llm.memory import check_dir, remember
from rewardsmith.llm.prompting import messages_for
from rewardsmith.llm.sample import check_llm, sample
from rewardsmith.records import Candidate, Choice, Selection
from rewardsmith.runs.store import RunStore
from rewardsmith.runs.tensorboard import board_report, check_board
from rewardsmith.train.trainers import TRAINERS, TrainerPlug, trainers_that


def prepare(cfg: RunConfig, live: bool = True, probe: bool = True) -> tuple[EnvSpec, Task]:
    """Resolves and cross-checks a run's configuration; raises UserError (one line) before anything is written.
    `live`: also against this machine (preflight); `probe`: and ask the LLM servers whether they answer."""
    cfg.validate()
    check_llm(cfg)
    TRAINERS.check(cfg.trainer)
    check_feedback(cfg)
    check_judge(cfg)
    check_executor(cfg)
    check_board(cfg)
    if cfg.memory:  # a resumed run's recorded folder may have become a file
        check_dir(cfg.memory)
    env = get_env(cfg.env)
    refuse_placeholders(env)
    task = resolve_task(env, cfg.task)
    check_batches(train_config_for(env.ppo, **cfg.train))  # the env's PPO settings with the run's `train` table
    if cfg.halving or cfg.allocation == "adaptive":
        check_halving(cfg)
    if cfg.select_robust and not RANKERS.get(cfg.feedback).by_rule:
        able = ", ".join(rankers_that(_by_rule))
        raise UserError(f"--select-robust puts the worst case under stress in the selection rule's place, and "
                        f"--feedback {cfg.feedback} does not pick by that rule; use --feedback {able}, or leave "
                        "--select-robust out")
    if cfg.inherit is True and not TRAINERS.get(cfg.trainer).continues:
        able = ", ".join(trainers_that(_continues))
        raise UserError(f"--inherit needs a trainer that starts from another policy ({able}), and --trainer "
                        f"{cfg.trainer} does not; use --no-inherit")
    if RANKERS.get(cfg.feedback).needs_fitness and not task.has_fitness:
        raise UserError(f"task {shown(cfg.task)} has no fitness metric, so --feedback {cfg.feedback} cannot rank it; "
                         "use --feedback human, or a named task (see `rewardsmith envs`)")
    if cfg.llm_free and not cfg.init_source and not env.reference_reward_path(task.name).is_file():
        raise UserError(f"--llm-free evolves a task's reference reward, and {shown(cfg.task)} has none; "
                         "use a named task (see `rewardsmith envs`), an LLM, or start from your reward with --init")
    if live:
        preflight(cfg, probe)
    return env, task


def preflight(cfg: RunConfig, probe: bool = True) -> None:
    """What the settings need from this machine, checked before the run directory exists: the review page can
    listen, --on-ranking-due's program is there, the --init reward passes the check an LLM's program gets (in the
    sandbox, against the state view), and each LLM server answers (a GET that asks for no completion)."""
    check_review_live(cfg)
    if cfg.init_source:
        check_init(cfg)
    if probe and (cfg.models or cfg.judge_model):  # litellm takes seconds to import: only where a server is asked
        from rewardsmith.llm import client

        for index, model in enumerate(cfg.models):
            client.probe(model, cfg.api_base_for(index))
        if cfg.judge_model:
            client.probe(cfg.judge_model, cfg.judge_api_base, flag="--judge-api-base")


def check_init(cfg: RunConfig) -> None:
    """The --init reward through the sandboxed check every candidate passes (a state field it reads that the view
    lacks, a term that is not finite, ...): failing here, it would only fail as each of generation 0's candidates."""
    import tempfile
    from pathlib import Path

    from rewardsmith.execute.check_stage import check_in_sandbox

    assert cfg.init_source is not None, "preflight checks an --init reward only where there is one"
    with tempfile.TemporaryDirectory(prefix="rewardsmith-init-") as tmp:
        report = check_in_sandbox(cfg.env, cfg.task, cfg.init_source, Path(tmp) / "check")
    if not report.passed:
        raise UserError(f"--init: the reward does not pass the check: {'; '.join(report.errors)}")


@dataclass(frozen=True)
class DryRun:
    """What `evolve --dry-run` shows: the first prompt (none in the LLM-free mode), its tokens and the run's
    estimated LLM and judge use (llm/estimate.py says what is assumed)."""

    messages: list[dict[str, str]]
    prompt_tokens: int
    estimates: list[Estimate]

    @property
    def usd(self) -> float | None:
        """The whole run's estimated dollars; None when a model has no price."""
        costs = [e.usd for e in self.estimates]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


def dry_run(cfg: RunConfig) -> DryRun:
    """Everything a run checks before it starts, then its first prompt and cost estimate; nothing is sent (not even
    the reachability probe), nothing trained, nothing left on disk."""
    import tempfile
    from pathlib import Path

    from rewardsmith.feedback.judge import picture_size
    from rewardsmith.llm import prompts
    from rewardsmith.llm.prompting import count_tokens, user_prompt

    env, task = prepare(cfg, probe=False)
    messages: list[dict[str, str]] = []
    if not cfg.llm_free:
        with tempfile.TemporaryDirectory(prefix="rewardsmith-dry-run-") as tmp:
            ctx = RunContext(RunStore.create(Path(tmp), "dry-run", cfg), cfg, env, task, lambda event: None)
            messages = prompts.chat(prompts.render("system"),
                                    user_prompt(ctx, 0, None, RANKERS.get(cfg.feedback).follow_up))
    tokens = count_tokens(messages) if messages else 0
    estimates = llm_estimates(cfg, tokens) if messages else []
    looks = 2 if RANKERS.get(cfg.feedback).proposes else 1  # hybrid's judge looks twice (feedback/hybrid.py)
    judged = judge_estimate(cfg, looks, picture_size())
    return DryRun(messages, tokens, estimates + ([judged] if judged else []))


def check_halving(cfg: RunConfig) -> None:
    """--halving (or --allocation adaptive, which shares halving's budget out) given where it cannot work: the one
    reason that holds (or both), in one line."""
    if cfg.allocation == "adaptive" and cfg.halving is False:
        raise UserError("--allocation adaptive shares out the budget halving would spend, and --no-halving trains "
                        "every candidate the full budget; drop one of them")
    reasons = []
    if not RANKERS.get(cfg.feedback).needs_fitness:
        reasons.append(f"a ranker with a task fitness ({', '.join(rankers_that(_by_score))}), and --feedback "
                       f"{cfg.feedback} ranks without one")
    if not TRAINERS.get(cfg.trainer).continues:
        reasons.append(f"a trainer that continues from checkpoints ({', '.join(trainers_that(_continues))}), and "
                       f"--trainer {cfg.trainer} does not")
    if reasons and cfg.halving:
        raise UserError(f"--halving needs {'; and '.join(reasons)}; use --no-halving")
    if reasons:
        raise UserError(f"--allocation adaptive needs {'; and '.join(reasons)}; leave it out (every candidate then "
                        "trains the full budget)")


def _by_score(plug: RankerPlug) -> bool:
    return plug.needs_fitness


def _by_rule(plug: RankerPlug) -> bool:
    return plug.by_rule


def _continues(plug: TrainerPlug) -> bool:
    return plug.continues


@dataclass(frozen=True)
class EvolveResult:
    """What a run found, saved as result.json: its answer (the search's best, or the contender the confirmation from
    scratch decided for), the selection rule's statement of it, and the confirmation's trainings."""

    best: Candidate | None  # the run's answer
    generations: int
    confirmation: Confirmation | None = None  # --final-seeds: the retrainings from scratch and the answer on them
    choice: Choice | None = None  # the pick's confidence: the confirmation's, else the last selection's
    search_best: Candidate | None = None  # the best of the search, before any confirmation
    memory: str | None = None  # --memory: what became of the answer's entry, in one line (llm/memory.remember)

    @property
    def final(self) -> MultiSeedSummary | None:
        """The answer's own retraining from scratch (Eureka's final evaluation)."""
        if self.confirmation is None or self.best is None:
            return None
        return self.confirmation.summaries.get(self.best.id)

    def _answer(self, field: str) -> float | None:
        """The mean of the answer's fresh seeds for `field` when confirmed, else the search's measurement."""
        confirmed = self.final.mean_std(field) if self.final is not None else None
        if confirmed is not None:
            return confirmed[0]
        return getattr(self.best, field) if self.best is not None else None

    @property
    def fitness(self) -> float | None:
        """The answer's task score: the mean of its fresh seeds when confirmed, else the search's measurement."""
        return self._answer("fitness")

    @property
    def success_rate(self) -> float | None:
        """The answer's success rate, measured where its task score is (`fitness`): the fresh seeds when confirmed."""
        return self._answer("success_rate")

    def to_dict(self) -> dict[str, Any]:
        saved: dict[str, Any] = {"best": self.best.id if self.best else None, "fitness": self.fitness,
                                 "generations": self.generations,
                                 "search_best": self.search_best.id if self.search_best else None,
                                 "choice": self.choice.to_dict() if self.choice is not None else None}
        if self.confirmation is not None:
            saved.update(self.confirmation.to_dict())
        if self.memory is not None:
            saved["memory"] = self.memory
        return {**saved, "final": self.final.to_dict()} if self.final is not None else saved


def evolve(store: RunStore, cfg: RunConfig, report: Report = lambda event: None) -> EvolveResult:
    env, task = prepare(cfg, live=False)  # the caller made the pre-flight (probe, --init, port) before the store
    report = board_report(store, cfg, report)  # --tensorboard: candidates as they finish
    ctx = RunContext(store, cfg, env, task, report)
    executor = make_executor(cfg)
    ranker = RANKERS.get(cfg.feedback).make(ctx)
    filming = FilmingAside(ctx)
    try:
        parent = None
        islands = first_islands(ctx) if cfg.islands > 1 else None  # --islands: execute/islands.py
        for gen in range(cfg.iterations):
            report(GenerationStarted(gen, cfg.iterations))
            if islands is not None:
                record(ctx, islands)
            selection = store.load_selection(gen)
            if selection is None:
                selection = run_generation(ctx, gen, parent, executor, ranker, filming, islands)
            else:  # finished before a resume; a run killed while filming it left some candidates unfilmed
                filming.start(store.candidates(gen))
            parent = store.find_candidate(selection.best_overall) if selection.best_overall else parent
            islands = next_islands(ctx, islands, selection) if islands is not None else None
            report(SelectionMade(selection))
    finally:
        ranker.close()
    result = answer(ctx, parent, island_contenders(ctx, islands) if islands is not None else [], executor)
    filming.join()
    store.save_result(result.to_dict())
    if cfg.memory:  # the confirmed answer into the memory of verified terms, where it does the task
        result = dataclasses.replace(result, memory=remember(store, cfg.memory, result.to_dict()))
        store.save_result(result.to_dict())
    return result


class FilmingAside:
    """One generation filmed at a time on a daemon thread (a killed or interrupted run does not wait for it; its
    half-written files are temporary and cleared when filmed again). join() waits and re-raises what filming raised
    (a RenderError never gets here: film_all records it on the candidate)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, candidates: list[Candidate]) -> None:
        self.join()
        if not self.ctx.cfg.video:
            return

        def work() -> None:
            try:
                film_all(self.ctx, candidates)
            except BaseException as err:  # handed to the loop's thread by join()
                self.error = err

        self.thread = threading.Thread(target=work, name="film", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def run_generation(ctx: RunContext, gen: int, parent: Candidate | None, executor: Executor,
                   ranker: Ranker, filming: FilmingAside, islands: Islands | None = None) -> Selection:
    if islands is None:
        candidates = with_inheritance(ctx, checked_generation(ctx, gen, parent), parent)  # --inherit
    else:  # each island's share from its own parent and history
        candidates = []
        for island, (own, count) in enumerate(zip(islands.parents, sizes(ctx), strict=True)):
            checked = checked_generation(ctx, gen, own, island, count, len(candidates))
            candidates += with_inheritance(ctx, checked, own)
    filming.join()  # the last generation's filming, before these trainings take the cores
    if islands is None:
        candidates = train_all(ctx, candidates, executor)
    else:
        candidates = train_islands(ctx, candidates, executor, train_all, halving_on(ctx))
    if RANKERS.get(ctx.cfg.feedback).by_rule and ctx.cfg.race_seeds:  # more seeds while the pick is unsure
        candidates = race(ctx, candidates, parent, executor)
    if ctx.cfg.select_robust:  # every policy under stress: the rule picks by the worst case (evaluate/stress.py)
        candidates = stress_all(ctx, candidates)
    if RANKERS.get(ctx.cfg.feedback).needs_videos:
        candidates = film_all(ctx, candidates)
    else:
        filming.start(candidates)
    selection = ranker.rank(gen, candidates, parent)
    if islands is not None:  # saved before the generation's own, which marks it done
        select_islands(ctx, gen, candidates, selection, islands, ranker)
    ctx.store.save_selection(selection)
    return selection


def checked_generation(ctx: RunContext, gen: int, parent: Candidate | None, island: int | None = None,
                       count: int | None = None, first_index: int = 0) -> list[Candidate]:
    """A generation's candidates: rounds of samples (LLM or mutations of `parent`), each checked, until K passed the
    check or the rounds run out (bench/fidelity.py makes the same generations). With --islands, one island's
    `count` of them, from its own prompt and rounds, numbered on from `first_index`."""
    follow_up = RANKERS.get(ctx.cfg.feedback).follow_up
    messages = None if ctx.cfg.llm_free else messages_for(ctx, gen, parent, follow_up, island)
    candidates: list[Candidate] = []
    for round_index in range(ctx.cfg.max_sample_rounds):
        missing = (count or ctx.cfg.samples) - sum(c.status.passed_check for c in candidates)
        if missing <= 0:
            break
        samples = sample(ctx, gen, round_index, missing, messages, parent, island)
        candidates += check_all(ctx, gen, first_index + len(candidates), samples)
    return candidates


def answer(ctx: RunContext, best: Candidate | None, islands: list[Candidate] | None = None,
           executor: Executor | None = None) -> EvolveResult:
    """The run's answer: the search's best, confirmed from scratch with its contenders where --final-seeds asks and
    the task has a score (the last selection's contenders, where its ranker picks by the rule, and with --islands
    every island's final parent)."""
    cfg, store = ctx.cfg, ctx.store
    last = store.load_selection(cfg.iterations - 1)
    choice = last.choice if last is not None else None
    if best is None or not cfg.final_seeds or not ctx.task.has_fitness:
        return EvolveResult(best, cfg.iterations, None, choice, best)
    contenders = [store.find_candidate(cid) for cid in (choice.contenders if choice is not None else (best.id,))]
    contenders += [c for c in islands or () if c.id not in {k.id for k in contenders}]
    rival = fresh_rival(ctx, [best, *contenders])  # --inherit: scores on a parent's steps are not a fresh reward's
    confirmation = confirm(ctx, best, contenders + ([rival] if rival is not None else []), executor)
    return EvolveResult(confirmation.answer, cfg.iterations, confirmation, confirmation.choice, best)
