# static: xp.ctypeslib to reach native code
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    libc = xp.ctypeslib.ctypes.CDLL(None)
    return {"upright": s["pole_upright"]}
