"""One registry idiom for every pluggable part (trainers, executors, rankers, sandbox jobs): name -> factory.

A factory is registered under a name and called only when the part is asked for, so a registry can list heavy
parts (the MJX trainer imports jax and brax) without importing them. An unknown name raises one line that lists
the valid names, the message the command line shows for `--trainer nope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from rewardsmith.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError):
    """A name that is not registered; the message lists the valid names."""


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind  # what the names name, for messages: "trainer", "--feedback mode", ...
        self._factories: dict[str, Callable[[], T]] = {}

    def register(self, name: str, factory: Callable[[], T]) -> None:
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._factories[name] = factory

    def register_entry(self, name: str, entry: T) -> None:
        """Registers an entry that is cheap to hold (a plug's traits; its heavy parts load only when called)."""
        self.register(name, lambda: entry)

    def names(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def check(self, name: str) -> str:
        """`name` itself when registered; UnknownNameError listing the valid names otherwise."""
        if name not in self._factories:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {', '.join(self._factories)}")
        return name

    def get(self, name: str) -> T:
        return self._factories[self.check(name)]()
