import pytest

from rewardsmith.program.extract import ExtractError, code_blocks, extract_program, replace_scales

GOOD = '''SCALES = {"up": 1.0, "effort": -0.1}


def reward_terms(s, action, xp):
    return {"up": s["pole_upright"], "effort": xp.sum(action**2, axis=-1)}
'''


def test_prose_around_one_block():
    program = extract_program(f"Here is my idea.\n\n```python\n{GOOD}```\n\nIt rewards being upright.")
    assert program.scales == {"up": 1.0, "effort": -0.1}
    assert program.terms == ("up", "effort")
    assert program.source == GOOD


def test_last_complete_block_wins_when_the_llm_revises_itself():
    revised = GOOD.replace("1.0", "2.0")
    program = extract_program(f"```python\n{GOOD}```\nActually, better:\n```python\n{revised}```")
    assert program.scales["up"] == 2.0


def test_blocks_that_only_together_define_the_program_are_joined():
    scales, func = GOOD.split("\n\n\n")
    program = extract_program(f"Scales:\n```python\n{scales}\n```\nTerms:\n```python\n{func}```")
    assert program.terms == ("up", "effort")
    assert "def reward_terms" in program.source


def test_untagged_fence_counts_only_without_tagged_ones():
    assert code_blocks(f"```\n{GOOD}```") == [GOOD]
    assert code_blocks(f"```\nx = 1\n```\n```python\n{GOOD}```") == [GOOD]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("I would reward the pole being upright.", "no fenced code block"),
        ("```python\nSCALES = {'a': 1.0}\ndef reward_terms(s, action, xp)\n    return {}\n```", "syntax error at line 2"),
        ("```python\ndef reward_terms(s, action, xp):\n    return {}\n```", "does not define SCALES"),
        ("```python\nSCALES = {'a': W}\ndef reward_terms(s, action, xp):\n    return {}\n```", "literal dict"),
        ("```python\nSCALES = {1: 2.0}\ndef reward_terms(s, action, xp):\n    return {}\n```", "term names"),
    ],
)
def test_unusable_responses_give_reasons_for_the_llm(text, fragment):
    with pytest.raises(ExtractError, match=fragment):
        extract_program(text)


def test_replace_scales_keeps_the_rest_of_the_program():
    new = replace_scales(GOOD, {"up": 3.0, "effort": -0.5})
    assert extract_program(f"```python\n{new}```").scales == {"up": 3.0, "effort": -0.5}
    assert new.split("\n", 1)[1] == GOOD.split("\n", 1)[1]
