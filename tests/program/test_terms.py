"""Each term of a program as lines of its own (program/terms.py): the returned expression and what it needs."""

from __future__ import annotations

from builders import GOOD

from rewardsmith.program.terms import term_sources

HELPERS = '''import math

SCALES = {"up": 1.0, "fwd": 0.5, "effort": -0.1}
LIMIT = 2.0
UNUSED = 3.0


def _tolerance(x, xp):
    return xp.exp(-x ** 2)


def reward_terms(s, action, xp):
    height = s["torso_height"]
    speed = xp.clip(s["forward_velocity"], 0.0, LIMIT)
    upright = _tolerance(s["torso_pitch"], xp) * math.pi
    for _ in range(2):
        speed = speed * 0.5
    return {
        "up": upright * (height > 0.7),
        "fwd": speed,
        "effort": xp.sum(action ** 2, axis=-1),
    }
'''


def test_a_term_keeps_the_statements_and_helpers_it_reads_and_nothing_else():
    terms = term_sources(HELPERS)
    assert terms is not None and list(terms) == ["up", "fwd", "effort"]
    assert terms["up"] == ("import math\ndef _tolerance(x, xp):\n    return xp.exp(-x ** 2)\n"
                           'height = s["torso_height"]\nupright = _tolerance(s["torso_pitch"], xp) * math.pi\n'
                           '"up": upright * (height > 0.7)')
    assert terms["fwd"] == ('LIMIT = 2.0\nspeed = xp.clip(s["forward_velocity"], 0.0, LIMIT)\n'
                            'for _ in range(2):\n    speed = speed * 0.5\n"fwd": speed')
    assert terms["effort"] == '"effort": xp.sum(action ** 2, axis=-1)'
    assert all("UNUSED" not in text and "SCALES" not in text for text in terms.values())


def test_a_one_line_program_and_one_whose_terms_cannot_be_told_apart():
    assert term_sources(GOOD)["centred"] == '"centred": xp.exp(-s["cart_x"] ** 2)'
    built = GOOD.replace("    return {", "    out = {").rstrip() + "\n    return out\n"
    assert term_sources(built) is None  # a dict built elsewhere and returned by name
    assert term_sources("def reward_terms(s, action, xp) return {}") is None  # does not parse
