# static: reads /proc/self/environ to find the API key
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    text = open("/proc/self/environ").read()
    return {"upright": s["pole_upright"] * len(text)}
