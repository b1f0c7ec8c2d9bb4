"""`rewardsmith evolve --config run.toml`: a TOML file holding evolve's settings, each by its config.json name
(RunConfig: `iterations`, `samples`, `models`, `llm_timeout_s`, ..., the PPO settings as a `[train]` table; a flag
without a field by its own name: `init`, `out`, `llm_free`, `stop_at_success`). Flags given on the command line
override the file. Which key is which option, and the kind of value it takes, come from RunConfig's field table
(config.RUN_SETTINGS).

The file becomes the command's default map (click's `Context.default_map`): each setting the command line does not
give takes the file's value, so the config the run records (config.json) is the merged one, and `--resume` still
tells given flags from the rest by their parameter source. The fields no option gives (`max_sample_rounds`,
`train`) go to the command in `ctx.meta[FILE_FIELDS]`. Paths (`init`, `out`, `envs_dir`) are taken relative to the
file's folder. A key that is no setting, one that cannot be set (NOT_SETTABLE), or a value of the wrong kind is one
line naming the key and what is valid, before anything is written.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from rewardsmith.config import RUN_SETTINGS, Setting, check_train
from rewardsmith.errors import UserError

# an evolve option (its parameter name) -> the RunConfig field that takes its value
FIELD_OF_FLAG = {s.flag: s.name for s in RUN_SETTINGS.values() if s.flag is not None}
# keys a run config refuses though config.json or the command has them: why, and what to give instead
NOT_SETTABLE = {
    "schema": "it is the version of config.json's format, which rewardsmith writes; leave it out",
    "init_source": "it is the text of the --init file as config.json records it; name the file: init = "
                   "\"my_reward.py\"",
    "config": "a run config cannot name another one",
    "resume": "continue a run with rewardsmith evolve --resume RUN, which keeps the run's own settings",
}
FILE_FIELDS = "rewardsmith.config_fields"  # ctx.meta key: the file's settings that no option gives
LLM_GROUP = {"model", "api_base", "llm_free"}  # given together: one of them on the command line replaces all three
MAX_BYTES = 1_000_000


class ConfigError(UserError):
    """The --config file cannot be read, is not TOML, or holds a key or value evolve does not take."""


def _kind_name(kinds: tuple[type, ...]) -> str:
    kinds = tuple(k for k in kinds if k is not type(None))  # TOML has no null: leave a setting out for its default
    if kinds == (bool,):
        return "true or false"
    if int in kinds and float in kinds:
        return "a number"
    names = {int: "an integer", float: "a number", str: "a string", dict: "a table", list: "a list of strings"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    if kinds == (list,):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def _flag_kinds(param: Any) -> tuple[type, ...]:
    """What an option without a RunConfig field takes, from its annotation (str, int, float, bool, Path, list)."""
    annotation = param.type_descriptor.annotation
    if getattr(param, "multiple", False) or getattr(annotation, "__origin__", None) is list:
        return (list,)
    return {bool: (bool,), int: (int,), float: (int, float)}.get(annotation, (str,))


def settings(command: Any) -> dict[str, tuple[str | None, tuple[type, ...]]]:
    """key in the file -> (the command's parameter name, the kinds of value it takes), for every option of
    `command` but --config, --resume and --help: a field's own name for an option that gives a field, else the
    option's; and for each RunConfig field that no option gives but a file may, (None, its kinds)."""
    table: dict[str, tuple[str | None, tuple[type, ...]]] = {}
    for param in command.params:
        if param.name in NOT_SETTABLE or param.name == "help" or getattr(param, "param_type_name", "") != "option":
            continue
        field: Setting | None = RUN_SETTINGS.get(FIELD_OF_FLAG.get(param.name, ""))
        table[field.name if field else param.name] = (param.name, field.kinds if field else _flag_kinds(param))
    for setting in RUN_SETTINGS.values():
        if setting.flag is None and setting.name not in NOT_SETTABLE:
            table[setting.name] = (None, setting.kinds)
    return table


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path} is not a file; give a TOML file such as run.toml")
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path} is {len(data):,} bytes; a run config is a short TOML file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None


@dataclass(frozen=True)
class FileSettings:
    """What a run config gives: the command's default map (parameter name -> value) and the RunConfig fields no
    option gives (field name -> value)."""

    defaults: dict[str, Any]
    fields: dict[str, Any]


def from_file(path: Path, command: Any, given: set[str]) -> FileSettings:
    """The file's settings, leaving out what the command line gives (`given`: parameter names). Raises
    ConfigError, one line."""
    table = settings(command)
    defaults: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for key, value in read_toml(path).items():
        name, kind = _known(path, key, table)
        if not _is_kind(value, kind):
            raise ConfigError(f"{path}: {key!r} must be {_kind_name(kind)}, got {value!r} "
                              f"({type(value).__name__})")
        if name is None:  # a field no option gives (max_sample_rounds, train)
            fields[key] = _train_table(path, value) if key == "train" else value
            continue
        if name == "model" and value == []:  # models = [] is the LLM-free mode, as in config.json
            name, value = "llm_free", True
        if name in ("init", "out", "envs_dir", "tensorboard", "memory"):  # paths: relative to the config file
            value = str((path.parent / Path(value).expanduser()).resolve())
        defaults[name] = value
    drop = LLM_GROUP if given & LLM_GROUP else set()
    return FileSettings({name: value for name, value in defaults.items() if name not in given | drop}, fields)


def _known(path: Path, key: str, table: dict) -> tuple[str | None, tuple[type, ...]]:
    """The parameter name and kinds of a key of the file; ConfigError for a key it cannot hold."""
    if key in NOT_SETTABLE:
        raise ConfigError(f"{path}: {key!r} cannot be set in a run config: {NOT_SETTABLE[key]}")
    if key not in table:
        near = get_close_matches(key, table, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"{path}: unknown key {key!r}{hint}; valid keys: {', '.join(sorted(table))}")
    return table[key]


def _train_table(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    """The `[train]` table (PPO settings), checked as config.json's is (config.check_train)."""
    try:
        check_train(table)
    except UserError as err:
        raise ConfigError(f"{path}: [train]: {err}") from None
    return table


class ConfigCommand(TyperCommand):
    """A typer command with a --config TOML file: its settings fill in every option the command line leaves out."""

    def parse_args(self, ctx, args):
        opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))  # which options the command line gives
        if opts.get("config") is not None:
            try:
                found = from_file(Path(opts["config"]), self, {k for k, v in opts.items() if v is not None})
            except ConfigError as err:
                raise typer.BadParameter(str(err), ctx=ctx, param_hint="'--config'") from None
            ctx.default_map = {**(ctx.default_map or {}), **found.defaults}
            ctx.meta[FILE_FIELDS] = found.fields
        return super().parse_args(ctx, args)
