# contained: reads a state field that does not exist
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_height"]}
