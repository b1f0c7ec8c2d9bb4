# static: writes a file outside the temp dir with xp.save
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    xp.save("/tmp/rewardsmith_pwned_save.npy", s["cart_x"])
    return {"upright": s["pole_upright"]}
