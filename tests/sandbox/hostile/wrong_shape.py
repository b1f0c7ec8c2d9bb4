# contained: returns a [batch, 3] term
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["tip_pos"]}
