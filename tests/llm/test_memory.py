"""The memory of verified terms without training: what goes in (and what does not), what an entry holds, which
entries a new run is shown and how, the `rewardsmith memory` commands and their bad input. Runs are made through
the records a run writes (tests/memory_runs.py); nothing here touches the user's home."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from memory_runs import STEPS, ablated, finished_run

from rewardsmith.cli.app import app
from rewardsmith.confidence import wilson
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.execute.ablate import Verdict
from rewardsmith.llm import memory
from rewardsmith.llm.memory import check_dir, default_dir, entry_for, read_entries, remember, write_entry
from rewardsmith.llm.memory_text import prompt_section, relevant

SWINGUP_OK = [[0.9] * 12 + [0.2] * 4, [0.8] * 16]  # 28 of 32 episodes reach swingup's 0.5
SWINGUP_FAILS = [[0.3] * 16, [0.6] * 4 + [0.1] * 12]  # 4 of 32


@pytest.fixture(autouse=True)
def no_home(tmp_path, monkeypatch):
    """Whatever a test computes as the default memory lies under tmp_path, never in the user's home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(memory.ENV_VAR, raising=False)


def task(name: str):
    return resolve_task(get_env("cartpole"), name)


def test_a_confirmed_answer_that_does_the_task_is_written_with_its_terms_and_scores(tmp_path):
    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    line = remember(store, tmp_path / "memory", result)
    assert line.startswith("memory: added g0c00 (cartpole/swingup"), line
    folder = tmp_path / "memory" / "cartpole" / f"{store.root.name}-g0c00"
    saved = json.loads((folder / "entry.json").read_text())
    answer = store.find_candidate("g0c00")
    assert (folder / "reward.py").read_text() == answer.source
    assert [(t["name"], t["scale"]) for t in saved["terms"]] == list(answer.scales.items())
    assert saved["terms"][0]["source"] == '"upright": s["pole_upright"]'
    assert all(t["effect"] is None for t in saved["terms"]) and saved["ablation"] is None
    confirmed = saved["confirmed"]
    assert confirmed["seeds"] == 2 and confirmed["episodes"] == 32
    assert confirmed["score"] == pytest.approx(np.mean([np.mean(s) for s in SWINGUP_OK]))
    assert confirmed["success"] == pytest.approx(28 / 32)
    assert confirmed["success_interval"] == pytest.approx(list(wilson(28, 32)))
    low, high = confirmed["score_interval"]
    assert low < confirmed["score"] < high
    assert confirmed["statement"] == "the run's own line" and saved["train_steps"] == STEPS
    assert saved["task_description"] == task("swingup").description and saved["run"] == str(store.root)
    assert [p.name for p in (tmp_path / "memory" / "cartpole").iterdir()] == [folder.name]  # no partial left


def test_the_ablations_measured_effects_come_with_the_terms(tmp_path):
    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    ablated(store, {"upright": (-0.4, -0.5, -0.3, Verdict.WORSE, "hurts when removed"),
                    "alive": (0.001, -0.01, 0.01, Verdict.NONE, "no measurable effect")})
    entry, _ = entry_for(store, result)
    effects = {t.name: t.effect for t in entry.terms}
    assert effects["upright"] == memory.Effect(-0.4, -0.5, -0.3, "hurts when removed")
    assert effects["alive"].verdict == "no measurable effect" and effects["effort"] is None  # effort: not ablated
    assert entry.ablation == f"2 seeds at {STEPS:,} env steps"


@pytest.mark.parametrize("scores, confirmed, words", [
    (SWINGUP_FAILS, True, "succeeded in 12% of its confirmation's episodes"),
    (SWINGUP_OK, False, "was not retrained from scratch"),
])
def test_an_answer_that_is_not_confirmed_to_do_the_task_stays_out(tmp_path, scores, confirmed, words):
    store, result = finished_run(tmp_path / "runs", "swingup", scores, confirmed=confirmed)
    line = remember(store, tmp_path / "memory", result)
    assert line.startswith("memory: not added: ") and words in line, line
    assert not (tmp_path / "memory").exists()


def test_a_write_that_fails_half_way_leaves_the_earlier_entry_whole(tmp_path, monkeypatch):
    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    entry, source = entry_for(store, result)
    where = write_entry(tmp_path / "memory", entry, source)
    before = sorted(p.name for p in where.iterdir())

    def full_disk(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(memory, "write_text", full_disk)
    line = remember(store, tmp_path / "memory", result)
    assert "not added: cannot write" in line and "No space left" in line
    assert [p.name for p in where.parent.iterdir()] == [where.name]  # no partial or old folder beside it
    assert sorted(p.name for p in where.iterdir()) == before


def _entries(tmp_path: Path) -> list[memory.Entry]:
    """Entries of balance (twice: a better and a worse answer) and swingup on cart-pole, and one of hopper."""
    out, mem = tmp_path / "runs", tmp_path / "memory"
    for name, task_name, scores in (("a-balance", "balance", [[1.0] * 16, [1.0] * 16]),
                                    ("b-balance", "balance", [[0.95] * 10 + [0.5] * 6, [1.0] * 16]),
                                    ("c-swingup", "swingup", SWINGUP_OK)):
        store, result = finished_run(out, task_name, scores, name=name)
        write_entry(mem, *entry_for(store, result))
    hopper = memory.Entry.from_dict({**read_entries(mem)[0][0].to_dict(), "env": "hopper", "id": "h"})
    return [*read_entries(mem)[0], hopper]


def test_a_run_is_shown_the_best_entry_of_each_other_task_on_its_env(tmp_path):
    entries = _entries(tmp_path)
    for_swingup = relevant(entries, "cartpole", task("swingup"))
    assert [e.id for e in for_swingup] == ["a-balance-g0c00"]  # not its own task, not hopper's, balance's best
    for_balance = relevant(entries, "cartpole", task("balance"))
    assert [e.task for e in for_balance] == ["swingup"]
    assert relevant(entries, "hopper", resolve_task(get_env("hopper"), "backflip"))[0].id == "h"


def test_tasks_sharing_more_words_come_first(tmp_path):
    entries = _entries(tmp_path)
    kneel = resolve_task(get_env("cartpole"), "keep the pole upright while the cart swings it up from below")
    assert [e.task for e in relevant(entries, "cartpole", kneel)] == ["swingup", "balance"]
    far = resolve_task(get_env("cartpole"), "keep the cart centred on the rail, balanced")
    assert [e.task for e in relevant(entries, "cartpole", far)] == ["balance", "swingup"]


def test_the_prompt_section_marks_the_examples_as_other_tasks_with_their_effects(tmp_path):
    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    ablated(store, {"upright": (-0.4, -0.5, -0.3, Verdict.WORSE, "hurts when removed")})
    remember(store, tmp_path / "memory", result)
    text = prompt_section(str(tmp_path / "memory"), "cartpole", task("balance"))
    assert "## Rewards that did other tasks in this environment" in text
    assert "Example 1, from the task 'swingup' (not yours)" in text
    assert "# term 'upright', scale 1; removing it: -0.400 [-0.500, -0.300], hurts when removed" in text
    assert '"upright": s["pole_upright"]' in text and "effect not measured" in text
    assert prompt_section(str(tmp_path / "memory"), "cartpole", task("swingup")) == ""  # its own task only
    assert prompt_section(None, "cartpole", task("balance")) == ""


def test_the_default_folder_follows_the_environment(tmp_path, monkeypatch):
    assert default_dir() == tmp_path / "xdg" / "rewardsmith" / "memory"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_dir() == tmp_path / "home" / ".local" / "share" / "rewardsmith" / "memory"
    monkeypatch.setenv(memory.ENV_VAR, str(tmp_path / "mine"))
    assert default_dir() == tmp_path / "mine"


def test_a_folder_that_cannot_be_a_memory_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UserError, match="is a file; give a folder"):
        check_dir(tmp_path / "a-file")
    with pytest.raises(UserError, match="its parent .* is not an existing folder"):
        check_dir(tmp_path / "no" / "such" / "memory")
    assert check_dir(tmp_path / "new") == tmp_path / "new"


def rewardsmith(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        app(list(args), prog_name="rewardsmith")
    out = capsys.readouterr()
    return done.value.code or 0, out.out, out.err


def test_add_list_show_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    store, _ = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    mem = tmp_path / "xdg" / "rewardsmith"
    mem.mkdir(parents=True)  # the default folder's parent; the folder itself is made by the first add
    code, out, err = rewardsmith(capsys, "memory", "add", str(store.root))
    assert code == 0 and "added g0c00" in out and "0 of 3 terms with a measured effect" in out, err
    code, out, _ = rewardsmith(capsys, "memory", "list")
    assert code == 0 and "1 entry" in out and "swingup" in out and f"{store.root.name}-g0c00" in out
    code, out, _ = rewardsmith(capsys, "memory", "show", f"{store.root.name}-g0c00")
    assert code == 0 and "Example 1, from the task 'swingup'" in out
    code, out, _ = rewardsmith(capsys, "memory", "list", "--env", "hopper")  # a known env without entries
    assert code == 0 and "0 entries" in out
    (mem / "memory" / "notes.txt").write_text("the user's own file stays")
    code, out, _ = rewardsmith(capsys, "memory", "clear", "--env", "cartpole")
    assert code == 0 and "removed 1 entry" in out
    assert [p.name for p in (mem / "memory").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args, words", [
    (["memory", "clear", "--env", "hopper"], "has no entries for env 'hopper'; envs with entries: cartpole"),
    (["memory", "clear"], "give --env ENV"),
    (["memory", "list", "--env", "nosuchenv"], "has no entries for env 'nosuchenv'"),
    (["memory", "show", "nosuch"], "no entry 'nosuch' in"),
    (["memory", "add", "{failing}"], "succeeded in 12% of its confirmation's episodes"),
    (["memory", "add", "{unfinished}"], "has not finished (no result.json)"),
    (["memory", "list", "--memory", "{tmp}/a-file"], "is a file; give a folder"),
    (["memory", "list", "--memory", "{tmp}/no/such"], "is not an existing folder"),
    (["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--trainer", "native", "--out", "{tmp}/out",
      "--memory", "{tmp}/a-file"], "--memory {tmp}/a-file is a file"),
    (["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--trainer", "native", "--out", "{tmp}/out",
      "--memory", "{tmp}/no/such"], "is not an existing folder"),
])
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys, args, words):
    mem = tmp_path / "memory"
    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    write_entry(mem, *entry_for(store, result))
    failing, _ = finished_run(tmp_path / "runs", "swingup", SWINGUP_FAILS, name="failing")
    unfinished, _ = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK, name="unfinished")
    (unfinished.root / "result.json").unlink()
    (tmp_path / "a-file").write_text("x")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    filled = [a.format(tmp=tmp_path, failing=failing.root, unfinished=unfinished.root) for a in args]
    has_memory = "--memory" in filled or filled[0] != "memory"
    code, _, err = rewardsmith(capsys, *filled, *([] if has_memory else ["--memory", str(mem)]))
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert words.format(tmp=tmp_path) in " ".join(err.split()), err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_ablating_an_answer_in_the_memory_brings_its_effects_to_the_entry(tmp_path, capsys):
    from rewardsmith.cli.memory import refresh_after_ablate

    store, result = finished_run(tmp_path / "runs", "swingup", SWINGUP_OK)
    mem = tmp_path / "memory"
    remember(store, mem, result)
    config = json.loads((store.root / "config.json").read_text())
    (store.root / "config.json").write_text(json.dumps({**config, "memory": str(mem)}))  # the run kept --memory
    ablated(store, {"upright": (-0.4, -0.5, -0.3, Verdict.WORSE, "hurts when removed")})
    refresh_after_ablate(store, "g0c00")
    assert "memory: added g0c00" in capsys.readouterr().out
    (entry,) = read_entries(mem)[0]
    assert entry.terms[0].effect is not None and entry.terms[0].effect.value == -0.4
    memory.clear(mem, "cartpole")  # removed by its user: an ablation does not put it back
    refresh_after_ablate(store, "g0c00")
    assert read_entries(mem)[0] == [] and capsys.readouterr().out == ""
