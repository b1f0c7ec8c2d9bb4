# static: compile() to create a code object
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    code = compile("x = 1", "<x>", "exec")
    return {"upright": s["pole_upright"]}
