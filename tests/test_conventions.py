"""House rules the layout issue asked for, checked: tests use the package's public names only."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _private_uses(path: Path) -> list[str]:
    """`from rewardsmith... import _x` and `module._x` on a module imported from rewardsmith."""
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rewardsmith"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("rewardsmith"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "setattr" and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith("_"):
            found.append(f"{path.name}:{node.lineno} patches {node.args[1].value}")
    return found


def test_no_test_uses_a_private_name_of_the_package():
    files = [p for p in TESTS.rglob("test_*.py") if "hostile" not in p.parts]
    found = [use for path in files for use in _private_uses(path)]
    assert not found, found


def test_the_check_finds_private_uses(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("from rewardsmith.sandbox.runner import _helper, run_job\nimport rewardsmith.llm.client as llm\n"
                      "llm._supports(1)\nmonkeypatch.setattr(llm, '_x', 1)\n")
    assert len(_private_uses(sample)) == 3
