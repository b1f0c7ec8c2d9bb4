"""A reward card's README.md, written for a person from the card's manifest (card.json) alone, so the words and the
numbers never disagree. Sections: what the reward teaches, how well, how sure, at what cost, the film and curves,
how to replay, how to use the reward and the policy, what the card rests on."""

from __future__ import annotations

from typing import Any

from rewardsmith.exports.reproduce import Measurement


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def readme(card: dict[str, Any]) -> str:
    parts = [_title(card), _teaches(card), _how_well(card), _confidence(card), _cost(card), _pictures(card),
             _replay(card), _use(card), _rests_on(card)]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def _title(card: dict[str, Any]) -> str:
    task = card["task"]
    return (f"# Reward card: {card['env']} / {task['name']}\n\n"
            f"Candidate `{card['candidate']}` of run `{card['run']['id']}`, written {card['written_at']} by "
            f"rewardsmith {card['provenance']['trainer'].split('+')[0]}. The reward in `reward.py` is "
            f"{card['reward']['origin']}." + ("" if card["reward"].get("as_trained", True) else
                                               " The policy, film, training curve and search scores below are "
                                               "the candidate's, trained with its own program; the measurement "
                                               "and a replay are of this reward."))


def _teaches(card: dict[str, Any]) -> str:
    task, reward = card["task"], card["reward"]
    lines = ["## What the reward teaches", "", f"The task: {task['description']}", ""]
    if task["has_fitness"]:
        lines.append(f"It is judged by the task score (never shown to the reward's author): {task['fitness_doc']} "
                     f"(fitness version {task['fitness_version']}).")
        if task["success_doc"]:
            lines.append(f"An episode counts as a success when {task['success_doc']}.")
    else:
        lines.append("This task was given as a description and has no task score: people ranked its rewards.")
    if reward.get("scales"):
        terms = ", ".join(f"`{name}` x {scale:g}" for name, scale in reward["scales"].items())
        lines += ["", f"The reward is the sum of its terms times their scales: {terms}."]
    return "\n".join(lines)


def _how_well(card: dict[str, Any]) -> str:
    lines = ["## How well"]
    raw = card.get("measurement")
    if raw:
        lines += ["", f"Measured: {Measurement.from_dict(raw).words()}. Scores are means over each seed's "
                      "evaluation episodes; intervals are 95% (the score's a bootstrap over seeds and episodes, "
                      "the success rate's Wilson)."]
    else:
        lines += ["", "No per-episode measurement of this reward is recorded, so a replay has nothing to compare "
                      "with."]
    search, training = card["search"], card["training"]
    if search.get("fitness") is not None:
        success = f", success rate {search['success_rate']:.2f}" if search.get("success_rate") is not None else ""
        lines += ["", f"In the search it scored {search['fitness']:.3f}{success} ({search['status']}, "
                      f"{_count(search['seeds'], 'seed')}, {search['episodes']} evaluation episodes on the first)."]
    config = training["config"]
    lines += ["", f"Training: trainer `{training['trainer']}`, {config['steps']:,} env steps per seed, "
                  f"{config['num_envs']} envs x {config['rollout_steps']} steps per PPO batch, learning rate "
                  f"{config['learning_rate']:g}, network {list(config['hidden'])}; the full settings are in "
                  "card.json (`training.config`)."]
    return "\n".join(lines)


def _confidence(card: dict[str, Any]) -> str:
    selection = card["selection"]
    lines = ["## With what confidence"]
    if selection.get("statement"):
        lines += ["", f"The run's answer: {selection['statement']}."]
        if selection.get("confirmed"):
            lines.append(f"Confirmed from scratch on fresh seeds: {', '.join(selection['confirmed'])}.")
        if selection.get("rule"):
            lines += ["", f"Selection rule: {selection['rule']}."]
    for gen in selection["generations"]:
        best = f"best so far {gen['best_overall']}" if gen["best_overall"] else "no best yet"
        decided = f", decided by {gen['decided_by']}" if gen["decided_by"] else ""
        statement = f": {gen['statement']}" if gen.get("statement") else ""
        lines.append(f"- generation {gen['generation']}: {best}{decided}{statement}")
    return "\n".join(lines)


def _cost(card: dict[str, Any]) -> str:
    cost = card["cost"]
    gpu = f", {cost['gpu_s']:.0f} GPU seconds" if cost["gpu_s"] else ""
    return ("## At what cost\n\n"
            f"The whole run: {cost['llm_requests']} LLM requests ({cost['prompt_tokens']:,} prompt and "
            f"{cost['completion_tokens']:,} completion tokens, ${cost['cost_usd']:.4f}), "
            f"{_count(cost['candidates_trained'], 'candidate')} trained, {cost['env_steps']:,} env steps "
            f"({cost['search_env_steps']:,} in the search, {cost['confirm_env_steps']:,} confirming), "
            f"{cost['cpu_s']:.0f} CPU seconds{gpu}.")


def _pictures(card: dict[str, Any]) -> str:
    files = card["files"]
    lines = ["## Film and training curves", ""]
    if "strip" in files:
        lines.append(f"![the policy's episode, frame by frame]({files['strip']})")
    if "video" in files:
        lines.append(f"The policy's representative evaluation episode: [{files['video']}]({files['video']})"
                     + (f"; its worst: [{files['worst_video']}]({files['worst_video']})"
                        if "worst_video" in files else "") + ".")
    if "curve_plot" in files:
        lines += ["", f"![training curve]({files['curve_plot']})", "",
                  f"The numbers behind it: `{files['curve']}` (task score, return and each term per checkpoint)."]
    if len(lines) == 2:
        lines.append("The candidate was not filmed and has no training curve.")
    return "\n".join(lines)


def _replay(card: dict[str, Any]) -> str:
    replay = card["replay"]
    return ("## How to replay\n\n"
            "```bash\nrewardsmith replay THIS_FOLDER [--seeds N]\n```\n\n"
            f"It checks that this machine has the same env files, task fitness, `reward.py`, MuJoCo and trainer as "
            f"the card (any difference is refused in one line; other package versions are only listed), then "
            f"trains `reward.py` from scratch on N fresh seeds (default {replay['default_seeds']}, from seed "
            f"{replay['first_seed']} on, skipping the seeds the card's numbers came from) with the training "
            f"settings above, and decides: it {replay['rule']}. It writes `replay.json` here and exits 0 when the "
            "result reproduces, 4 when it does not, 2 when it refuses.")


def _use(card: dict[str, Any]) -> str:
    env, task = card["env"], card["task"]["name"]
    text = ("## How to use the reward and the policy\n\n"
            "`reward.py` needs no rewardsmith: `SCALES` and `reward_terms(s, action, xp)`, where `s` is the env's "
            f"state view (rewardsmith's `envs/{env}/state_view.py` documents each field) and `xp` is `numpy` or "
            "`jax.numpy`:\n\n"
            "```python\nimport numpy as np\nfrom reward import SCALES, reward_terms\n"
            "terms = reward_terms(s, action, np)\n"
            "total = sum(SCALES[k] * terms[k] for k in SCALES)\n```\n\n"
            + ("It also defines `terminate(s, xp)`, True where its training ended an episode besides the task's own "
               "termination (OR'ed with it, in training only): end your training episodes there too.\n\n"
               if card["reward"].get("terminate") else "") +
            f"Train it again in rewardsmith: `rewardsmith train --env {env} --task {task} --reward reward.py`; "
            f"other formats (gymnasium, jax, torch, isaaclab): `rewardsmith export RUN --candidate "
            f"{card['candidate']} --format F -o reward_F.py` on the run.")
    if "policy" in card["files"]:
        text += ("\n\nThe trained policy needs numpy only:\n\n"
                 "```python\nfrom policy import load_policy\nact = load_policy(\"policy.npz\")\n"
                 "action = act(observation)   # the env's observation -> action in [-1, 1]\n```")
    return text


def _rests_on(card: dict[str, Any]) -> str:
    p = card["provenance"]
    return ("## What the card rests on\n\n"
            f"- env `{p['env']}`: sha256 `{p['env_sha256']}` (every file of its folder)\n"
            f"- task `{p['task']}`: fitness version {p['fitness_version']}, definition sha256 `{p['fitness_sha256']}`\n"
            f"- `reward.py`: sha256 `{p['reward_sha256']}`\n"
            f"- MuJoCo {p['mujoco']}, trainer {p['trainer']} (rewardsmith's version + its trainer code's hash), "
            f"Python {p['python']}, {len(p['packages'])} installed packages (card.json `provenance.packages`)\n"
            f"- the run's full config: `config.json`")
