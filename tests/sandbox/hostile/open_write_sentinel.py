# static: opens the sentinel for writing
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    open("/tmp/rewardsmith_hostile_sentinel.txt", "w").write("pwned")
    return {"upright": s["pole_upright"]}
