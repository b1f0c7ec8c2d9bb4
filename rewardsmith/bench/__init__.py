"""Every benchmark lives in this package: training throughput (cpu, gpu: throughput.py; numbers measured side by
side in one run, printed as ratios), reward quality (quality: evolved vs reference vs sparse reward vs random
policy, quality.py),
the update overlapped with the rollout against run in turn (learning: steps to success, learning.py), the budget of
a generation (evolve), the rank fidelity of its halving rungs (evolve --fidelity: fidelity.py), the
executors (executors.py), the XLA cache (cache.py), the population trainer (population.py) and the vision judge's
agreement with the task score (judge: agreement.py).

    python -m rewardsmith.bench cpu [--env humanoid --task run --steps 131072] [--no-sb3]
        raw batched MuJoCo stepping (the CPU ceiling), the native trainer with its update run in turn and overlapped
        with the next rollout (TrainConfig.overlap_update), as ratios to raw stepping of wall and of CPU time, and
        SB3 PPO on gymnasium Humanoid-v5 (needs the `bench` extra: scripts/setup.sh test bench)
    python -m rewardsmith.bench learning [--env humanoid --task kneel --seeds 3 --seed 0 --checkpoints 10
            --steps B (default: the task's budget) --time-budget-s 14400]
        the task's reference reward trained with stop-at-success, the update in turn and overlapped, on each seed:
        env steps to success, wall time, the evaluated curve; the median steps to success of each (learning.py)
    python -m rewardsmith.bench gpu [--env humanoid --task run --steps 20000000]
        raw batched MJX stepping of the same env (the GPU ceiling) and Brax PPO on MJX (the GPU trainer)
    python -m rewardsmith.bench evolve [--env hopper --task hop --samples 8 --steps 5000000 --seed 0]
        one LLM-free generation without and with successive halving: env steps, wall time, best task score
    python -m rewardsmith.bench evolve --fidelity [--env hopper --task hop --samples 8 --steps 1000000 --seed 0
            --generations 2]
        rank fidelity of the early stops: every candidate of LLM-free generations trained through every halving rung
        (B/8, B/4, B/2, B) without a cut; per rung the Kendall tau with the full budget's ranking, per first rung
        whether the best survived the cuts, the score halving would lose and its env steps (fidelity.py)
    python -m rewardsmith.bench evolve --executor local|ray [--env cartpole --task balance --samples 4 --steps 16384]
        the same small evolve sequential, with --parallel 2, and (ray) on a local Ray cluster of two 1-CPU nodes:
        wall times side by side and Ray's overhead per training (rewardsmith/bench/executors.py)
    python -m rewardsmith.bench quality --tasks cartpole/balance,hopper/hop:300000 (--model M [--model M2] | --llm-free)
            [--api-base URL] [--iterations 3 --samples 4 --seeds 5 --train-steps N --out runs/quality]
        per task: evolve, retrain the best reward, the reference reward and the sparse reward (the task score alone)
        on fresh seeds at equal budget, measure a random policy; prints and writes (quality.json, quality.md)
        fitness, success, the human-normalised (over sparse) and random-normalised scores, beats / at least the
        reference and the share of tasks for each, exploit episodes, and the cost per task
        (rewardsmith/bench/quality_rules.py states the rules)
    python -m rewardsmith.bench selection [--replays 1000 --samples 4 --seed 0]
        how often the old and the new selection rule pick the true best of simulated generations whose measured top
        two overlap (no training; rewardsmith/bench/selection.py)
    python -m rewardsmith.bench judge --run RUN --judge-model M [--api-base URL] [--out DIR]
        the vision judge (--feedback judge) ranks each generation of a finished run from its films; prints its
        agreement with the task's fitness ranking (Kendall tau, best/worst hit) per generation and overall
        (rewardsmith/bench/agreement.py)
"""
