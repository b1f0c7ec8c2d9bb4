# contained: prints gigabytes (print is a no-op; the loop is still far too slow)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    for i in range(5000):
        print("x" * 10**6)
    return {"upright": s["pole_upright"]}
