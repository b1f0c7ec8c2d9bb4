# contained: Python `if` on an array
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    if s["pole_upright"] > 0.9:
        return {"upright": s["pole_upright"]}
    return {"upright": s["pole_upright"]}
