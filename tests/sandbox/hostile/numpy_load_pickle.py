# static: xp.load with allow_pickle to run code from a file
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    xp.load("/tmp/rewardsmith_pwned_pickle.npy", allow_pickle=True)
    return {"upright": s["pole_upright"]}
