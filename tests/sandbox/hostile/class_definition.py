# static: defines a class with a hostile __del__
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    class Sneaky:
        pass
    return {"upright": s["pole_upright"]}
