# static: async reward_terms
SCALES = {"upright": 1.0}


async def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"]}
