"""Renders the prompt templates in prompts/ (data, not code). A missing variable fails loudly."""

from __future__ import annotations

from string import Template

from rewardsmith.errors import RewardsmithError
from rewardsmith.resources import PROMPTS_DIR


class PromptError(RewardsmithError, KeyError):
    """A template refers to a variable the caller did not provide."""


def render(name: str, **variables) -> str:
    template = Template((PROMPTS_DIR / f"{name}.md").read_text())
    try:
        return template.substitute(**variables).strip() + "\n"
    except KeyError as err:
        raise PromptError(f"prompt template {name}.md needs variable {err.args[0]!r}; "
                          f"given: {sorted(variables)}") from None


def chat(system: str, user: str) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
