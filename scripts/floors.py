"""Prints the package-level import graph of a rewardsmith tree as tests/test_package.py measures it: the cycles between
units and the imports against rewardsmith/layers.py's order. An older tree (before the floors) is measured against the
current order, its top-level ui/progress/config_file counted as the cli unit they became.

    .venv/bin/python scripts/floors.py [ROOT ...]     (default: this checkout; e.g. a `git archive` of an old commit)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))

import test_package  # noqa: E402 - the test's own functions, so the numbers are the test's

from rewardsmith.layers import UNITS  # noqa: E402

BECAME_CLI = {"ui", "progress", "config_file"}


def _as_today(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in BECAME_CLI:
        parts = [parts[0], "cli", *parts[2:]]
    return ".".join(parts)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def measure(root: Path) -> None:
    test_package.ROOT, test_package.PACKAGE = root, root / "rewardsmith"
    graph: dict[str, set[str]] = {}
    for module, targets in test_package.import_graph().items():
        graph.setdefault(_as_today(module), set()).update(_as_today(t) for t in targets)
    units = test_package.unit_graph(graph)
    against = test_package.against_the_order(graph, UNITS)
    print(f"{root}: {len(units)} units; cycles between units: {cycles(units)}; imports against the order: "
          f"{len(against)}")
    for line in against:
        print(f"    {line}")


if __name__ == "__main__":
    for arg in sys.argv[1:] or [str(HERE)]:
        measure(Path(arg).resolve())
