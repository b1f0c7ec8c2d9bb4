# static: reward_terms is a generator
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    yield {"upright": s["pole_upright"]}
