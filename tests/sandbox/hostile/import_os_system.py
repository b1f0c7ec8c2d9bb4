# static: imports os and runs a shell command that deletes the sentinel
import os

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    os.system("rm -f /tmp/rewardsmith_hostile_sentinel.txt")
    return {"upright": s["pole_upright"]}
