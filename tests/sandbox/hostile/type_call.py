# static: uses type() to build classes at runtime
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    T = type("T", (), {})
    return {"upright": s["pole_upright"]}
