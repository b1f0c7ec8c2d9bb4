"""`python -m rewardsmith.bench MODE ...`: the benchmarks' command line (the modes: rewardsmith/bench/__init__.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import rewardsmith.bench as bench
from rewardsmith.bench import throughput
from rewardsmith.bench.arms import ARMS
from rewardsmith.events import (
    BenchTask,
    CandidateUpdate,
    Event,
    GenerationStarted,
    Retraining,
    SeedFinished,
    SelectionMade,
)


def _quality_event(event: Event) -> None:
    """Progress of the quality benchmark: one line per candidate, selection and retrain seed (not per update)."""
    if isinstance(event, BenchTask):
        print(f"\n== {event.task}", flush=True)
    elif isinstance(event, GenerationStarted):
        print(f"generation {event.gen + 1}/{event.of}", flush=True)
    elif isinstance(event, CandidateUpdate):
        print(f"  {event.id} {event.status}" + (f": {event.reason}" if event.reason else ""), flush=True)
    elif isinstance(event, SelectionMade):
        chosen = event.selection
        print(f"  selected {chosen.best or 'none'}; best so far {chosen.best_overall or 'none'}", flush=True)
    elif isinstance(event, Retraining):
        print(f"retraining {event.which} on seeds {list(event.seeds)}", flush=True)  # a list, as always shown
    elif isinstance(event, SeedFinished):
        fitness = "—" if event.fitness is None else f"{event.fitness:.3f}"
        print(f"  {event.training}: {event.status}  task score {fitness}  "
              f"{event.wall_s or 0:.0f} s {event.reason or ''}", flush=True)


def quality(args) -> None:
    from rewardsmith.bench.quality import run_benchmark
    from rewardsmith.bench.quality_report import markdown, write_report
    from rewardsmith.config import RunConfig
    from rewardsmith.env.registry import UnknownNameError
    from rewardsmith.runs.store import StoreError

    if args.llm_free == bool(args.model):
        sys.exit("error: give --llm-free or at least one --model (repeat --model to split samples across models)")
    if args.llm_free and args.api_base:
        sys.exit("error: --llm-free cannot be combined with --api-base")
    base = RunConfig(env="-", task="-", iterations=args.iterations, samples=args.samples,
                     models=tuple(args.model or ()), api_bases=tuple(args.api_base or ()), feedback="metrics",
                     video=False, trainer=args.trainer, train_steps=args.train_steps, seed=args.seed,
                     train={"time_budget_s": args.time_budget_s} if args.time_budget_s else {})
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]

    def rewrite(so_far: list) -> None:  # after each task: a crash later keeps the tasks done
        write_report(so_far, base, args.out)

    try:
        results = run_benchmark(base, tasks, 5 if args.seeds is None else args.seeds, args.out, _quality_event,
                                rewrite)
    except (UnknownNameError, StoreError, ValueError) as err:
        sys.exit(f"error: {err}")
    print()
    print(markdown(results, base))
    print(f"written: {args.out / 'quality.json'} and {args.out / 'quality.md'}")


def evolve_budget(args: argparse.Namespace) -> None:
    """One LLM-free generation of K candidates trained three times, without halving, with successive halving, and
    with halving and --stop-at-success (the same K programs each time: the mutations are seeded), side by side:
    env steps simulated, wall time, best score."""
    import tempfile

    from rewardsmith.config import RunConfig
    from rewardsmith.evolve import evolve
    from rewardsmith.runs.store import RunStore, new_run_id

    rows = []
    out = Path(tempfile.mkdtemp(prefix="rewardsmith-bench-evolve-"))
    arms: tuple[tuple[str, bool, dict], ...] = (("without halving", False, {}), ("with halving", True, {}),
            ("with halving and stop at success", True, {"stop_at_success": True}))
    for name, halving, train in arms:
        cfg = RunConfig(env=args.env, task=args.task, iterations=1, samples=args.samples, train_steps=args.steps,
                        seed=args.seed, video=False, halving=halving, train=train)
        store = RunStore.create(out, f"{name.replace(' ', '-')}-{new_run_id(cfg.env, cfg.task)}", cfg)
        start = time.monotonic()
        result = evolve(store, cfg)
        wall = time.monotonic() - start
        cands = store.candidates(0)
        steps = sum(c.train.steps for c in cands if c.train)  # a continued training is counted once
        rows.append((name, steps, wall, result.fitness))
        print(f"  {name}: {steps:,} env steps, {wall:.0f} s, best {result.best.id if result.best else None} task "
              f"score {result.fitness}",
              flush=True)
    print(f"{args.env}/{args.task}, K = {args.samples}, {args.steps:,} steps per full training, runs in {out}")
    _, steps_full, wall_full, _ = rows[0]
    for name, steps, wall, fitness in rows:
        print(f"  {name:34s} env steps {steps:>12,} ({steps_full / steps:.2f}x fewer)  wall {wall:6.0f} s "
              f"({wall_full / wall:.2f}x)  best task score {fitness}")


def evolve_arm(args: argparse.Namespace) -> None:
    import tempfile

    from rewardsmith.bench.arms import line, run_arm
    from rewardsmith.errors import UserError

    env, task, samples, generations = args.env or "hopper", args.task or "hop", args.samples or 4, args.generations or 3
    out = args.out_dir or Path(tempfile.mkdtemp(prefix="rewardsmith-bench-arm-"))
    try:
        result = run_arm(args.arm, env, task, samples, generations, args.seed, out, args.steps)
    except UserError as err:
        sys.exit(f"error: {err}")
    print(line(result, env, task, samples, generations))
    print(f"run: {result.run}")


def rank_fidelity(args: argparse.Namespace) -> None:
    """Measures (or, with --pool, pools finished measurements) and prints the lines a note quotes."""
    from rewardsmith.bench.fidelity import fidelity, pooled
    from rewardsmith.errors import UserError
    from rewardsmith.runs.store import StoreError

    try:
        lines = pooled(args.pool) if args.pool else fidelity(
            args.env or "hopper", args.task or "hop", args.samples or 8, args.steps or 1_000_000, args.seed,
            args.generations or 2)
    except (UserError, StoreError) as err:
        sys.exit(f"error: {err}")
    print("\n" + "\n".join(lines))


def judge_agreement(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from rewardsmith.bench.agreement import run_agreement
    from rewardsmith.runs.store import StoreError

    if not args.run or not args.judge_model or len(args.api_base or ()) > 1:
        parser.error("judge mode needs --run RUN and --judge-model M, and at most one --api-base")
    out = None if args.out == parser.get_default("out") else args.out  # default: RUN/judge_agreement/<time>
    try:
        run_agreement(args.run, args.judge_model, (args.api_base or [None])[0], out)
    except (StoreError, ValueError) as err:
        sys.exit(f"error: {err}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rewardsmith.bench", description=bench.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cpu", "gpu", "quality", "evolve", "judge", "cache", "selection", "learning"))
    parser.add_argument("--env", default=None, help="[default: humanoid (cpu, gpu), hopper (evolve)]")
    parser.add_argument("--task", default=None, help="[default: run (cpu, gpu), hop (evolve)]")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sb3-steps", type=int, default=16_384)
    parser.add_argument("--no-sb3", action="store_true")
    parser.add_argument("--executor", choices=("local", "ray"), default=None,
                        help="evolve mode: compare executors (sequential, --parallel 2, and a 2-node Ray cluster)")
    parser.add_argument("--fidelity", action="store_true",
                        help="evolve mode: every candidate trained through every halving rung, uncut; how well each "
                        "rung's ranking predicts the full budget's (rewardsmith/bench/fidelity.py) [--steps default: "
                        "1000000]")
    parser.add_argument("--generations", type=int, default=None,
                        help="evolve --fidelity / --arm: LLM-free generations [default: 2 / 3]")
    parser.add_argument("--arm", choices=tuple(ARMS), default=None,
                        help="evolve mode: one LLM-free evolve with these budget settings and its line "
                        "(rewardsmith/bench/arms.py) [--samples default 4]")
    parser.add_argument("--out-dir", type=Path, default=None, help="evolve --arm: where its run goes [default: a "
                        "temporary folder]")
    parser.add_argument("--pool", type=Path, action="append", metavar="RUN",
                        help="evolve --fidelity: print the lines over finished fidelity runs (repeat: seeds pooled)")
    parser.add_argument("--raw-steps", type=int, default=50,
                        help="gpu mode: control steps of the raw MJX timing (0: skip)")
    parser.add_argument("--checkpoints", type=int, default=None,
                        help="gpu mode: evaluations during the training [default: 8]; learning mode: checkpoints, "
                        "each with the success evaluation [default: 10]")
    parser.add_argument("--population", type=int, default=0, metavar="K",
                        help="gpu mode: K candidates trained together by the population trainer, next to raw MJX "
                        "stepping of the same batch and one candidate alone (instead of Brax PPO)")
    quality_args = parser.add_argument_group("quality mode")
    quality_args.add_argument("--tasks", default="", help="env/task pairs, comma-separated, each with an optional "
                              ":steps budget (cartpole/balance,hopper/hop:300000)")
    quality_args.add_argument("--model", action="append", help="litellm model string; repeat for several models")
    quality_args.add_argument("--api-base", action="append",
                              help="OpenAI-compatible server: once for every model, or once per --model in order")
    quality_args.add_argument("--llm-free", action="store_true", help="evolve the reference reward's scales")
    quality_args.add_argument("--iterations", type=int, default=3, help="generations of each evolve")
    quality_args.add_argument("--samples", type=int, default=None,
                              help="reward programs per generation [default: 4; evolve mode: 8]")
    quality_args.add_argument("--seeds", type=int, default=None,
                              help="fresh seeds of the retrains [default: 5]; learning mode: seeds (from --seed) "
                              "[default: 3]")
    quality_args.add_argument("--train-steps", type=int, default=None,
                              help="env steps of every training (evolve and retrains) [default: each task's budget]")
    quality_args.add_argument("--trainer", default="native", help="native (CPU) or mjx (GPU)")
    quality_args.add_argument("--seed", type=int, default=0,
                              help="the evolve's seed; the retrains use seed+1...; learning mode: the first seed")
    quality_args.add_argument("--time-budget-s", type=float, default=None,
                              help="wall limit of one training [default: TrainConfig's]; raise it for big budgets")
    quality_args.add_argument("--out", type=Path, default=Path("runs/quality"),
                              help="where the runs, the retrains and quality.json / quality.md go")
    parser.add_argument("--replays", type=int, default=1000, help="selection mode: simulated generations")
    judge_args = parser.add_argument_group("judge mode (also --api-base: the judge's server; --out)")
    judge_args.add_argument("--run", type=Path, help="a finished run of a task with a fitness metric")
    judge_args.add_argument("--judge-model", help="the vision LLM to check, a litellm model string")
    args = parser.parse_args()
    if args.mode == "selection":  # the selection rules on simulated generations (bench/selection.py)
        from rewardsmith.bench.selection import report, simulate

        samples, episodes = args.samples or 4, 16
        print(report(simulate(args.replays, samples, episodes, args.seed), samples, episodes))
        return
    if args.mode == "judge":
        judge_agreement(args, parser)
        return
    if args.mode == "learning":  # steps to success with the update in turn vs overlapped (bench/learning.py)
        from rewardsmith.bench.learning import learning
        from rewardsmith.errors import UserError

        try:
            learning(args.env or "humanoid", args.task or "kneel", 3 if args.seeds is None else args.seeds, args.seed,
                     args.steps, args.checkpoints or 10, args.time_budget_s)
        except UserError as err:
            sys.exit(f"error: {err}")
        return
    args.checkpoints = args.checkpoints or 8
    if args.mode == "cache":  # the XLA compilation cache, off / empty / warm (bench/cache.py)
        from rewardsmith.bench.cache import compare_cache

        compare_cache(args.env or "cartpole", args.task or "balance", args.steps or 30_000, args.seed)
        return
    if args.mode == "evolve" and args.executor:
        from rewardsmith.bench.executors import compare_executors

        compare_executors(args.env or "cartpole", args.task or "balance", args.samples or 4, args.steps or 16_384,
                          args.seed, with_ray=args.executor == "ray")
        return
    if args.mode == "evolve" and args.fidelity:  # rank fidelity of halving's rungs (bench/fidelity.py)
        rank_fidelity(args)
        return
    if args.mode == "evolve" and args.arm:  # one budget setting's LLM-free evolve (bench/arms.py)
        evolve_arm(args)
        return
    if args.mode == "evolve":
        args.env, args.task = args.env or "hopper", args.task or "hop"
        args.steps, args.samples = args.steps or 5_000_000, args.samples or 8
        evolve_budget(args)
        return
    args.samples = args.samples or 4
    args.env, args.task = args.env or "humanoid", args.task or "run"
    if args.mode == "quality":
        quality(args)
        return
    if args.steps is None:
        args.steps = 131_072 if args.mode == "cpu" else 20_000_000
    (throughput.cpu if args.mode == "cpu" else throughput.gpu)(args)


if __name__ == "__main__":
    main()
