# static: reaches the real open through __builtins__
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    opener = __builtins__["open"]
    opener("/tmp/rewardsmith_pwned_builtins", "w").write("x")
    return {"upright": s["pole_upright"]}
