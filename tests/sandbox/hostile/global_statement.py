# static: keeps hidden state across calls with global
CALLS = 0


SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    global CALLS
    CALLS += 1
    return {"upright": s["pole_upright"]}
