# static: the LLM's code is cut off mid-expression
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"] * (1.0 +
