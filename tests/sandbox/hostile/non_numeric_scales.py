# static: SCALES values that are not numbers
SCALES = {"upright": "1.0"}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"]}
