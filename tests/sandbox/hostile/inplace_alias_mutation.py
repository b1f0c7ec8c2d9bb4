# contained: mutates the state through an alias (dodges the subscript rule)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    view = s
    x = view["pole_upright"]
    x += 100.0
    return {"upright": x}
