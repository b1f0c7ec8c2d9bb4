# static: loads libc through ctypes to call system()
import ctypes

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    ctypes.CDLL(None).system(b"touch /tmp/rewardsmith_pwned_ctypes")
    return {"upright": s["pole_upright"]}
