# contained: forgets the return statement
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    terms = {"upright": s["pole_upright"]}
