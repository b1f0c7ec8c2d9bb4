# static: imports subprocess to start a shell
import subprocess

SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    subprocess.run(["sh", "-c", "touch /tmp/rewardsmith_pwned_subprocess"])
    return {"upright": s["pole_upright"]}
