# static: walks object.__subclasses__() to find os._wrap_close
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            cls.__init__.__globals__["system"]("touch /tmp/rewardsmith_pwned_walk")
    return {"upright": s["pole_upright"]}
