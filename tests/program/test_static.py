"""The static policy: one failing example per rule, with the line it must name; the reference rewards pass."""

from pathlib import Path

import pytest

from rewardsmith.program.static import MAX_CHARS, MAX_LINES, Violation, static_check

ENVS = Path(__file__).resolve().parents[2] / "envs"
HEAD = 'SCALES = {"a": 1.0}\n\n\ndef reward_terms(s, action, xp):\n'  # the body starts on line 5
OK = '    return {"a": s["x"]}\n'


def body(*lines: str) -> str:
    return HEAD + "".join(f"    {line}\n" for line in lines) + OK


def lines_of(violations: list[Violation], fragment: str) -> list[int]:
    return [v.line for v in violations if fragment in v.message]


@pytest.mark.parametrize("path", sorted(ENVS.glob("*/rewards/*.py")), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_reference_rewards_pass(path):
    assert static_check(path.read_text()) == []


def test_allowed_constructs_pass():
    source = (
        '"""A reward."""\nimport math\nfrom math import pi\n\nTARGET = math.pi / 2\nWEIGHTS = (1.0, -2.0)\n'
        'SCALES = {"a": 1.0, "b": -0.5}\n\n\n'
        'def _kernel(x, xp, width=0.25):\n    return xp.exp(-(x / width) ** 2)\n\n\n'
        "def reward_terms(s, action, xp):\n"
        "    terms = {}\n"
        "    for i in range(3):\n        terms['a'] = _kernel(s['x'][..., i], xp)\n"
        "    for name, w in zip(('a', 'b'), WEIGHTS):\n        pass\n"
        "    total = sum(v for v in terms.values())\n"
        "    try:\n        y = s['y']\n    except KeyError:\n        y = s['x']\n"
        "    terms['b'] = xp.where(y > pi, 1.0, 0.0) + total * 0\n"
        "    return terms\n"
    )
    assert static_check(source) == []


CASES = [
    # (source, line, fragment of the message)
    (HEAD + '    return {"a": (s["x"]\n', 5, "syntax error"),
    ("import os\n" + HEAD + OK, 1, "import os"),
    ("from os import path\n" + HEAD + OK, 1, "from os import"),
    (body("import numpy as np"), 5, "import numpy"),
    (body("from . import x"), 5, "import"),
    (body("y = __import__('os')"), 5, "__import__"),
    (body("b = __builtins__"), 5, "__builtins__"),
    (body("c = s.__class__"), 5, "__class__"),
    (body("c = ().__class__.__base__.__subclasses__()"), 5, "__subclasses__"),
    (body("c = xp._private"), 5, "._private"),
    (body("c = 'a__b'"), 5, "strings containing"),
    (body("g = (i for i in [1]).gi_frame"), 5, ".gi_frame"),
    (body("m = xp.ndarray.mro()"), 5, ".mro"),
    (body("t = '{0}'.format(s)"), 5, ".format"),
    (body("xp.save('/tmp/x.npy', s['x'])"), 5, ".save"),
    (body("libc = xp.ctypeslib"), 5, ".ctypeslib"),
    (body("global counter"), 5, "`global`"),
    (HEAD + "    n = 0\n\n    def inner():\n        nonlocal n\n        return n\n" + OK, 8, "`nonlocal`"),
    ('print("hi")\n' + HEAD + OK, 1, "top-level"),
    ("X = open('/etc/passwd').read()\n" + HEAD + OK, 1, "top-level assignments"),
    ("X = 10 ** 10 ** 10\n" + HEAD + OK, 1, "top-level assignments"),
    ("if True:\n    X = 1\n" + HEAD + OK, 1, "top-level"),
    (body("xp.sum = None"), 5, "assigning or deleting the attribute"),
    (body("s.x = 1"), 5, "assigning or deleting the attribute"),
    (body("del xp.sum"), 5, "assigning or deleting the attribute"),
    (body("s['x'] = 0"), 5, "assigning into `s"),
    (body("action[..., 0] += 1"), 5, "assigning into `action"),
    (body("s['x'][0] = 1"), 5, "assigning into `s"),
    (body("a, s['x'] = 1, 2"), 5, "assigning into `s"),
    (body("s.update({})"), 5, ".update"),
    (body("s.pop('x')"), 5, ".pop"),
    (body("xp.add(s['x'], 1, out=s['x'])"), 5, "out="),
    (body("while True:", "    pass"), 5, "`while`"),
    (body("n = 3", "for i in range(n):", "    pass"), 6, "small constant integer bounds"),
    (body("for i in range(10**6):", "    pass"), 5, "runs 1000000 times"),
    (body("for i in range(1000):", "    for j in range(1000):", "        pass"), 6, "nested loops"),
    (body("y = [0 for i in range(500) for j in range(500)]"), 5, "nested loops"),
    (body("for i in xp.arange(10):", "    pass"), 5, "loops may only run over"),
    ("def f(n):\n    return f(n - 1)\n\n\n" + HEAD + OK, 1, "`f` is recursive"),
    ("def f(n):\n    return g(n)\n\n\ndef g(n):\n    return f(n)\n\n\n" + HEAD + OK, 1, "`f` is recursive"),
    (body("f = lambda n: f(n - 1)"), 5, "refers to itself"),
    (body("def f(g):", "    return g(g)"), 6, "passed to itself"),
    (body("yield 1"), 5, "`yield`"),
    (body("yield from [1]"), 5, "`yield from`"),
    ('SCALES = {"a": 1.0}\n\n\nasync def reward_terms(s, action, xp):\n' + OK, 4, "async"),
    (body("try:", "    y = 1", "except:", "    y = 2"), 7, "swallows errors"),
    (body("try:", "    y = 1", "except BaseException:", "    y = 2"), 7, "swallows errors"),
    (body("try:", "    y = 1", "except ValueError:", "    pass"), 7, "swallows errors"),
    (body("class A:", "    pass"), 5, "class definitions"),
    (body("with xp.errstate(all='ignore'):", "    pass"), 5, "`with`"),
    (body("@print", "def h():", "    return 1"), 6, "decorators"),
    (body("def h(x=print('hi')):", "    return x"), 5, "default argument"),
    (body("def h(x: print('hi')):", "    return x"), 5, "annotations"),
    ('def reward_terms(s, action, xp):\n' + OK, 1, "SCALES is missing"),
    ('SCALES = dict(a=1.0)\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "dict literal"),
    ('SCALES = {1: 1.0}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "string literal"),
    ('SCALES = {"a": "1"}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "number literal"),
    ('SCALES = {"a": 2 * 3}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "number literal"),
    ('SCALES = {\n    "a": 1e400,\n}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 2, "out of range"),
    ('SCALES = {"a": -2e4}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "out of range"),
    ('SCALES = {"a": 1.0, "a": 2.0}\n\n\ndef reward_terms(s, action, xp):\n' + OK, 1, "appears twice"),
    ("SCALES = {" + ", ".join(f'"t{i}": 1.0' for i in range(61)) + "}\n\n\ndef reward_terms(s, action, xp):\n" + OK,
     1, "61 terms"),
    ('SCALES = {"a": 1.0}\n', 1, "`def reward_terms(s, action, xp):` is missing"),
    ('SCALES = {"a": 1.0}\n\n\ndef reward_terms(s, action):\n' + OK, 4, "exactly the parameters"),
    ('SCALES = {"a": 1.0}\n\n\ndef reward_terms(s, action, xp=None):\n' + OK, 4, "exactly the parameters"),
    ('SCALES = {"a": 1.0}\n\n\ndef reward_terms(s, action, *xp):\n' + OK, 4, "exactly the parameters"),
    # def + 8 nested ifs = 9 blocks > 8: the ninth block (line 12) is reported
    (body("if 1:", *[" " * 4 * k + "if 1:" for k in range(1, 9)], " " * 36 + "pass"), 12, "blocks deep"),
    (body("y = " + "-" * 80 + "1"), 5, "levels deep"),
    (body(*[f"x{name} = {name}" for name in ("eval", "exec", "compile", "open", "input")]), 5, "`eval` is not allowed"),
]


@pytest.mark.parametrize("source,line,fragment", CASES, ids=[f"{i}-{c[2][:24]}" for i, c in enumerate(CASES)])
def test_rule_violation_names_line(source, line, fragment):
    violations = static_check(source)
    assert line in lines_of(violations, fragment), violations
    assert all(v.line >= 1 and len(v.message) > 20 for v in violations)


@pytest.mark.parametrize(
    "name",
    "eval exec compile open input getattr setattr delattr globals locals vars breakpoint memoryview help exit "
    "quit type super dir".split(),
)
def test_banned_builtins(name):
    violations = static_check(body(f"y = {name}"))
    assert 5 in lines_of(violations, f"`{name}` is not allowed"), violations


def test_size_limits():
    too_long = HEAD + OK + "#" * MAX_CHARS
    assert "characters long" in static_check(too_long)[0].message
    too_many_lines = HEAD + OK + "\n" * MAX_LINES
    assert "lines" in static_check(too_many_lines)[0].message


def test_pathological_input_does_not_crash_the_checker():
    for source in ("(" * 300 + ")" * 300, "x = " + "-" * 19_000 + "1", "\x00", "[" * 5000):
        violations = static_check(source)
        assert violations and violations[0].line >= 1


def test_violations_are_sorted_and_unique():
    source = "import os\nimport sys\n" + HEAD + "    while True:\n        pass\n" + OK
    violations = static_check(source)
    assert [v.line for v in violations] == sorted(v.line for v in violations)
    assert len(violations) == len(set(violations))
