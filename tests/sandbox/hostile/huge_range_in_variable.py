# contained: range(10**12) hidden in a variable (dodges the loop-bound rule)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    steps = range(10**12)
    acc = s["pole_upright"] * 0.0
    for i in steps:
        acc = acc + 1e-9
    return {"upright": acc}
