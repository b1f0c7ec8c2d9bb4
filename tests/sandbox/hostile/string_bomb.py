# contained: builds a terabyte string
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    junk = "x" * (10**12)
    return {"upright": s["pole_upright"] + len(junk)}
