"""Reference reward for half-cheetah backflips, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"backward_spin": 1.0, "height": 0.5, "off_back": 0.2, "effort": -0.05}


def reward_terms(s, action, xp):
    return {
        "backward_spin": xp.clip(-s["pitch_rate"], -15.0, 15.0) / 5.0,
        "height": xp.clip(s["torso_height"] - 0.5, 0.0, 1.0),  # jump to get room to turn
        "off_back": 1.0 - s["torso_on_floor"],  # rotate through the air, not rolling on the back
        "effort": xp.sum(action**2, axis=-1),
    }
