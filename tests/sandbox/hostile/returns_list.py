# contained: returns a list instead of a dict
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return [s["pole_upright"]]
