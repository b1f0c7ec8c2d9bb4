"""The vision judge (--feedback judge) through the real litellm path to the fake server: each candidate arrives as one
image part (a grid of frames of its real filmed episode), the scripted ranking becomes the Selection and its reasons
the next prompt's comments, a malformed reply is asked again with what was wrong, a reply that stays invalid falls
back and says so, the cost is logged and capped; the agreement benchmark; --no-video is refused."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from builders import GOOD, evaluated, failed
from fake_llm import FakeLLM
from PIL import Image

from rewardsmith.bench.agreement import kendall_tau, run_agreement
from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.evaluate.film import film_candidate
from rewardsmith.evolve import prepare
from rewardsmith.execute.train_stage import halving_default
from rewardsmith.feedback import judge
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.llm.budget import CostCapReached, spent_usd
from rewardsmith.llm.prompting import user_prompt
from rewardsmith.records import Film
from rewardsmith.runs.store import RunStore, read_json

FITNESS = {0: 0.4, 1: 0.9, 3: 0.1}  # c02 failed its check: never shown to the judge
IDS = ["g0c00", "g0c01", "g0c03"]
FREE_TASK = "keep the pole up while the cart drifts slowly to the right"


def _trace(index: int, steps: int = 60) -> np.ndarray:
    t = np.arange(steps + 1) * 0.02
    return np.stack([0.3 * (index + 1) * np.sin(t), 0.2 * (index + 1) * np.sin(3 * t)], axis=1)


def _run(tmp_path, task: str = "balance", generations: int = 1, judge_model: str = "openai/fake-vision",
         feedback: str = "judge", report=lambda event: None, **overrides) -> RunContext:
    """A stored cart-pole run whose evaluated candidates have real films (96 px, 61 steps: cheap)."""
    cfg = RunConfig(env="cartpole", task=task, feedback=feedback, models=("openai/fake",), judge_model=judge_model,
                    **overrides)
    store = RunStore.create(tmp_path, "run", cfg)
    for gen in range(generations):
        for index in (0, 1, 2, 3):
            if index == 2:
                store.save_candidate(failed(gen, index))
                continue
            cand = evaluated(gen, index, FITNESS[index] + gen)
            store.trace_path(gen, index).parent.mkdir(parents=True, exist_ok=True)
            np.savez(store.trace_path(gen, index), qpos=_trace(index)[None], dt=0.02)
            made = film_candidate(store, gen, index, width=96, height=96)
            store.save_candidate(cand.replace(film=Film(video=made["video"].name, strip=made["strip"].name,
                                                        episodes=made["episodes"])))
    env = get_env("cartpole")
    return RunContext(store, cfg, env, resolve_task(env, task), report)


def _with_server(ctx: RunContext, fake: FakeLLM, **changes) -> RunContext:
    return dataclasses.replace(ctx, cfg=dataclasses.replace(ctx.cfg, judge_api_base=fake.base_url, **changes))


def _rank(ctx: RunContext, gen: int = 0):
    return RANKERS.get("judge").make(ctx).rank(gen, ctx.store.candidates(gen), None)


def _reply(order: list[str], reasons: dict | None = None, summary: str = "") -> str:
    reasons = reasons or {}
    ranking = [{"id": cid, "reason": reasons.get(cid, f"{cid} keeps the pole up for a while")} for cid in order]
    return json.dumps({"ranking": ranking, "summary": summary})


def _parts(request: dict) -> list[dict]:
    (message,) = [m for m in request["messages"] if isinstance(m["content"], list)]
    return message["content"]


def test_the_judge_is_a_registered_ranker_that_needs_films_and_trains_everything_fully():
    assert "judge" in RANKERS.names()
    ranker = RANKERS.get("judge")
    assert ranker.needs_videos and not ranker.needs_fitness
    assert not halving_default("judge", "native")  # every candidate trains to the full budget


def test_each_candidate_is_one_picture_of_its_whole_episode_and_the_ranking_becomes_the_selection(tmp_path):
    ctx = _run(tmp_path)
    reasons = {"g0c03": "balances the pole all episode", "g0c00": "wobbles but holds",
               "g0c01": "drops the pole at once"}
    with FakeLLM([f"Here is my ranking:\n```json\n{_reply(['g0c03', 'g0c00', 'g0c01'], reasons, 'too much cart motion')}\n```"]) as fake:
        selection = _rank(_with_server(ctx, fake))
    (request,) = fake.requests
    parts = _parts(request)
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 3  # one per evaluated candidate; the failed c02 is not shown
    labels = [p["text"] for p in parts if p["type"] == "text"][1:]
    assert labels == [f"Policy {cid}:" for cid in IDS]
    for image in images:
        url = image["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        picture = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        picture.load()
        assert picture.format == "JPEG"
        # 8 frames of the 96 px film, each scaled to 240 px, 4 columns x 2 rows with 4 px gaps
        assert picture.size == (4 * 240 + 3 * 4, 2 * 240 + 4)
    intro = parts[0]["text"]
    assert ctx.task.description in intro and "8 frames" in intro and "g0c00, g0c01, g0c03" in intro
    assert "SCALES" not in json.dumps(request) and "reward_terms" not in json.dumps(request)  # no reward code
    assert request["temperature"] == judge.TEMPERATURE

    assert selection.mode == "judge" and selection.ranking == ("g0c03", "g0c00", "g0c01")
    assert (selection.best, selection.worst, selection.best_overall) == ("g0c03", "g0c01", "g0c03")
    assert selection.comments == reasons and selection.generation_comment == "too much cart motion"
    verdict = read_json(ctx.store.gen_dir(0) / "judge.json")
    assert verdict["complete"] and verdict["tries"] == 1 and verdict["images"] == 3 and verdict["errors"] == []
    assert sorted(p.name for p in (ctx.store.gen_dir(0) / "judge").iterdir()) == [f"{c}.jpg" for c in IDS]


def test_the_picture_spans_the_first_to_the_last_frame_of_the_episode_without_its_end_card(tmp_path):
    ctx = _run(tmp_path)
    video = ctx.store.video_path(0, 1)
    shown = ctx.store.load_candidate(0, 1).film.representative
    assert shown.frames == 31  # every 2nd of 61 steps at 25 fps; the end card (25 more frames) follows
    image, frames, seconds = judge.episode_image(video, episode_frames=shown.frames)
    assert frames == judge.FRAMES and seconds == pytest.approx(31 / 25)
    grid = np.asarray(Image.open(io.BytesIO(image)))
    first, last = grid[:240, :240].astype(int), grid[244:, 3 * 244:].astype(int)
    assert np.abs(first - last).mean() > 1.0  # the cart moved between the first and the last frame
    whole = np.asarray(Image.open(io.BytesIO(judge.episode_image(video)[0])))[244:, 3 * 244:].astype(int)
    assert np.abs(whole - last).mean() > 1.0  # the end card's mark, which the judge does not see
    short = ctx.store.video_path(0, 0)
    assert judge.episode_image(short, frames=3, columns=3)[1] == 3


def test_a_candidate_without_a_video_is_shown_by_its_strip_and_one_without_a_film_is_placed_last(tmp_path):
    ctx = _run(tmp_path)
    ctx.store.video_path(0, 0).unlink()  # its strip.png remains
    ctx.store.video_path(0, 3).unlink()
    ctx.store.strip_path(0, 3).unlink()
    with FakeLLM([_reply(["g0c00", "g0c01"])]) as fake:
        selection = _rank(_with_server(ctx, fake))
    urls = [p["image_url"]["url"] for p in _parts(fake.requests[0]) if p["type"] == "image_url"]
    assert [u.split(";")[0] for u in urls] == ["data:image/png", "data:image/jpeg"]  # g0c00's strip, g0c01's grid
    strip = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert strip.format == "PNG" and strip.size == (6 * 160, 160)  # film.thumbnail_strip: 6 frames of 160 px
    assert selection.ranking == ("g0c00", "g0c01", "g0c03")
    assert selection.generation_comment == "(g0c03 could not be shown to the judge; g0c03 follows in task-score order)"
    assert read_json(ctx.store.gen_dir(0) / "judge.json")["unseen"] == {"g0c03": "it was not filmed"}


def test_judge_reasons_are_the_comments_of_the_next_prompt(tmp_path):
    ctx = _run(tmp_path)
    reasons = {"g0c01": "upright and centred", "g0c00": "slides to the edge", "g0c03": "falls over"}
    with FakeLLM([_reply(["g0c01", "g0c00", "g0c03"], reasons)]) as fake:
        selection = _rank(_with_server(ctx, fake))
    ctx.store.save_selection(selection)
    prompt = user_prompt(ctx, 1, ctx.store.find_candidate("g0c01"), RANKERS.get(ctx.cfg.feedback).follow_up)
    assert "The reviewer's comments:\n- about g0c01: upright and centred\n- about g0c00: slides to the edge\n" \
           "- about g0c03: falls over" in prompt
    assert "filmed it, and a vision model (a judge looking at frames of each video) ranked the videos" in prompt
    assert "Task score" not in prompt


def test_a_malformed_reply_is_asked_again_with_what_was_wrong(tmp_path):
    ctx = _run(tmp_path)
    bad = json.dumps({"ranking": [{"id": "g0c09", "reason": "x"}, {"id": "g0c01", "reason": "y"},
                                  {"id": "g0c01", "reason": "z"}]})
    with FakeLLM(["I think the second one is best.", bad, _reply(["g0c01", "g0c03", "g0c00"])]) as fake:
        selection = _rank(_with_server(ctx, fake))
    assert len(fake.requests) == 3
    second, third = fake.requests[1]["messages"], fake.requests[2]["messages"]
    assert second[-2] == {"role": "assistant", "content": "I think the second one is best."}
    assert "Your reply could not be used: the reply holds no JSON object" in second[-1]["content"]
    assert len([p for p in _parts(fake.requests[1]) if p["type"] == "image_url"]) == 3  # the pictures again
    feedback = third[-1]["content"]
    assert "'g0c09' is not one of the policies" in feedback and "g0c01 is listed more than once" in feedback
    assert "the ranking leaves out g0c00, g0c03" in feedback
    assert selection.ranking == ("g0c01", "g0c03", "g0c00") and selection.generation_comment == ""
    verdict = read_json(ctx.store.gen_dir(0) / "judge.json")
    assert verdict["complete"] and verdict["tries"] == 3 and len(verdict["errors"]) == 2


@pytest.mark.parametrize("task, expected, basis", [
    ("balance", ("g0c03", "g0c01", "g0c00"), "task-score order"),  # c01 0.9 > c00 0.4
    (FREE_TASK, ("g0c03", "g0c00", "g0c01"), "candidate order"),  # no fitness: by index
])
def test_a_reply_that_stays_invalid_falls_back_and_says_so(tmp_path, task, expected, basis):
    ctx = _run(tmp_path, task=task)
    partial = _reply(["g0c03"], {"g0c03": "steady"})  # leaves two out, three times
    with FakeLLM([partial, partial, partial, "never asked"]) as fake:
        selection = _rank(_with_server(ctx, fake))
    assert len(fake.requests) == judge.TRIES
    # the judge's valid part first, then the rest in the fallback order
    assert selection.ranking == expected and selection.comments == {"g0c03": "steady"}
    assert selection.generation_comment == (f"(the judge gave no valid full ranking in 3 request(s) (placed 1 of 3); "
                                            f"{expected[1]}, {expected[2]} follow in {basis})")
    verdict = read_json(ctx.store.gen_dir(0) / "judge.json")
    assert not verdict["complete"] and verdict["order"] == ["g0c03"] and len(verdict["errors"]) == 3


def test_a_reply_with_no_usable_part_falls_back_entirely(tmp_path):
    ctx = _run(tmp_path)
    with FakeLLM(["no idea"] * 3) as fake:
        selection = _rank(_with_server(ctx, fake))
    assert selection.ranking == ("g0c01", "g0c00", "g0c03") and selection.comments == {}
    assert "placed 0 of 3" in selection.generation_comment


def test_a_failed_request_is_not_repeated_by_the_judge(tmp_path):
    ctx = _run(tmp_path)
    with FakeLLM([{"status": 400, "body": {"error": {"message": "this model does not take images"}}}]) as fake:
        selection = _rank(_with_server(ctx, fake))
    assert len(fake.requests) == 1  # a 400 is not retried by the client, and telling the model is no use
    verdict = read_json(ctx.store.gen_dir(0) / "judge.json")
    assert "request 1 failed" in verdict["errors"][0] and "does not take images" in verdict["errors"][0]
    assert selection.ranking == ("g0c01", "g0c00", "g0c03") and "placed 0 of 3" in selection.generation_comment


def test_a_resumed_run_reuses_the_verdict(tmp_path):
    ctx = _run(tmp_path)
    with FakeLLM([_reply(["g0c00", "g0c03", "g0c01"])]) as fake:
        first = _rank(_with_server(ctx, fake))
        again = _rank(_with_server(ctx, fake))
    assert len(fake.requests) == 1 and again == first


def test_cost_images_and_tokens_are_logged_and_count_toward_the_cap(tmp_path):
    ctx = _run(tmp_path, judge_model="openai/gpt-4o")  # a model litellm has prices for
    with FakeLLM([_reply(["g0c00", "g0c01", "g0c03"])]) as fake:
        _rank(_with_server(ctx, fake))
    usage = read_json(ctx.store.gen_dir(0) / "usage_judge.json")
    assert usage["images"] == 3 and usage["requests"] == 1 and usage["prompt_tokens"] > 0
    assert usage["cost_usd"] > 0 and usage["by_model"]["openai/gpt-4o"]["cost_usd"] == usage["cost_usd"]
    (log,) = (ctx.store.llm_log_dir(0)).glob("*.json")
    assert read_json(log)["cost_usd"] == pytest.approx(usage["cost_usd"])
    assert spent_usd(ctx.store.llm_log_dirs()) == pytest.approx(usage["cost_usd"])  # what --max-cost counts

    capped = _run(tmp_path / "capped", judge_model="openai/gpt-4o", max_cost=0.001, max_tokens=500)
    with FakeLLM([_reply(["g0c00", "g0c01", "g0c03"])]) as fake:
        with pytest.raises(CostCapReached):  # three pictures and 500 output tokens of gpt-4o pass $0.001
            _rank(_with_server(capped, fake))
    assert fake.requests == []  # nothing sent


def test_kendall_tau():
    scores = {"a": 3.0, "b": 2.0, "c": 1.0}
    assert kendall_tau(["a", "b", "c"], scores) == 1.0
    assert kendall_tau(["c", "b", "a"], scores) == -1.0
    assert kendall_tau(["b", "a", "c"], scores) == pytest.approx(1 / 3)
    assert kendall_tau(["a", "b"], {"a": 1.0, "b": 1.0}) is None
    assert kendall_tau(["a", "b", "c"], {"a": 2.0, "b": 2.0, "c": 1.0}) == pytest.approx(2 / np.sqrt(6))


def test_the_agreement_benchmark_compares_the_judge_with_the_task_score(tmp_path):
    ctx = _run(tmp_path, generations=2)
    replies = [_reply(["g0c01", "g0c00", "g0c03"]),  # generation 0: the fitness order
               _reply(["g1c03", "g1c00", "g1c01"])]  # generation 1: reversed
    lines: list[str] = []
    with FakeLLM(replies) as fake:
        result = run_agreement(ctx.store.root, "openai/fake-vision", fake.base_url, tmp_path / "agreement",
                               echo=lines.append)
    rows = result["per_generation"]
    assert [(r["gen"], r["tau"], r["best_hit"], r["worst_hit"]) for r in rows] == [(0, 1.0, True, True),
                                                                                    (1, -1.0, False, False)]
    assert result["overall"]["mean_tau"] == 0.0 and result["overall"]["best_hit_rate"] == 0.5
    assert lines[0].startswith("generation 0: 3 candidates, Kendall tau +1.00, best hit, worst hit")
    assert lines[-2].startswith("overall (2 generations): mean Kendall tau +0.00, best hit 50%, worst hit 50%")
    assert (tmp_path / "agreement" / "gen_01" / "judge.json").is_file()
    assert not (ctx.store.gen_dir(0) / "judge.json").exists()  # the run itself is left as it was
    assert read_json(tmp_path / "agreement" / "agreement.json")["overall"]["generations"] == 2

    free = _run(tmp_path / "free", task=FREE_TASK)
    with pytest.raises(ValueError, match="has no fitness metric: there is nothing to compare the judge with"):
        run_agreement(free.store.root, "openai/fake-vision", None)


def _cli(*args: str, module: str = "rewardsmith.cli") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_agreement_benchmark_from_the_command_line(tmp_path):
    ctx = _run(tmp_path / "scored")
    with FakeLLM([_reply(["g0c01", "g0c03", "g0c00"])]) as fake:
        proc = _cli("judge", "--run", str(ctx.store.root), "--judge-model", "openai/fake-vision", "--api-base",
                    fake.base_url, module="rewardsmith.bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("generation 0: 3 candidates, Kendall tau +0.33, best hit, worst miss; judge g0c01 > g0c03 > "
                        "g0c00; task score g0c01 > g0c00 > g0c03")
    assert lines[1].startswith("overall (1 generations): mean Kendall tau +0.33, best hit 100%, worst hit 0%")
    (written,) = (ctx.store.root / "judge_agreement").glob("*/agreement.json")
    assert lines[2] == f"written: {written}"


@pytest.mark.parametrize("feedback", ["judge", "hybrid"])
@pytest.mark.parametrize("args, message", [
    (["--judge-model", "openai/gpt-4o", "--no-video"], "--feedback {} ranks the filmed episodes, so it cannot run "
                                                       "with --no-video"),
    ([], "--feedback {} needs --judge-model M"),
])
def test_judge_modes_refuse_what_they_cannot_do_in_one_line(tmp_path, args, message, feedback):
    out = tmp_path / "runs"
    proc = _cli("evolve", "--env", "cartpole", "--task", "balance", "--final-seeds", "0", "--race-seeds", "0", "--model", "openai/gpt-4o-mini", "--api-base",
                "http://127.0.0.1:9/v1", "--trainer", "native", "--feedback", feedback, *args, "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = message.format(feedback)
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("changes, message", [
    ({"halving": True}, "--halving needs a ranker with a task fitness"),
    ({"judge_model": "openai/my-own-vlm", "max_cost": 1.0}, "--max-cost needs the price of --judge-model "
                                                             "'openai/my-own-vlm'"),
    ({"judge_model": "no-provider-vlm"}, "--judge-model 'no-provider-vlm': litellm knows no provider for it"),
])
def test_judge_settings_are_checked_before_a_run_starts(changes, message):
    cfg = RunConfig(env="cartpole", task="balance", models=("openai/gpt-4o-mini",), feedback="judge",
                    judge_model="openai/gpt-4o")
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare(dataclasses.replace(cfg, **changes))
    prepare(cfg, live=False)  # the settings pass (live=True would also probe api.openai.com, unreachable here)


def _fake_answer(request: dict) -> str:
    """The fake server as both LLMs of an evolve: reward programs for text prompts; for the judge's pictures, a
    ranking of the ids it was shown, in reverse order of arrival."""
    content = request["messages"][-1]["content"]
    if isinstance(content, list):
        ids = [p["text"].removeprefix("Policy ").rstrip(":") for p in content[1:] if p["type"] == "text"]
        return _reply(ids[::-1], summary="all of them let the cart drift")
    return f"```python\n{GOOD}```"


@pytest.mark.slow  # ~70 s on two shared cores: two sandboxed trainings and films (pytest -m slow)
def test_evolve_with_the_judge_end_to_end(tmp_path):
    out = tmp_path / "runs"
    with FakeLLM([], default=_fake_answer) as fake:
        proc = _cli("evolve", "--env", "cartpole", "--task", "balance", "--final-seeds", "0", "--race-seeds", "0", "--model", "openai/fake", "--api-base",
                    fake.base_url, "--feedback", "judge", "--judge-model", "openai/fake-vision", "--judge-api-base",
                    fake.base_url, "--iterations", "1", "--samples", "2", "--train-steps", "2048", "--trainer",
                    "native", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run,) = out.iterdir()
    selection = read_json(run / "gen_00" / "selection.json")
    assert selection["mode"] == "judge" and selection["ranking"] == ["g0c01", "g0c00"]
    assert selection["best_overall"] == "g0c01" and set(selection["comments"]) == {"g0c00", "g0c01"}
    assert selection["generation_comment"] == "all of them let the cart drift"
    images = [p for p in _parts(fake.requests[-1]) if p["type"] == "image_url"]
    assert len(images) == 2 and fake.requests[-1]["model"] == "fake-vision"
    assert all(read_json(run / "gen_00" / f"cand_0{i}" / "candidate.json")["stop"] == "budget" for i in (0, 1))
