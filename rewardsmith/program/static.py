"""Static policy for LLM-written reward programs: reads the parsed AST, never executes anything.

This is the first of several layers (then: restricted builtins and a filtered array module in program.py, then the
OS sandbox in sandbox.py/worker.py). It rejects what a reward function never needs and what is used to escape a
Python-level sandbox: imports other than `math`, names and attributes that start with `_` (`__class__`,
`__subclasses__`, ...), introspection builtins, frame/generator attributes, file and array-module I/O, top-level
code, writes into the inputs, unbounded loops and recursion. It cannot prove a program harmless; the sandbox
has to contain whatever gets past it (a `range` bound hidden in a variable, a memory bomb, ...).

Every message names its line and says what to do instead, because it goes back to the LLM.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

MAX_CHARS = 20_000
MAX_LINES = 400
MAX_TERMS = 60
MAX_SCALE = 1e4
MAX_BLOCK_DEPTH = 8  # nested def/for/if/... blocks
MAX_EXPR_DEPTH = 60  # nested expression nodes
MAX_RANGE = 10_000  # iterations of one constant `range` loop
MAX_LOOP_PRODUCT = 100_000  # iterations of nested constant loops together
PARAMS = ("s", "action", "xp")

BANNED_CALLS = frozenset(
    "eval exec compile open input getattr setattr delattr hasattr globals locals vars breakpoint memoryview help "
    "exit quit type object super dir id classmethod staticmethod property".split()
)
# Attribute names that reach I/O, native code, interpreter internals, global numpy state or in-place writes.
BANNED_ATTRS = frozenset(
    "ctypes ctypeslib load loads save savez savez_compressed savetxt loadtxt genfromtxt fromfile tofile fromregex "
    "memmap DataSource lib f2py testing distutils show_config show_runtime get_include info test dump dumps "
    "system popen os sys builtins mro format format_map seterr seterrcall setbufsize set_printoptions setflags "
    "itemset put place putmask copyto fill_diagonal fill resize func_globals".split()
)
BANNED_ATTR_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "co_", "tb_")
INPUT_MUTATORS = frozenset("pop popitem clear update setdefault".split())
ALLOWED_ITER_CALLS = frozenset("items keys values zip enumerate reversed sorted".split())


@dataclass(frozen=True)
class Violation:
    line: int
    message: str


def static_check(source: str) -> list[Violation]:
    """All policy violations of `source`, sorted by line; an empty list means the program may be run (sandboxed)."""
    if len(source) > MAX_CHARS:
        return [Violation(1, f"the program is {len(source)} characters long (limit {MAX_CHARS}); shorten it")]
    n_lines = source.count("\n") + 1
    if n_lines > MAX_LINES:
        return [Violation(1, f"the program has {n_lines} lines (limit {MAX_LINES}); write a shorter reward")]
    try:
        tree = ast.parse(source, filename="<reward>")
    except SyntaxError as e:
        return [Violation(e.lineno or 1, f"syntax error: {e.msg}; return one complete, valid Python module")]
    except (RecursionError, MemoryError, ValueError) as e:  # absurdly nested code, NUL bytes
        return [Violation(1, f"the program cannot be parsed ({type(e).__name__}); write plain, shallow Python")]
    checker = _Checker()
    checker.run(tree)
    return sorted(set(checker.violations), key=lambda v: (v.line, v.message))


def _const_int(node: ast.AST) -> int | None:
    """The value of a small integer constant expression (`10`, `-3`, `2 * 8`), else None; never evaluates calls."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _const_int(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow)):
        a, b = _const_int(node.left), _const_int(node.right)
        if a is None or b is None or abs(a) > 10**12 or abs(b) > 10**12:
            return None
        if isinstance(node.op, ast.Pow):  # bounded before computing: 10**10**10 must not hang the checker
            return a**b if 0 <= b <= 64 and abs(a) <= 10**6 else None
        return a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
    return None


def _is_constant_expr(node: ast.AST) -> bool:
    """Literals, containers of literals, arithmetic on them, names and `math.x`: safe to evaluate at load time."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            if not (isinstance(sub.value, ast.Name) and sub.value.id == "math"):
                return False
        elif not isinstance(
            sub,
            (ast.Constant, ast.Name, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp, ast.Load,
             ast.operator, ast.unaryop),
        ):
            return False
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Pow):  # 10**10**10 would hang the loader
            exponent = _const_int(sub.right)
            if exponent is None or abs(exponent) > 64:
                return False
    return True


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _range_length(call: ast.Call) -> int | None:
    if call.keywords or not 1 <= len(call.args) <= 3:
        return None
    maybe = [_const_int(a) for a in call.args]
    values = [v for v in maybe if v is not None]
    if len(values) != len(maybe):
        return None
    if len(values) == 3 and values[2] == 0:
        return None
    return len(range(*values))


def _is_scales_assign(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == "SCALES"
    )


class _Checker:
    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.input_names = set(PARAMS)

    def add(self, node: ast.AST, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 1) or 1, message))

    def run(self, tree: ast.Module) -> None:
        self._check_top_level(tree)
        self._check_scales(tree)
        self._check_reward_terms(tree)
        self._check_terminate(tree)
        self._check_depth(tree)
        self._check_recursion(tree)
        self._check_loop_products(tree)
        for node in ast.walk(tree):
            self._check_node(node)

    # --- module structure -------------------------------------------------------------------------------------

    def _check_top_level(self, tree: ast.Module) -> None:
        for i, stmt in enumerate(tree.body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # module docstring
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # checked node by node
            if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                if _is_scales_assign(stmt) or _is_constant_expr(stmt.value):
                    continue
                self.add(stmt, "top-level assignments may only bind constants (numbers, strings, tuples, `math.pi`); "
                         "compute everything else inside reward_terms")
                continue
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                if _is_constant_expr(stmt.value):
                    continue
            self.add(stmt, f"top-level `{type(stmt).__name__}` statements are not allowed: the module may contain only "
                     "a docstring, `import math`, constants, SCALES and function definitions")

    def _check_scales(self, tree: ast.Module) -> None:
        assigns = [s for s in tree.body if _is_scales_assign(s)]
        if not assigns:
            self.add(tree, "SCALES is missing: define `SCALES = {\"term_name\": 1.0, ...}` at the top level, one "
                     "numeric weight per term returned by reward_terms")
            return
        if len(assigns) > 1:
            self.add(assigns[1], "SCALES is assigned more than once; define it exactly once")
        value = assigns[0].value  # type: ignore[attr-defined]  # _is_scales_assign admits only assignments
        if not isinstance(value, ast.Dict):
            self.add(value, "SCALES must be a dict literal of string keys to numbers, e.g. {\"upright\": 1.0}")
            return
        if len(value.keys) > MAX_TERMS:
            self.add(value, f"SCALES has {len(value.keys)} terms (limit {MAX_TERMS}); use fewer reward terms")
        seen = set()
        for key, val in zip(value.keys, value.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                self.add(key or value, "every SCALES key must be a string literal (the term's name); no `**` spreads")
                continue
            if key.value in seen:
                self.add(key, f"SCALES key {key.value!r} appears twice")
            seen.add(key.value)
            number = _literal_number(val)
            if number is None:
                self.add(val, f"SCALES[{key.value!r}] must be a number literal like 0.5 or -0.01, not an expression")
            elif not math.isfinite(number) or abs(number) > MAX_SCALE:
                self.add(val, f"SCALES[{key.value!r}] = {number} is out of range; use a finite weight with "
                         f"|weight| <= {MAX_SCALE:g}")

    def _check_reward_terms(self, tree: ast.Module) -> None:
        defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                and s.name == "reward_terms"]
        if not defs:
            self.add(tree, "the function `def reward_terms(s, action, xp):` is missing at the top level")
            return
        fn = defs[-1]
        args = fn.args
        names = tuple(a.arg for a in args.args)
        if (names != PARAMS or args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg or args.defaults):
            self.add(fn, f"reward_terms must take exactly the parameters (s, action, xp), got ({', '.join(names)}); "
                     "write `def reward_terms(s, action, xp):`")

    def _check_terminate(self, tree: ast.Module) -> None:
        """The optional termination (program/terminate.py) takes (s, xp), as the task's own."""
        for fn in (s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "terminate"):
            args = fn.args
            if (tuple(a.arg for a in args.args) != ("s", "xp") or args.posonlyargs or args.kwonlyargs or args.vararg
                    or args.kwarg or args.defaults):
                self.add(fn, "terminate must take exactly the parameters (s, xp): write `def terminate(s, xp):`")

    def _check_depth(self, tree: ast.Module) -> None:
        blocks = (ast.FunctionDef, ast.For, ast.If, ast.With, ast.Try, ast.Lambda, ast.Match, ast.While)
        # iterative: a deeply nested program must not overflow this checker's stack
        stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 0)]
        while stack:
            node, blocks_deep, expr_deep = stack.pop()
            if blocks_deep > MAX_BLOCK_DEPTH:
                self.add(node, f"code is nested more than {MAX_BLOCK_DEPTH} blocks deep; flatten it")
                return
            if expr_deep > MAX_EXPR_DEPTH:
                self.add(node, f"an expression is nested more than {MAX_EXPR_DEPTH} levels deep; split it up")
                return
            for child in ast.iter_child_nodes(node):
                stack.append((child, blocks_deep + isinstance(child, blocks),
                              expr_deep + 1 if isinstance(child, ast.expr) else 0))

    def _check_recursion(self, tree: ast.Module) -> None:
        """Direct and mutual recursion between named functions; recursive lambdas; functions applied to themselves."""
        calls: dict[str, set[str]] = {}
        lines: dict[str, int] = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                calls[node.name] = {c.func.id for c in ast.walk(node)
                                    if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
                lines[node.name] = node.lineno
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for target in node.targets:
                    if isinstance(target, ast.Name) and any(
                        isinstance(n, ast.Name) and n.id == target.id for n in ast.walk(node.value)
                    ):
                        self.add(node, f"the lambda `{target.id}` refers to itself (recursion); use array operations")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if any(isinstance(a, ast.Name) and a.id == node.func.id for a in node.args):
                    self.add(node, f"`{node.func.id}` is passed to itself (a recursion trick); use array operations")
        for name in calls:
            seen, todo = set(), list(calls[name])
            while todo:
                callee = todo.pop()
                if callee == name:
                    self.violations.append(Violation(lines[name], f"function `{name}` is recursive (it calls itself "
                                           "directly or via other functions); rewards must be plain array "
                                           "expressions without recursion"))
                    break
                if callee in calls and callee not in seen:
                    seen.add(callee)
                    todo.extend(calls[callee])

    # --- node by node -----------------------------------------------------------------------------------------

    def _check_node(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != "math":
                    self.add(node, f"`import {alias.name}` is not allowed: reward code may import only `math`; "
                             "numpy/jax arrive as the parameter `xp` (use xp.sin, xp.where, ...)")
        elif isinstance(node, ast.ImportFrom):
            if node.module != "math" or node.level:
                self.add(node, f"`from {node.module or '.'} import ...` is not allowed: reward code may import only "
                         "`math`; use the array module passed as `xp`")
        elif isinstance(node, ast.Name):
            self._check_name(node)
        elif isinstance(node, ast.Attribute):
            self._check_attribute(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if "__" in text:
                self.add(node, "strings containing `__` are not allowed (they spell Python internals); rename it")
        elif isinstance(node, ast.Call):
            self._check_call(node)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                self._check_target(target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self._check_loop(node, node.iter)
        elif isinstance(node, ast.comprehension):
            self._check_loop(node.iter, node.iter)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._check_function(node)
        else:
            self._check_statement_kind(node)

    def _check_statement_kind(self, node: ast.AST) -> None:
        banned = {
            ast.While: "`while` loops are not allowed: compute the reward with array operations (a `for` over a "
                       "small constant range or a literal tuple is fine)",
            ast.Global: "`global` is not allowed: reward_terms must be a pure function of (s, action, xp)",
            ast.Nonlocal: "`nonlocal` is not allowed: reward_terms must be a pure function of (s, action, xp)",
            ast.ClassDef: "class definitions are not allowed: use functions and dicts",
            ast.Yield: "`yield` (generators) is not allowed: return a dict of arrays",
            ast.YieldFrom: "`yield from` is not allowed: return a dict of arrays",
            ast.Await: "`await`/async code is not allowed: write plain functions",
            ast.AsyncWith: "async code is not allowed: write plain functions",
            ast.With: "`with` blocks are not allowed: rewards are pure array expressions",
        }
        for kind, message in banned.items():
            if isinstance(node, kind):
                self.add(node, message)
        if isinstance(node, ast.ExceptHandler):
            broad = node.type is None or (isinstance(node.type, ast.Name) and node.type.id == "BaseException")
            silent = all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                         for s in node.body)
            if broad or silent:
                self.add(node, "this `except` swallows errors (bare `except:`, `except BaseException` or a body of "
                         "`pass`); remove the try/except and let errors surface so they can be fixed")

    def _check_name(self, node: ast.Name) -> None:
        if node.id.startswith("__"):
            self.add(node, f"the name `{node.id}` is not allowed: dunder names reach Python internals")
        elif node.id in BANNED_CALLS:
            self.add(node, f"`{node.id}` is not allowed in reward code: use only array math on s, action and xp")

    def _check_attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith(BANNED_ATTR_PREFIXES):
            self.add(node, f"the attribute `.{attr}` is not allowed: attributes starting with `_` or naming frames "
                     "reach Python internals; use public array functions (xp.sum, xp.where, ...)")
        elif attr in BANNED_ATTRS:
            self.add(node, f"the attribute `.{attr}` is not allowed in reward code (file I/O, native code, global "
                     "state or in-place writes); compute new arrays with xp functions instead")
        elif isinstance(node.ctx, (ast.Store, ast.Del)):
            self.add(node, f"assigning or deleting the attribute `.{attr}` is not allowed: never modify objects "
                     "(especially xp); bind new local variables instead")

    def _check_call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg == "out":
                self.add(node, "`out=` writes into an existing array in place; use the returned value instead")
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in INPUT_MUTATORS and _root_name(func.value) in PARAMS:
            self.add(node, f"`.{func.attr}(...)` on `{_root_name(func.value)}` modifies the input in place; build a "
                     "new dict or array instead")

    def _check_target(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._check_target(element)
        elif isinstance(target, ast.Subscript) and _root_name(target) in PARAMS:
            self.add(target, f"assigning into `{_root_name(target)}[...]` modifies the input in place (and jax arrays "
                     "are immutable); compute a new array, e.g. with xp.where(mask, new, old)")

    def _check_loop(self, anchor: ast.AST, iterable: ast.AST) -> None:
        if isinstance(iterable, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Name, ast.Constant)):
            return
        if isinstance(iterable, ast.Call):
            func = iterable.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name == "range":
                length = _range_length(iterable)
                if length is None:
                    self.add(anchor, "`range(...)` in a loop must have small constant integer bounds (e.g. "
                             "range(3)); vectorize over the batch with array operations instead of looping")
                elif length > MAX_RANGE:
                    self.add(anchor, f"this loop runs {length} times (limit {MAX_RANGE}); use array operations")
                return
            if name in ALLOWED_ITER_CALLS:
                return
        self.add(anchor, "loops may only run over a literal tuple/list, range(constant), a variable, or "
                 "dict .items()/.keys()/.values(); use array operations over the batch instead")

    def _check_loop_products(self, tree: ast.Module) -> None:
        """Nested constant loops multiply: three nested range(1000) loops are rejected even though each is small."""
        stack: list[tuple[ast.AST, int]] = [(tree, 1)]
        while stack:
            node, product = stack.pop()
            inner = product
            if isinstance(node, (ast.For, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                iters = [node.iter] if isinstance(node, ast.For) else [g.iter for g in node.generators]
                for it in iters:
                    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
                        inner *= max(_range_length(it) or 1, 1)
                    elif isinstance(it, (ast.Tuple, ast.List, ast.Set)):
                        inner *= max(len(it.elts), 1)
                if inner > MAX_LOOP_PRODUCT:
                    self.add(node, f"nested loops run {inner} iterations in total (limit {MAX_LOOP_PRODUCT}); "
                             "use array operations over the batch instead of Python loops")
                    return
            for child in ast.iter_child_nodes(node):
                stack.append((child, inner))

    def _check_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            if not _is_constant_expr(default):
                self.add(default, "default argument values must be constants")
        if isinstance(node, ast.AsyncFunctionDef):
            self.add(node, "async functions are not allowed: write plain functions")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.decorator_list:
                self.add(node, "decorators are not allowed: write plain functions")
            annotations = [a.annotation for a in args.args + args.kwonlyargs + args.posonlyargs if a.annotation]
            for ann in annotations + ([node.returns] if node.returns else []):
                if any(isinstance(n, (ast.Call, ast.Lambda)) for n in ast.walk(ann)):
                    self.add(ann, "annotations may not call functions; drop the annotation")


def _literal_number(node: ast.AST) -> float | None:
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            return sign * float(node.value)  # type: ignore[arg-type]  # an int or float, checked above
        except OverflowError:
            return math.inf
    return None
