# static: swallows every error including timeouts
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    try:
        x = s["missing"]
    except:
        pass
    return {"upright": s["pole_upright"]}
