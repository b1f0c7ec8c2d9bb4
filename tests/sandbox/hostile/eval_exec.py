# static: eval/exec of a built string
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    exec("import os")
    v = eval("1 + 1")
    return {"upright": s["pole_upright"]}
