"""`rewardsmith evolve --config run.toml`: the file's settings fill in what the command line leaves out, flags given
override it, the run records the merged config, and a key or value the file gets wrong is one line naming it and
what is valid, with nothing written.

The merge tests run the real command in-process with the evolve loop itself replaced by a recorder (what is tested
is which settings the run gets, not the training); tests/evaluate/test_play.py runs a real evolve from a file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import typer
from builders import evaluated

import rewardsmith.evolve
from rewardsmith.cli.app import app
from rewardsmith.cli.config_file import NOT_SETTABLE, from_file, settings
from rewardsmith.config import RUN_SETTINGS, RunConfig
from rewardsmith.evolve import EvolveResult
from rewardsmith.runs.store import RunStore

BASE = """\
env = "cartpole"
task = "balance"
trainer = "native"
"""


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


@pytest.fixture()
def evolve_runs(monkeypatch, tmp_path):
    """The evolve loop replaced by a recorder of the configs it is given; returns (configs, run directory)."""
    configs: list[RunConfig] = []

    def record(store, cfg, report):
        configs.append(cfg)
        best = evaluated(0, 0, 0.5)  # a run with no evaluated candidate exits 1; the recorder's run has one
        store.save_candidate(best)
        return EvolveResult(best=best, generations=cfg.iterations)

    monkeypatch.setattr(rewardsmith.evolve, "evolve", record)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDSMITH_MODEL", "REWARDSMITH_ENVS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return configs


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        app(args, prog_name="rewardsmith")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def _recorded(out_dir: Path) -> dict:
    (run,) = out_dir.iterdir()
    return json.loads((run / "config.json").read_text())


def test_the_file_fills_in_settings_and_flags_given_override_it(tmp_path, evolve_runs, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "run.toml").write_text(BASE + textwrap.dedent("""\
        iterations = 2
        samples = 3
        train_steps = 1024
        feedback = "synthetic"
        synthetic_noise = 0.1
        temperature = 1          # an integer is a number
        models = []              # the LLM-free mode, as config.json writes it
        video = false
        halving = false
        stop_at_success = true
        out = "runs"             # relative to this file's folder
        """))
    code, out, err = _run(["evolve", "--config", str(folder / "run.toml"), "--samples", "5", "--video",
                           "--temperature", "0.5"], capsys)
    assert code == 0, err
    recorded = _recorded(folder / "runs")
    assert recorded["samples"] == 5 and recorded["video"] is True and recorded["temperature"] == 0.5  # the flags
    assert recorded["iterations"] == 2 and recorded["train_steps"] == 1024 and recorded["feedback"] == "synthetic"
    assert recorded["synthetic_noise"] == 0.1 and recorded["models"] == [] and recorded["halving"] is False
    assert recorded["train"] == {"stop_at_success": True} and recorded["trainer"] == "native"
    assert recorded["seed"] == RunConfig.seed and recorded["final_seeds"] == RunConfig.final_seeds  # defaults
    # the config the loop ran with is the one recorded, and the run reads it back as such
    (run,) = (folder / "runs").iterdir()
    assert evolve_runs == [RunStore.open(run).config()]
    assert "LLM-free" in out


def test_an_llm_choice_on_the_command_line_replaces_the_files(tmp_path, evolve_runs, capsys):
    (tmp_path / "llm.toml").write_text(BASE + 'models = ["openai/gpt-4o-mini"]\napi_bases = ["http://127.0.0.1:9/v1"]\n'
                                       'video = false\nout = "a"\n')
    code, _, err = _run(["evolve", "--config", str(tmp_path / "llm.toml"), "--llm-free"], capsys)
    assert code == 0, err
    assert _recorded(tmp_path / "a")["models"] == [] and _recorded(tmp_path / "a")["api_bases"] == []
    # the other way round, at the level of the default map (a run with a model would import litellm: slow)
    evolve = typer.main.get_command(app).commands["evolve"]
    (tmp_path / "free.toml").write_text(BASE + "llm_free = true\nsamples = 2\n")
    assert from_file(tmp_path / "free.toml", evolve, {"model"}).defaults == {
        "env": "cartpole", "task": "balance", "trainer": "native", "samples": 2}
    assert from_file(tmp_path / "llm.toml", evolve, {"out"}).defaults == {
        "env": "cartpole", "task": "balance", "trainer": "native", "model": ["openai/gpt-4o-mini"],
        "api_base": ["http://127.0.0.1:9/v1"], "video": False}  # --out given: the file's out is left out
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "paths.toml").write_text(BASE + 'tensorboard = "tb"\nenvs_dir = "../my_envs"\n')
    paths = from_file(tmp_path / "sub" / "paths.toml", evolve, set()).defaults
    assert paths["tensorboard"] == str(tmp_path / "sub" / "tb")  # paths are relative to the file's folder
    assert paths["envs_dir"] == str(tmp_path / "my_envs")


# (the file's text after env/task/trainer, the words the one line must contain)
BAD = [
    ("generations = 2\n", ["unknown key 'generations' (did you mean 'iterations'?)", "valid keys: ",
                           "envs_dir", "iterations", "llm_free", "models", "out", "samples", "train_steps"]),
    ("max_sample_rounds = 2.5\n", ["'max_sample_rounds' must be an integer, got 2.5 (float)"]),
    ('schema = 3\n', ["'schema' cannot be set in a run config: it is the version of config.json's format"]),
    ('init_source = "SCALES = {}"\n', ["'init_source' cannot be set in a run config", 'init = "my_reward.py"']),
    ('resume = "runs/x"\n', ["'resume' cannot be set in a run config: continue a run with rewardsmith evolve "
                             "--resume RUN"]),
    ("train = 3\n", ["'train' must be a table, got 3 (int)"]),
    ("[train]\nnum_env = 8\n", ["[train]: unknown train setting 'num_env'; valid: num_envs, rollout_steps"]),
    ("[train]\nsteps = 8\n", ["[train]: train setting 'steps' is the run's own 'train_steps'; set that instead"]),
    ("[train]\nseed = 1\n", ["[train]: train setting 'seed' is the run's own 'seed'; set that instead"]),
    ("[train]\nnum_envs = 0\n", ["train setting 'num_envs' must be a positive integer, got 0"]),
    ("[train]\nepochs = true\n", ["train setting 'epochs' must be a positive integer, got True"]),
    ("[train]\nlearning_rate = nan\n", ["train setting 'learning_rate' must be a finite number, got nan"]),
    ("[train]\nhidden = 64\n", ["train setting 'hidden' must be a list of positive integers (layer widths)"]),
    ("[train]\nstop_at_success = 1\n", ["train setting 'stop_at_success' must be true or false, got 1"]),
    ('samples = "4"\n', ["'samples' must be an integer, got '4' (str)"]),
    ("samples = 4.0\n", ["'samples' must be an integer, got 4.0 (float)"]),
    ("train_steps = true\n", ["'train_steps' must be an integer, got True (bool)"]),
    ("video = 1\n", ["'video' must be true or false, got 1 (int)"]),
    ("temperature = \"hot\"\n", ["'temperature' must be a number"]),
    ('models = "openai/gpt-4o-mini"\n', ["'models' must be a list of strings"]),
    ("models = [1, 2]\n", ["'models' must be a list of strings"]),
    ("samples = \n", ["is not valid TOML"]),
]


@pytest.mark.parametrize("text, words", BAD, ids=[t.split("\n")[0][:30] for t, _ in BAD])
def test_a_bad_key_or_value_is_one_line_naming_it_and_nothing_is_written(tmp_path, evolve_runs, capsys, text, words):
    (tmp_path / "run.toml").write_text(BASE + text)
    before = _snapshot(tmp_path)
    code, _, err = _run(["evolve", "--config", str(tmp_path / "run.toml")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: Invalid value for '--config': ") and "Traceback" not in err
    assert all(w in err for w in words), err
    assert _snapshot(tmp_path) == before and evolve_runs == []


# values of the right kind that the run's checks refuse (config.validate, evolve.prepare), as they refuse the same in a
# config.json: one line, not attributed to --config
LATE = [
    ("max_sample_rounds = 0\n", "error: setting 'max_sample_rounds' must be a positive integer, got 0"),
    ("[train]\nminibatches = 3\n", "error: train setting 'minibatches' (3) must divide num_envs x rollout_steps "
                                   "(64 x 32 = 2048)"),
]


@pytest.mark.parametrize("text, line", LATE, ids=[t.split("\n")[0][:30] for t, _ in LATE])
def test_a_value_the_run_refuses_is_one_line_and_nothing_is_written(tmp_path, evolve_runs, capsys, text, line):
    (tmp_path / "run.toml").write_text(BASE + 'models = []\nout = "runs"\n' + text)
    code, _, err = _run(["evolve", "--config", str(tmp_path / "run.toml")], capsys)
    assert code == 2 and err.strip() == line, err
    assert not (tmp_path / "runs").exists() and evolve_runs == []


def test_fields_without_a_flag_and_ppo_settings_reach_the_run(tmp_path, evolve_runs, capsys):
    """max_sample_rounds and the [train] table (no flag gives them) are recorded; --stop-at-success joins the
    table; the run's training config has the table over the env's PPO settings."""
    (tmp_path / "run.toml").write_text(BASE + textwrap.dedent("""\
        models = []
        video = false
        max_sample_rounds = 5
        out = "runs"
        [train]
        learning_rate = 0.002
        hidden = [32, 16]
        num_envs = 32
        """))
    code, _, err = _run(["evolve", "--config", str(tmp_path / "run.toml"), "--stop-at-success"], capsys)
    assert code == 0, err
    recorded = _recorded(tmp_path / "runs")
    assert recorded["max_sample_rounds"] == 5
    assert recorded["train"] == {"learning_rate": 0.002, "hidden": [32, 16], "num_envs": 32, "stop_at_success": True}
    from rewardsmith.context import RunContext
    from rewardsmith.env.registry import get_env, resolve_task

    (cfg,) = evolve_runs
    env, task = get_env("cartpole"), resolve_task(get_env("cartpole"), "balance")
    ppo = RunContext(None, cfg, env, task, print).training_config(seed=3)
    assert (ppo.learning_rate, ppo.hidden, ppo.num_envs, ppo.stop_at_success, ppo.seed) == (
        0.002, (32, 16), 32, True, 3)
    assert ppo.rollout_steps == env.ppo["rollout_steps"] and ppo.steps == task.train_steps


def test_every_config_json_name_is_a_run_config_key_or_refused_in_one_line(tmp_path, evolve_runs, capsys):
    """A run config takes config.json's names: each is a key of the file or refused, with what to give instead."""
    evolve = typer.main.get_command(app).commands["evolve"]
    (tmp_path / "run.toml").write_text(BASE + 'models = []\nvideo = false\nout = "runs"\n')
    assert _run(["evolve", "--config", str(tmp_path / "run.toml")], capsys)[0] == 0
    names = set(_recorded(tmp_path / "runs"))
    assert names - set(settings(evolve)) == set(NOT_SETTABLE) & names == {"schema", "init_source"}


def test_a_missing_file_and_a_resume_with_a_file_are_one_line(tmp_path, evolve_runs, capsys):
    code, _, err = _run(["evolve", "--config", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "nope.toml is not a file; give a TOML file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "run.toml").write_text(BASE + 'models = []\nvideo = false\nout = "runs"\n')
    assert _run(["evolve", "--config", str(tmp_path / "run.toml")], capsys)[0] == 0
    (run,) = (tmp_path / "runs").iterdir()
    code, _, err = _run(["evolve", "--resume", str(run), "--config", str(tmp_path / "run.toml")], capsys)
    assert code == 2 and "--config cannot change" in err, err


def test_the_field_table_names_real_options_and_what_a_resume_may_change():
    """RunConfig is the one list of settings: each field's option is an evolve parameter (a renamed option cannot
    drop a setting silently), and the fields a resume may change are marked there."""
    evolve = typer.main.get_command(app).commands["evolve"]
    options = {param.name for param in evolve.params}
    assert {s.flag for s in RUN_SETTINGS.values()} - {None} <= options
    assert {s.name for s in RUN_SETTINGS.values() if s.flag is None} == {"max_sample_rounds", "init_source", "train"}
    assert {s.name: s.flag for s in RUN_SETTINGS.values() if s.flag not in (s.name, None)} == {
        "models": "model", "api_bases": "api_base", "review_deadline_s": "review_deadline",
        "llm_timeout_s": "llm_timeout"}
    assert {s.name for s in RUN_SETTINGS.values() if s.resume} == {
        "iterations", "max_cost", "llm_timeout_s", "review_port", "executor", "parallel", "ray_address", "blind",
        "tensorboard", "review_deadline_s", "reviewers", "review_host", "on_ranking_due", "memory"}
