# contained: a long loop wrapped in `except Exception` to survive the call timeout
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    steps = range(10**12)
    try:
        for i in steps:
            pass
    except Exception:
        return {"upright": s["pole_upright"]}
    return {"upright": s["pole_upright"]}
