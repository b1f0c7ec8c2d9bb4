"""The judge: a vision LLM ranks a generation's filmed episodes, from pictures and the task description alone (never
the reward code). As RL-VLM-F and VARP found, a judge needs a view of the whole trajectory, not one frame: each
candidate is one picture of FRAMES frames spread evenly over its filmed evaluation episode.

    episode_image(video)   FRAMES frames from the start to the end of the filmed episode, in a grid of COLUMNS
                           columns (read left to right, then down), each labelled with its time; a JPEG. The video
                           is the representative evaluation episode (evaluate/episodes.py); its end card, which
                           marks success from the task score, is left out: the judge ranks what it sees. A
                           candidate whose video is missing is shown by its thumbnail strip (strip.png, no mark);
                           one with neither is not shown.
    ask(...)               one request: the task text, then each candidate's id and picture as an image_url part (a
                           base64 data URL). The reply must be a JSON object {"ranking": [{"id", "reason"}, ...],
                           "summary"} that lists every candidate exactly once (parse_reply). A reply that does not is
                           answered with what was wrong and asked again, at most TRIES requests in all; then the
                           Verdict keeps the longest valid part of a reply (complete=False).
    complete(verdict, ids) the judge's order, then the candidates it did not place, in the order given (the caller's
                           fallback: task score where the task has one, else candidate order), and a note saying so.

Every request goes through llm/client.py: logged under the generation's llm/ folder with the other LLM calls,
counted toward --max-cost (images included), cached for a resumed run. judge_generation writes, in the generation's
folder: judge.json (the Verdict: order, reasons, tries, errors, fallback, images sent, tokens, cost),
usage_judge.json (tokens and cost, so `rewardsmith show` counts them with the generation's) and judge/<id>.jpg (the
pictures the judge saw).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext
from rewardsmith.errors import UserError
from rewardsmith.events import JudgeAsked, JudgeFallback, JudgeRetry, Report
from rewardsmith.llm import prompts
from rewardsmith.records import Candidate, Status
from rewardsmith.runs.store import RunStore, read_json, write_record

if TYPE_CHECKING:  # llm.client imports litellm (seconds): only a run that asks the judge pays for it
    from rewardsmith.llm.client import Completion, Guards, LLMConfig

FRAMES = 8
COLUMNS = 4
TILE = 240  # pixels across one frame of the grid
TRIES = 3  # requests per generation: the first and two more after a reply that fails validation
TEMPERATURE = 0.0  # a judge should rank the same pictures the same way
JPEG_QUALITY = 85


class JudgeError(UserError):
    """A judge that cannot work as configured (no model, a model litellm cannot resolve or price)."""


@dataclass(frozen=True)
class Shot:
    """What the judge sees of one candidate."""

    id: str
    image: bytes  # JPEG or PNG
    mime: str  # image/jpeg | image/png
    frames: int
    seconds: float | None  # length of the filmed episode (None for a strip)


@dataclass(frozen=True)
class Verdict:
    model: str
    order: tuple[str, ...]  # the candidates the judge placed, best first: all it was shown when complete
    reasons: dict[str, str]  # id -> the judge's reason
    summary: str
    complete: bool  # a reply listed every candidate shown exactly once
    tries: int  # requests sent
    errors: tuple[str, ...]  # what was wrong with each reply that was not used as it was
    images: int  # pictures per request (one per candidate shown)
    shown: tuple[str, ...]  # the candidates shown, in the order of the request
    unseen: dict[str, str] = field(default_factory=dict)  # id -> why it could not be shown
    usage: dict[str, Any] = field(default_factory=dict)  # prompt_tokens, completion_tokens, cost_usd, requests

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "order": list(self.order), "reasons": self.reasons, "summary": self.summary,
                "complete": self.complete, "tries": self.tries, "errors": list(self.errors), "images": self.images,
                "shown": list(self.shown), "unseen": self.unseen, "usage": self.usage}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(model=str(data["model"]), order=tuple(data["order"]), reasons=dict(data.get("reasons") or {}),
                   summary=str(data.get("summary") or ""), complete=bool(data["complete"]),
                   tries=int(data["tries"]), errors=tuple(data.get("errors") or ()), images=int(data["images"]),
                   shown=tuple(data.get("shown") or ()), unseen=dict(data.get("unseen") or {}),
                   usage=dict(data.get("usage") or {}))


# ---- pictures ---------------------------------------------------------------------------------------------------

def picture_size(frame_aspect: float = 1.0) -> tuple[int, int]:
    """(width, height) in pixels of the picture the judge gets per candidate: FRAMES tiles TILE wide, COLUMNS to a
    row; films are square (frame_aspect = height / width = 1)."""
    rows = -(-FRAMES // COLUMNS)
    return COLUMNS * TILE, rows * max(1, round(TILE * frame_aspect))


def episode_image(video: Path, frames: int = FRAMES, columns: int = COLUMNS, tile: int = TILE,
                  episode_frames: int | None = None) -> tuple[bytes, int, float]:
    """(JPEG bytes, frames in it, seconds of the episode) of `frames` frames evenly spaced over the video's first
    `episode_frames` (the episode before its end card; default: the whole video), the first and the last
    included, in a grid `columns` wide, each labelled with its time."""
    import imageio_ffmpeg

    # imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp unless this is set; a preexec_fn runs Python's at-fork
    # hooks, and JAX's (in any process where JAX is loaded) warns of a deadlock. Without it ffmpeg shares our
    # process group, so a Ctrl-C reaches it too: we are stopping then anyway.
    os.environ["IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"] = "1"
    total, seconds = imageio_ffmpeg.count_frames_and_secs(str(video))
    if total < 1:
        raise ValueError(f"{video} holds no frames")
    if episode_frames and episode_frames < total:
        seconds, total = seconds * episode_frames / total, episode_frames
    picks = sorted({int(i) for i in np.linspace(0, total - 1, min(frames, total)).round()})
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    width, height = meta["size"]
    fps = float(meta.get("fps") or (total / seconds if seconds else 1.0))
    kept: dict[int, np.ndarray] = {}
    try:
        for index, raw in enumerate(reader):
            if index in picks:
                kept[index] = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            if index >= picks[-1]:
                break
    finally:
        reader.close()
    tiles = [(kept[i], i / fps) for i in picks if i in kept]
    return _grid(tiles, columns, tile), len(tiles), float(seconds)


def _grid(tiles: list[tuple[np.ndarray, float]], columns: int, tile: int) -> bytes:
    from PIL import Image, ImageDraw

    first = tiles[0][0]
    tile_h = max(1, round(tile * first.shape[0] / first.shape[1]))
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    gap = 4
    sheet = Image.new("RGB", (columns * tile + (columns - 1) * gap, rows * tile_h + (rows - 1) * gap), "white")
    for n, (frame, at) in enumerate(tiles):
        image = Image.fromarray(frame).resize((tile, tile_h), Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(image)
        label = f"{n + 1}: t={at:.1f}s"
        box = draw.textbbox((4, 4), label)
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill="black")
        draw.text((4, 4), label, fill="white")
        sheet.paste(image, ((n % columns) * (tile + gap), (n // columns) * (tile_h + gap)))
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def shots(store: RunStore, candidates: Sequence[Candidate]) -> tuple[list[Shot], dict[str, str]]:
    """The pictures of the evaluated candidates, in candidate order, and why the others could not be shown."""
    shown, unseen = [], {}
    for cand in sorted(candidates, key=lambda c: c.index):
        if cand.status is not Status.EVALUATED:
            continue
        video, strip = store.video_path(cand.generation, cand.index), store.strip_path(cand.generation, cand.index)
        shown_episode = cand.film.representative if cand.film else None
        if video.is_file():
            try:
                image, frames, seconds = episode_image(video, episode_frames=shown_episode.frames if shown_episode
                                                       else None)
            except (OSError, RuntimeError, ValueError) as err:  # a damaged video: its strip may still show it
                if not strip.is_file():
                    unseen[cand.id] = f"its video cannot be read ({err})"
                    continue
            else:
                shown.append(Shot(cand.id, image, "image/jpeg", frames, seconds))
                continue
        if strip.is_file():
            shown.append(Shot(cand.id, strip.read_bytes(), "image/png", 6, None))
        else:
            reason = cand.film.reason if cand.film and cand.film.reason else "it was not filmed"
            unseen[cand.id] = reason
    return shown, unseen


# ---- the request and its reply ----------------------------------------------------------------------------------

def messages(intro: str, pictures: Sequence[Shot]) -> list[dict[str, Any]]:
    """One user message: the instructions, then each candidate's id and picture."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": intro}]
    for shot in pictures:
        parts.append({"type": "text", "text": f"Policy {shot.id}:"})
        url = f"data:{shot.mime};base64,{base64.b64encode(shot.image).decode('ascii')}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": parts}]


def intro_text(env_description: str, task_description: str, episode_text: str, ids: Sequence[str]) -> str:
    return prompts.render("judge", episode_text=episode_text, frames=FRAMES, columns=COLUMNS,
                          env_description=" ".join(env_description.split()),
                          task_description=" ".join(task_description.split()), count=len(ids), ids=", ".join(ids))


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_reply(text: str, ids: Sequence[str]) -> tuple[list[tuple[str, str]], str, list[str]]:
    """(the valid entries (id, reason) in the reply's order, the summary, what is wrong). The reply is usable as it
    is when nothing is wrong; otherwise the entries are the part that can be kept: each known id at its first
    place."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text[text.find("{"): text.rfind("}") + 1]
    try:
        data = json.loads(body)
    except ValueError as err:
        return [], "", [f"the reply holds no JSON object that parses ({err})"]
    if not isinstance(data, dict) or not isinstance(data.get("ranking"), list):
        return [], "", ['the JSON must be an object with a "ranking" list']
    known, entries, errors = set(ids), [], []
    seen: set[str] = set()
    for place, item in enumerate(data["ranking"], start=1):
        cid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(cid, str):
            errors.append(f'entry {place} of the ranking has no "id" string')
            continue
        cid = cid.strip()
        if cid not in known:
            errors.append(f"{cid!r} is not one of the policies")
        elif cid in seen:
            errors.append(f"{cid} is listed more than once")
        else:
            seen.add(cid)
            reason = item.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                errors.append(f'{cid} has no "reason"')
                reason = ""
            entries.append((cid, " ".join(reason.split())))
    missing = [i for i in ids if i not in seen]
    if missing:
        errors.append(f"the ranking leaves out {', '.join(missing)}")
    summary = data.get("summary")
    return entries, " ".join(summary.split()) if isinstance(summary, str) else "", errors


Sampler = Callable[[list[dict[str, Any]]], "Completion"]  # chat messages -> one answer (llm.client.sample)


def ask(send: Sampler, model: str, intro: str, pictures: Sequence[Shot], tries: int = TRIES,
        report: Report = lambda event: None) -> Verdict:
    """Asks the judge to rank `pictures`, at most `tries` requests; `send` makes one request (llm.client.sample
    with the run's guards). A failed request (network, refused) ends the tries: telling the model is no use."""
    ids = [shot.id for shot in pictures]
    chat = messages(intro, pictures)
    errors: list[str] = []
    completions: list[Completion] = []
    best: tuple[list[tuple[str, str]], str] = ([], "")
    for attempt in range(1, tries + 1):
        completion = send(chat)
        completions.append(completion)
        if completion.text is None:
            errors.append(f"request {attempt} failed: {completion.error}")
            break
        entries, summary, problems = parse_reply(completion.text, ids)
        if not problems:
            return _verdict(model, entries, summary, True, attempt, errors, pictures, completions)
        errors.append(f"reply {attempt}: " + "; ".join(problems))
        report(JudgeRetry(attempt, tries, tuple(problems)))
        if len(entries) > len(best[0]):
            best = (entries, summary)
        retry = prompts.render("judge_retry", errors="; ".join(problems), ids=", ".join(ids))
        chat = [*chat, {"role": "assistant", "content": completion.text}, {"role": "user", "content": retry}]
    return _verdict(model, best[0], best[1], False, len(completions), errors, pictures, completions)


def _verdict(model: str, entries: list[tuple[str, str]], summary: str, complete: bool, tries: int,
             errors: list[str], pictures: Sequence[Shot], completions: list[Completion]) -> Verdict:
    from rewardsmith.llm.client import usage_totals

    return Verdict(model=model, order=tuple(cid for cid, _ in entries),
                   reasons={cid: reason for cid, reason in entries if reason}, summary=summary, complete=complete,
                   tries=tries, errors=tuple(errors), images=len(pictures), shown=tuple(s.id for s in pictures),
                   usage=usage_totals(completions))


def complete(verdict: Verdict, fallback: Sequence[str], basis: str) -> tuple[list[str], str]:
    """The full order: the judge's, then every id of `fallback` it did not place (in fallback's order); and a note
    that says what did not come from the judge ('' when everything did). `basis` names fallback's order."""
    placed = [cid for cid in verdict.order if cid in fallback]
    rest = [cid for cid in fallback if cid not in placed]
    notes = []
    if not verdict.complete:
        notes.append(f"the judge gave no valid full ranking in {verdict.tries} request(s) "
                     f"(placed {len(placed)} of {len(verdict.shown)})")
    if verdict.unseen:
        notes.append(f"{', '.join(verdict.unseen)} could not be shown to the judge")
    if rest:
        notes.append(f"{', '.join(rest)} follow{'s' if len(rest) == 1 else ''} in {basis}")
    return placed + rest, "; ".join(notes)


# ---- one generation of a run ------------------------------------------------------------------------------------

def episode_text(env: Any, task: Any) -> str:
    """How long an evaluation episode is, and when it ends early, in words."""
    from rewardsmith.llm import facts

    seconds = task.episode_steps * facts.control_dt(env, facts.load_model(env))
    ends = f"; an episode ends early when {task.termination_doc}" if task.termination_doc else ""
    return f"at most {task.episode_steps} control steps ({seconds:g} s of simulated time){ends}"


def judge_generation(store: RunStore, gen: int, candidates: Sequence[Candidate], send: Sampler, model: str,
                     intro_for: Callable[[Sequence[str]], str], out_dir: Path,
                     report: Report = lambda event: None, name: str = "judge",
                     reverse: bool = False) -> Verdict:
    """Shows the generation's evaluated candidates to the judge and records its Verdict under `out_dir` (the
    generation's folder in a run; a folder of its own for the agreement benchmark) as `name`.json, with its usage as
    usage_`name`.json. `reverse` shows the pictures in reverse candidate order (the hybrid ranker's second look)."""
    pictures, unseen = shots(store, candidates)
    pictures = pictures[::-1] if reverse else pictures
    seen_dir = out_dir / "judge"
    seen_dir.mkdir(parents=True, exist_ok=True)
    for shot in pictures:
        (seen_dir / f"{shot.id}.{shot.mime.split('/')[1].replace('jpeg', 'jpg')}").write_bytes(shot.image)
    report(JudgeAsked(gen, model, len(pictures), sum(len(s.image) for s in pictures)))
    if len(pictures) >= 2:
        verdict = ask(send, model, intro_for([s.id for s in pictures]), pictures, report=report)
    else:  # nothing to compare: no request
        verdict = Verdict(model=model, order=tuple(s.id for s in pictures), reasons={}, summary="", complete=True,
                          tries=0, errors=(), images=len(pictures), shown=tuple(s.id for s in pictures))
    verdict = dataclasses.replace(verdict, unseen=unseen)
    write_record(out_dir / f"{name}.json", verdict.to_dict())
    write_record(out_dir / f"usage_{name}.json", {**verdict.usage, "images": verdict.images,
                                                  "by_model": {model: verdict.usage}})
    if not verdict.complete:
        report(JudgeFallback(gen, tuple(verdict.errors)))
    return verdict


def load_verdict(folder: Path, name: str = "judge") -> Verdict | None:
    path = folder / f"{name}.json"
    return Verdict.from_dict(read_json(path)) if path.is_file() else None


# ---- in an evolve run -------------------------------------------------------------------------------------------

def judge_config(model: str, api_base: str | None, timeout_s: float, max_tokens: int | None) -> LLMConfig:
    """The judge's llm.client.LLMConfig: the run's timeout and output cap, temperature TEMPERATURE."""
    from rewardsmith.llm.client import LLMConfig

    return LLMConfig(model=model, api_base=api_base, temperature=TEMPERATURE, timeout_s=timeout_s,
                     max_tokens=max_tokens)


def sender(config: LLMConfig, log_dir: Path, guards: Guards) -> Sampler:
    """One request of the judge through llm.client: logged in `log_dir`, under the guards' cap and cache."""
    from rewardsmith.llm import client

    return lambda chat: client.sample(config, chat, 1, log_dir=log_dir, guards=guards)[0]


def check_judge(cfg: RunConfig) -> None:
    """JudgeError (a ValueError, one line) before anything is written: a judge model litellm cannot resolve, or
    one it has no price for when --max-cost must be kept."""
    if not cfg.judge_model:
        return
    from rewardsmith.llm import client
    from rewardsmith.llm.budget import prices

    try:
        client.check_model(cfg.judge_model, cfg.judge_api_base)
        if cfg.max_cost is not None:
            prices(cfg.judge_model, cfg.max_tokens)
    except ValueError as err:
        raise JudgeError(str(err).replace("--model", "--judge-model")) from None


def run_judge(ctx: RunContext, gen: int, candidates: Sequence[Candidate], name: str = "judge",
              reverse: bool = False) -> Verdict:
    """The Verdict on generation `gen` of the run (recorded as gen_XX/`name`.json): the recorded one on a resume,
    else the judge is asked (its requests logged with the generation's, counted toward --max-cost, their answers
    cached); `reverse`: the pictures in reverse order."""
    saved = load_verdict(ctx.store.gen_dir(gen), name)
    if saved is not None:
        return saved
    from rewardsmith.llm import client
    from rewardsmith.llm.budget import Budget, ResponseCache, prices, spent_usd

    cfg = ctx.cfg
    assert cfg.judge_model, "--feedback judge needs --judge-model (RunConfig.validate says so)"
    config = judge_config(cfg.judge_model, cfg.judge_api_base, cfg.llm_timeout_s, cfg.max_tokens)
    model_prices = {cfg.judge_model: prices(cfg.judge_model, cfg.max_tokens)} if cfg.max_cost is not None else {}
    budget = Budget(cfg.max_cost, spent_usd(ctx.store.llm_log_dirs()), model_prices)
    guards = client.Guards(budget=budget, cache=ResponseCache(ctx.store.llm_cache_dir(gen), f"g{gen}judge"),
                           on_retry=ctx.report)
    send = sender(config, ctx.store.llm_log_dir(gen), guards)
    episode = episode_text(ctx.env, ctx.task)

    def intro_for(ids: Sequence[str]) -> str:
        return intro_text(ctx.env.description, ctx.task.description, episode, ids)

    return judge_generation(ctx.store, gen, candidates, send, cfg.judge_model, intro_for, ctx.store.gen_dir(gen),
                            ctx.report, name=name, reverse=reverse)
