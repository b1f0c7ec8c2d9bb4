# contained: computes 10**(10**9) (minutes of CPU, gigabytes of memory)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    n = 10**(10**9)
    return {"upright": s["pole_upright"] + (n % 2)}
