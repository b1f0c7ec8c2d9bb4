# static: `from os import environ` to read the API key
from os import environ

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    key = environ.get("OPENAI_API_KEY", "")
    return {"upright": s["pole_upright"] * len(key)}
