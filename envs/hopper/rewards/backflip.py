"""Reference reward for hopper backflips, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"backward_spin": 1.0, "airborne": 0.5, "height": 0.5, "effort": -1e-3}


def reward_terms(s, action, xp):
    return {
        "backward_spin": xp.clip(-s["pitch_rate"], -10.0, 10.0) / 5.0,
        "airborne": 1.0 - s["foot_on_floor"],  # flips need air time
        "height": xp.clip(s["torso_height"] - 0.8, 0.0, 1.0),  # jump high, stay off the back
        "effort": xp.sum(action**2, axis=-1),
    }
