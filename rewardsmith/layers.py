"""The floors of the package, bottom first. Every import in rewardsmith — module-level, function-level and
`TYPE_CHECKING` ones alike — points to its own unit or to a unit on a lower floor; tests/test_package.py measures the
import graph and fails on an import against this order and on any cycle between units. A unit is a subpackage
(`env/`, `train/`, ...) or a top-level module (`records.py`, `evolve.py`, ...). README's layout table lists the same
units in the same order (the test compares them).

Why this order: the records and settings every stage shares sit at the bottom; then what a run is made of (env,
the run store, the context); then a program's way in (extraction, static policy, loading, the contract check) and the
confined child that runs untrusted code; then what happens inside that child (the trainers, evaluation rollouts) and
what is made of its products (films, exports); then the LLM side (prompts, reflection, sampling) and the rankers that
feed it; then the sandbox's job bodies, which tie program, train and evaluate together, and the executors that run
those jobs (locally, on Ray, as the check and train stages); the evolve loop over all of it; benchmarks; the command.
A plug (a trainer, a ranker, an export format, a sandbox job) lives on its own floor and states its traits in its
registry entry, so a floor above asks the entry rather than comparing names.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, str], ...] = (
    ("layers", "this order"),
    ("errors", "the error hierarchy: UserError (bad input: one line, exit 2), Stopped (a clean stop: exit 3)"),
    ("registry", "one idiom for every plug: name -> entry, traits on the entry, unknown names listed"),
    ("resources", "where envs/ and prompts/ are, in a checkout or an installed wheel"),
    ("records", "the frozen records between the stages: Sample, Candidate, CheckReport, TrainResult, Evaluation, "
                "Film, Selection; the evaluation seed"),
    ("confidence", "the selection rule written once: success and score intervals (Wilson, bootstrap), P(best), the "
                   "pick and its confidence"),
    ("events", "progress events, one record per kind, for the terminal, TensorBoard and benchmarks"),
    ("config", "TrainConfig and RunConfig, their field table (kinds, flags, what a resume may change)"),
    ("env", "the env registry (envs/<name>/), the Task record, batched native MuJoCo, gymnasium envs, env checks, "
            "a task's sparse reward"),
    ("runs", "the run store (the only code that knows a run's paths), its lock, show rows, plots, TensorBoard"),
    ("context", "what every stage of one run needs: store, config, env, task, reporter; opening a run"),
    ("program", "a program's way in: extraction, the static policy, loading, reward composition, the contract check"),
    ("sandbox", "the confined child process: runner (parent side), worker, confinement, the file protocol"),
    ("train", "the trainers (native, mjx, population) and their registry with traits, PPO, rollouts, statistics, "
              "the XLA cache"),
    ("evaluate", "the film stage: videos and thumbnail strips of evaluated candidates (the representative episode, "
                 "the worst when the spread is large, the end-of-episode mark); the stress test (perturbed models, "
                 "pushes, observation noise, MJX); exploit detectors on traces"),
    ("exports", "the export formats (numpy, gymnasium, jax, torch, isaaclab) as one registry, the policy, the "
                "reward card"),
    ("llm", "the litellm client and budget, the prompt's facts, reflection text, messages, sampling, mutations, "
            "the memory of verified terms"),
    ("feedback", "the rankers and their registry with traits, rankings, the vision judge, hybrid, the review page"),
    ("jobs", "the sandbox job bodies (check, train, population, play, selftest) and their request/result records"),
    ("execute", "where jobs run: the check and train stages, executors (local, Ray), CPU/GPU claims, seeds, play, "
                "replay"),
    ("evolve", "the evolution loop over the stages"),
    ("bench", "every benchmark: throughput, quality, evolve budget, executors, XLA cache, population, judge"),
    ("cli", "the typer command, terminal output and progress bars, the --config TOML loader"),
)

UNITS: tuple[str, ...] = tuple(unit for unit, _ in LAYERS)
