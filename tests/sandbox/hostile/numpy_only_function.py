# contained: xp.fix exists in numpy but not in jax.numpy
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": xp.fix(s["pole_upright"] * 3.0)}
