"""Where the package's data lives: the env folders (envs/) and the prompt templates (prompts/).

In a source checkout (and an editable install) they are the repository's top-level folders, where the design card
puts them; a built wheel carries copies inside the package as rewardsmith/data/envs and rewardsmith/data/prompts
(pyproject.toml maps them there), so an installed rewardsmith finds them from any working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = PACKAGE_DIR / "data" / name
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / name


ENVS_DIR = _data_dir("envs")
PROMPTS_DIR = _data_dir("prompts")


def user_envs_dir() -> Path | None:
    """The user's own envs folder, from the REWARDSMITH_ENVS environment variable (None when unset). The sandboxed
    child inherits this variable (it is a path, not a secret), so it resolves the same user envs as its parent."""
    import os

    value = os.environ.get("REWARDSMITH_ENVS", "").strip()
    return Path(value).expanduser().resolve() if value else None
