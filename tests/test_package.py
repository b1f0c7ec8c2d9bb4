"""The package as a whole: no import circle anywhere, floors that every import follows down (rewardsmith/layers.py),
and a built wheel that carries envs/ and prompts/ so an installed rewardsmith works from any directory."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from rewardsmith.layers import UNITS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rewardsmith"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the rewardsmith modules it imports, function-level (lazy) imports included: a lazy import still
    makes a circle, it only hides it until the function runs."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that ends where it starts), or None. Package __init__ modules that only
    re-export are edges like any other."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def unit_of(module: str) -> str:
    """The unit a module belongs to: its subpackage (`rewardsmith.train.native` -> train) or, for a top-level module,
    the module itself (`rewardsmith.records` -> records)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rewardsmith"


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """unit -> the other units it imports (function-level and TYPE_CHECKING imports included)."""
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit_of(module), set()).update(unit_of(t) for t in targets)
    return {unit: targets - {unit} for unit, targets in units.items()}


def against_the_order(graph: dict[str, set[str]], order: tuple[str, ...]) -> list[str]:
    """Every import that points up the floors (to a unit later in `order`) or to a unit the order does not list."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = unit_of(module), unit_of(target)
            if here == there or here == "rewardsmith":
                continue
            if here not in order or there not in order or order.index(there) > order.index(here):
                found.append(f"{module} -> {target}")
    return found


def test_every_import_points_down_the_floors():
    graph = import_graph()
    units = set(unit_graph(graph)) - {"rewardsmith"}
    assert units <= set(UNITS), f"units missing from rewardsmith/layers.py: {sorted(units - set(UNITS))}"
    assert set(UNITS) <= units, f"layers.py lists units that do not exist: {sorted(set(UNITS) - units)}"
    assert against_the_order(graph, UNITS) == []
    assert find_cycle(unit_graph(graph)) is None


def test_the_floor_check_finds_an_import_up_and_a_unit_left_out():
    graph = {"rewardsmith.env.sim": {"rewardsmith.train.native"}, "rewardsmith.train.native": {"rewardsmith.env.sim"},
             "rewardsmith.newthing.x": {"rewardsmith.env.sim"}}
    assert against_the_order(graph, ("env", "train")) == ["rewardsmith.env.sim -> rewardsmith.train.native",
                                                          "rewardsmith.newthing.x -> rewardsmith.env.sim"]
    assert find_cycle(unit_graph(graph)) == ["env", "train", "env"]


def test_readme_lists_the_floors_in_order_and_modules_stay_small():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## How the code is laid out"):]
    rows = re.findall(r"^\| `rewardsmith/([a-z_]+)(?:/|\.py)` \|", table, flags=re.M)
    assert tuple(rows) == UNITS, "README's layout table must list rewardsmith/layers.py's units, bottom first"
    long = [f"{p.relative_to(ROOT)} ({n})" for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450]
    assert not long, f"modules over 450 lines: {long}"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the tracked tree")
def test_a_built_wheel_carries_envs_and_prompts_and_runs_from_anywhere(tmp_path):
    """`pip wheel` of the tracked tree, installed with --no-deps into a venv that sees the already-installed
    dependencies; `rewardsmith envs` and an LLM-free evolve then run from an unrelated directory."""
    src = tmp_path / "src"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], check=True, capture_output=True)
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith("tests/"):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True, capture_output=True, text=True, timeout=300)
    wheel = next(wheels.glob("rewardsmith-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # the dependencies come from this interpreter's site-packages (a .pth file), not from the network
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True, text=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import rewardsmith, rewardsmith.resources as r; "
                            "print(rewardsmith.__file__, r.ENVS_DIR, r.PROMPTS_DIR)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(p.startswith(site) for p in where), where  # the installed copy, not this checkout
    cli = venv / "bin" / "rewardsmith"
    listed = subprocess.run([str(cli), "envs"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "humanoid" in listed.stdout and "kneel" in listed.stdout, listed.stderr
    run = subprocess.run([str(cli), "evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0",
                          "--iterations", "1", "--samples", "2", "--train-steps", "2048", "--no-video",
                          "--out", str(elsewhere / "runs")], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "best: g0c0" in run.stdout and list((elsewhere / "runs").glob("*/gen_00/cand_01/candidate.json"))


def test_test_files_have_unique_names():
    """pytest imports test modules by basename (rootdir mode): two tests/**/test_x.py would collide."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py") if "hostile" not in p.parts]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
