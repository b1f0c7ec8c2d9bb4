# contained: normalizes by the batch mean, so one state's reward depends on the others
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    u = s["pole_upright"]
    return {"upright": u - xp.mean(u)}
