# static: calls __import__ directly to get os
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    os = __import__("os")
    os.remove("/tmp/rewardsmith_hostile_sentinel.txt")
    return {"upright": s["pole_upright"]}
