# contained: [:, 2] indexing that assumes a batch axis (breaks under vmap)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["tip_pos"][:, 2]}
