# static: runs code at import time
import math

DATA = print(math.pi)

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"]}
