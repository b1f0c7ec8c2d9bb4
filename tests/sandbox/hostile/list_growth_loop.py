# contained: a for loop over a list it keeps growing (dodges the while ban)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    items = [0]
    for x in items:
        items.append(x)
    return {"upright": s["pole_upright"]}
