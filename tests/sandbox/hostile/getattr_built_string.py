# static: getattr with a name assembled from characters
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    name = "".join(chr(c) for c in (95, 95, 99, 108, 97, 115, 115, 95, 95))
    cls = getattr(s, name)
    return {"upright": s["pole_upright"]}
