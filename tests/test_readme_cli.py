"""README = CLI: every `rewardsmith ...` command line of README.md (code blocks and inline code) names only options
its command has and parses with the real click command (types, choices and the README's own run.toml included);
the ones that take about a second run as written on a fixture run; every `--option` the prose names exists; and the
README's lists of what a resume may change, where halving is on by default and what a run config refuses are the
code's. Renaming an option without the README fails here.

Nothing here trains or asks an LLM: the commands that would are parsed only (EXEMPT says why each)."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
import typer

from rewardsmith.cli.app import HALVING_DEFAULT, RESUME_OVERRIDES, app
from rewardsmith.cli.config_file import NOT_SETTABLE
from rewardsmith.cli.ui import ClickException
from rewardsmith.config import RUN_OWNED_TRAIN, RUN_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FIXTURE_RUN = ROOT / "tests" / "fixtures" / "run_v2"  # a finished 1 x 2 synthetic cart-pole run with policies

# The README commands run for real, on a copy of FIXTURE_RUN (each takes about a second); `--help` lines run too.
RUN_FOR_REAL = {("envs",), ("show",), ("export",), ("runs",)}
# The README commands parsed but not run: why each cannot run in seconds (and where they are run for real).
EXEMPT = {
    ("evolve",): "trains PPO policies for minutes, most lines also ask an LLM (tests/test_evolve_e2e.py, "
                 "tests/test_llm_free.py run small ones)",
    ("train",): "trains PPO for the task's budget (tests/train/test_train_cli.py and others run short ones)",
    ("play",): "plays a policy in the sandbox and films it with MuJoCo's renderer (tests/evaluate/test_play.py)",
    ("stress",): "runs 144 episodes of a policy, 16 under each of 9 conditions (tests/evaluate/test_stress.py)",
    ("check",): "starts the sandboxed check child and needs a reward file (tests/program/, tests/sandbox/)",
    ("ablate",): "retrains the reward once per term on several seeds (tests/test_ablate_cartpole.py)",
    ("review",): "serves the review page until Ctrl-C (tests/feedback/test_human_loop.py)",
    ("fork",): "copies a run and evolves it further with an LLM (tests/test_runs_and_fork.py, a slow one trains)",
    ("replay",): "retrains a card's reward on fresh seeds (tests/export/test_card.py replays cards)",
    ("rank",): "needs a run waiting for a person's ranking, which the fixture is not (tests/feedback/)",
    ("env", "new"): "needs block.xml, a model of the reader's that the README does not ship (tests/env/)",
    ("env", "check"): "needs the env that `env new` writes, then checks it in the sandbox under numpy and jax",
    ("memory", "list"): "reads a memory folder of finished runs' answers (tests/llm/test_memory.py runs list, show, "
                        "add and clear)",
}
# Placeholders filled in for the commands that run: the fixture's run, one of its candidates, a real format.
REAL_VALUES = {"ID": "g0c00", "F": "numpy"}
# A README placeholder: RUN, ENV, ID, DIR2, HEAD_IP:6379, REWARD.py, or `...` (more of the same).
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(:\d+)?(\.py)?|\.\.\.")


@dataclass(frozen=True)
class Line:
    """One `rewardsmith ...` command of the README: the command's path (("env", "new")) and its arguments."""

    text: str
    path: tuple[str, ...]
    args: tuple[str, ...]


def _fenced_and_prose(text: str) -> tuple[list[str], str]:
    """The lines of the README's code blocks (backslash continuations joined) and the prose around them."""
    fence = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)  # a fence may be indented (in a list)
    lines = [line for body in fence.findall(text) for line in body.replace("\\\n", " ").splitlines()]
    return lines, fence.sub("", text)


def code_texts() -> list[str]:
    """Every code block line and inline code span of the README (a span may wrap over lines)."""
    lines, prose = _fenced_and_prose(README)
    return lines + [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]


def _rewardsmith_command(text: str) -> str | None:
    """What follows `rewardsmith ` (or `.venv/bin/rewardsmith `) up to a shell comment or the next command; None
    when the text is no rewardsmith command (`python -m rewardsmith.bench`, a path like rewardsmith/config.py)."""
    found = re.search(r"(?:^|[\s/])rewardsmith (.*)", text)
    if not found:
        return None
    return re.split(r"\s#|&&|;", found.group(1))[0].strip()


def _tokens(command: str) -> list[str]:
    """The shell words, without the README's brackets around optional parts ([--seed S] -> --seed S)."""
    return [word.strip("[]") for word in shlex.split(command) if word.strip("[]")]


def command_lines() -> list[Line]:
    top = _top()
    lines = []
    for text in code_texts():
        command = _rewardsmith_command(text)
        if command is None:
            continue
        words, path, cmd = _tokens(command), [], top
        while _is_group(cmd):
            assert words and words[0] in cmd.commands, f"README names no rewardsmith command: {text!r}"
            path.append(words[0])
            cmd = cmd.commands[words.pop(0)]
        lines.append(Line(text, tuple(path), tuple(words)))
    return lines


@functools.cache
def _top() -> Any:
    """The `rewardsmith` click group, built once (typer builds it anew on every call)."""
    return typer.main.get_command(app)


# typer (0.29) carries its own copy of click, whose classes are not the `click` package's: commands, groups and
# options are told apart by what they have.
def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def command(path: tuple[str, ...]) -> Any:
    cmd = _top()
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _options(cmd: Any) -> dict[str, Any]:
    return {opt: param for param in cmd.params for opt in (*param.opts, *param.secondary_opts)
            if param.param_type_name == "option"}


def _takes_value(param: Any) -> bool:
    return param is not None and param.param_type_name == "option" and not param.is_flag


def _sample(param: Any) -> str:
    """A value of the option's type, for a placeholder (--seed S): the parse then checks the option, not the word."""
    annotation = param.type_descriptor.annotation
    kinds = set(get_args(annotation)) or {annotation}  # int | None -> {int, None}
    return "1" if int in kinds else "1.5" if float in kinds else "x"


def filled(line: Line, real: dict[str, str] | None = None) -> list[str]:
    """The line's arguments with each placeholder an option takes made a value of its type (or `real`'s value for
    a command that runs); a `...` that stands for more arguments dropped."""
    options = _options(command(line.path))
    args: list[str] = []
    for word in line.args:
        before = options.get(args[-1]) if args else None
        if real and word in real:
            args.append(real[word])
        elif PLACEHOLDER.fullmatch(word) and _takes_value(before):
            assert before is not None
            args.append(_sample(before))
        elif word != "...":
            args.append(word)
    return args


def _named_only(line: Line) -> bool:
    """`rewardsmith show` in a sentence names the command; it is no command line to parse."""
    return not line.args and any(param.required for param in command(line.path).params)


@pytest.fixture(scope="module")
def lines() -> list[Line]:
    found = command_lines()
    assert len(found) > 20, "the README's commands were not found: has its layout changed?"
    return found


@pytest.fixture()
def in_readme_folder(tmp_path, monkeypatch) -> Path:
    """A folder holding the README's own run.toml, the one its `--config run.toml` lines read."""
    (toml,) = re.findall(r"```toml\n(.*?)```", README, re.S)
    (tmp_path / "run.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    for name in ("REWARDSMITH_MODEL", "REWARDSMITH_ENVS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_every_option_of_a_readme_command_exists_on_it(lines):
    missing = [f"{' '.join(line.path)} has no {word} (README: {line.text!r})" for line in lines
               for word in line.args if word.startswith("-") and word not in _options(command(line.path))
               and word != "--help"]
    assert not missing, "\n".join(missing)


def test_every_readme_command_parses(lines, in_readme_folder):
    """The real click parse of each line: option types, choices, required parameters, --config's TOML file."""
    for line in lines:
        if _named_only(line) or "--help" in line.args:
            continue
        cmd = command(line.path)
        try:
            cmd.make_context(" ".join(("rewardsmith", *line.path)), filled(line))
        except ClickException as err:
            pytest.fail(f"README line {line.text!r} does not parse: {err.format_message()}")


def test_the_commands_that_take_seconds_run_as_written(lines, in_readme_folder, monkeypatch, capsys):
    classified = RUN_FOR_REAL | set(EXEMPT)
    used = {line.path for line in lines}
    assert used <= classified, f"README commands neither run nor exempt here: {used - classified}"
    assert classified <= used, f"stale entries (no README line uses them): {classified - used}"
    ran = 0
    for index, line in enumerate(lines):
        if _named_only(line) or (line.path not in RUN_FOR_REAL and "--help" not in line.args):
            continue
        folder = in_readme_folder / f"line{index}"  # each line writes its own files (export -o reward.py)
        run = folder / "run"
        shutil.copytree(FIXTURE_RUN, run)  # a copy: show --plot writes into it
        shutil.copytree(FIXTURE_RUN, folder / "runs" / FIXTURE_RUN.name)  # what `runs` lists by default
        monkeypatch.chdir(folder)
        (folder / "envs").mkdir()  # DIR: an (empty) folder of one's own envs
        args = [*line.path, *filled(line, {**REAL_VALUES, "RUN": str(run), "DIR": str(folder / "envs")})]
        with pytest.raises(SystemExit) as stop:
            app(args, prog_name="rewardsmith")
        out = capsys.readouterr()
        assert stop.value.code == 0, f"README line {line.text!r} ({args}) failed: {out.err}"
        ran += 1
    assert ran >= 5


def _all_options() -> set[str]:
    def walk(cmd: Any) -> set[str]:
        own = set(_options(cmd))
        return own.union(*(walk(sub) for sub in cmd.commands.values())) if _is_group(cmd) else own

    return walk(_top())


def _bench_options(monkeypatch, capsys) -> set[str]:
    """The options `python -m rewardsmith.bench --help` lists (its parser is built inside main)."""
    from rewardsmith.bench.__main__ import main

    monkeypatch.setattr(sys, "argv", ["python -m rewardsmith.bench", "--help"])
    with pytest.raises(SystemExit):
        main()
    return set(re.findall(r"--[a-z][a-z0-9-]*", capsys.readouterr().out))


def test_every_option_the_prose_and_the_benchmarks_name_exists(monkeypatch, capsys):
    """An option in a sentence (`--halving`, `--review-port N`, `... --tensorboard DIR`) is one of rewardsmith's or
    the benchmarks' (`--time-budget-s`); one on a `python -m rewardsmith.bench` line is the benchmarks'."""
    bench = _bench_options(monkeypatch, capsys)
    ours = _all_options()
    missing = []
    for text in code_texts():
        first = text.split()[0] if text.split() else ""
        if "rewardsmith.bench" in text:
            known, where = bench, "python -m rewardsmith.bench"
        elif first.startswith("--") or first == "...":  # options in a sentence, with no command named
            known, where = ours | bench, "any rewardsmith command or the benchmarks"
        else:  # a rewardsmith line (tested above) or another program's (ray, pytest, tensorboard, scripts/)
            continue
        missing += [f"{option} on {where} (README: {text!r})"
                    for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text) if option not in known]
    assert not missing, "\n".join(missing)


def _sentence(start: str) -> str:
    """The README's sentence that begins with `start`, up to its full stop, whitespace made single spaces."""
    text = " ".join(README.split())
    assert start in text, f"the README no longer says {start!r}"
    return re.split(r"\.\s", text[text.index(start):], maxsplit=1)[0]


def test_the_readme_lists_exactly_what_a_resume_may_change():
    start = "`--resume RUN` may change only"
    listed = set(re.findall(r"`(--[a-z-]+)", _sentence(start).removeprefix(start)))
    assert listed == {"--" + name.replace("_", "-") for name in RESUME_OVERRIDES}


def test_the_halving_default_is_the_codes_in_the_readme_and_the_help():
    assert f"on by default with {HALVING_DEFAULT}" in " ".join(README.split())
    (halving,) = [p for p in command(("evolve",)).params if p.name == "halving"]
    assert f"on with {HALVING_DEFAULT}" in halving.help


def test_the_readme_names_each_config_json_key_a_run_config_refuses():
    section = README[README.index("### Run configs"):README.index("## Exports")]
    refused = {key for key in NOT_SETTABLE if key in {"schema", *RUN_SETTINGS}} | set(RUN_OWNED_TRAIN)
    assert refused == {"schema", "init_source", "steps", "seed"}
    assert all(f"`{key}`" in section for key in refused), refused
