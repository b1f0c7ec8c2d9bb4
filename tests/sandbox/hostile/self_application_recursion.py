# contained: recursion through a list that holds the function (dodges the recursion rule)
def step(box):
    return box[0](box)


SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    step([step])
    return {"upright": s["pole_upright"]}
