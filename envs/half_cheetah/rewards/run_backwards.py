"""Reference reward for half-cheetah running backwards, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"backward": 1.0, "feet_down": 0.1, "effort": -0.1}


def reward_terms(s, action, xp):
    return {
        "backward": -s["forward_velocity"],
        "feet_down": 1.0 - s["torso_on_floor"],  # discourages sliding on the back or head
        "effort": xp.sum(action**2, axis=-1),
    }
