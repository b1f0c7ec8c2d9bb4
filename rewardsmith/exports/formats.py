"""The export formats, one object each in one registry: a format is everything it adds around the reward program
(its imports, the usage text of the module's docstring, the code after the program, whether the program runs on
torch). Adding a format is one object here and its registration; `export --format` lists the registry's names.

Each exported module is standalone: it imports no rewardsmith, so a format's text names only its own libraries.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from rewardsmith.errors import UserError
from rewardsmith.program.terminate import defines_terminate
from rewardsmith.registry import Registry


class ExportError(UserError):
    """The named candidate has no reward program, the program has no literal SCALES (isaaclab), or the output
    cannot be written."""


@dataclass(frozen=True)
class ExportFormat:
    name: str  # the --format name; the module's docstring names it too
    imports: str  # the module's import lines ("" for none)
    usage: str  # the docstring's usage text: a str.format template of {module}, {env}, {env_folder}, {task}, {dt}
    footer_text: str = ""  # the code after the program
    on_torch: bool = False  # the program's xp calls run on torch: the module carries torch_xp (torch_xp.py)
    # where the program defines terminate(s, xp) (evolve --evolve-termination): the code after the footer that
    # uses it, and the usage text's paragraph on it
    terminate_text: str = ""
    terminate_usage: str = ""

    def footer(self, source: str, dt: float) -> str:
        """The code after the program; a format whose code depends on the program or the env overrides this."""
        return self.footer_text + (self.terminate_text if defines_terminate(source) else "")


FORMATS: Registry[ExportFormat] = Registry("--format")


def register(fmt: ExportFormat) -> None:
    FORMATS.register(fmt.name, lambda: fmt)


def scale_names(source: str) -> list[str]:
    """The keys of the program's literal SCALES dict, in order."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCALES" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                return [str(k) for k in value]
    raise ExportError("the reward program has no literal SCALES dict")


register(ExportFormat(
    name="numpy",
    imports="",
    usage='''Usage:
    import numpy as np            # or: import jax.numpy as jnp, and pass xp=jnp inside jit/vmap
    from {module} import reward
    total, terms = reward(s, action, xp=np)
`s` is a dict of the env's named state arrays ({env_folder}/state_view.py documents every field) with
leading batch dimensions; `action` has shape [..., n]. total = sum(SCALES[k] * terms[k]).''',
    footer_text='''

def reward(s, action, xp):
    """Total reward and the per-term values."""
    terms = reward_terms(s, action, xp)
    total = sum(SCALES[name] * terms[name] for name in SCALES)
    return total, terms
''',
    terminate_usage=("    ends = terminate(s, xp=np)    # bool [...]: True ends the episode (OR it with your env's "
                     "own end)"),
))


register(ExportFormat(
    name="gymnasium",
    imports="import gymnasium\nimport numpy as np\n",
    usage='''Usage (gymnasium / Stable-Baselines3):
    import gymnasium, rewardsmith.env.gym_env   # registers rewardsmith/<env>-<task>-v0
    from {module} import ExportedReward
    env = ExportedReward(gymnasium.make("rewardsmith/{env}-{task}-v0"))
    # stable_baselines3.PPO("MlpPolicy", env).learn(100_000)
The wrapper replaces the env's reward by sum(SCALES[k] * terms[k]) computed from the env's state view after each
step (per control step, not multiplied by dt) and reports the unscaled terms in info["reward_terms"].''',
    footer_text='''

class ExportedReward(gymnasium.Wrapper):
    """Replaces a rewardsmith gymnasium env's reward by this module's; terms in info["reward_terms"]."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        s = self.env.unwrapped.state_view()
        clipped = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        terms = {k: float(v) for k, v in reward_terms(s, clipped, np).items()}
        total = sum(SCALES[k] * terms[k] for k in SCALES)
        info = dict(info, reward_terms=terms)
        return obs, float(total), terminated, truncated, info
''',
    terminate_usage='''With a terminate (as here), use ExportedTermination in place of ExportedReward: it also ends an
episode (terminated=True) where terminate(s, np) is True, OR'ed with the env's own termination, as the reward
was trained.''',
    terminate_text='''

class ExportedTermination(ExportedReward):
    """ExportedReward that also ORs this module's terminate(s, np) into `terminated`; info["learned_termination"]
    says where it alone ended the episode."""

    def step(self, action):
        obs, total, terminated, truncated, info = super().step(action)
        ended = bool(terminate(self.env.unwrapped.state_view(), np))
        info = dict(info, learned_termination=ended and not terminated)
        return obs, total, bool(terminated) or ended, bool(truncated) and not ended, info
'''))


register(ExportFormat(
    name="jax",
    imports="import jax.numpy as jnp\n",
    usage='''Usage (Brax / MuJoCo Playground, inside a jitted env step):
    from {module} import get_reward, reward, playground_scales
    terms = get_reward(s, action)            # {{term: jax array}}, like Playground's _get_reward
    total, terms = reward(s, action)         # total = sum(SCALES[k] * terms[k]), the per-control-step reward
`s` is a dict of jax arrays with the fields of {env_folder}/state_view.py (build it from your MJX
data). MuJoCo Playground multiplies the scaled sum by the control dt: put playground_scales(dt) (= SCALES / dt) in
config.reward_config.scales to get the same per-step reward; in a Brax Wrapper use `reward` directly
(state.replace(reward=total, metrics={{"reward/" + k: v}})).''',
    footer_text='''

def get_reward(s, action):
    """Playground-style dict of unscaled terms (pure jax.numpy, jit/vmap-safe)."""
    return reward_terms(s, action, jnp)


def reward(s, action):
    """(total, terms) per control step: total = sum(SCALES[k] * terms[k])."""
    terms = get_reward(s, action)
    return sum(SCALES[k] * terms[k] for k in SCALES), terms


def playground_scales(dt):
    """Scales for Playground's reward_config (it multiplies the scaled sum by dt): SCALES[k] / dt."""
    return {k: v / dt for k, v in SCALES.items()}
''',
    terminate_usage=("    done = get_termination(s)                # bool: this module's terminate; OR it into your "
                     "env's done"),
    terminate_text='''

def get_termination(s):
    """This module's terminate(s, jnp) (bool, jit/vmap-safe): OR it with the env's own done, as trained."""
    return terminate(s, jnp)
'''))


register(ExportFormat(
    name="torch",
    imports="import math\nfrom typing import Dict, Tuple\n\nimport torch\nfrom torch import Tensor\n",
    usage='''Usage (IsaacGymEnvs style, batch first):
    from {module} import compute_reward
    self.rew_buf[:], terms = compute_reward(states, self.actions)   # states: Dict[str, Tensor[num_envs, ...]]
`states` holds torch tensors with the fields of {env_folder}/state_view.py; the reward's `xp` calls run
on torch through `torch_xp` (axis -> dim, clip -> clamp). Returns (total, terms), total = sum(SCALES[k] * terms[k])
per control step (IsaacGymEnvs does not multiply by dt).''',
    footer_text='''

def compute_reward(states: Dict[str, Tensor], actions: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
    """(total [num_envs], terms {name: [num_envs]}), total = sum(SCALES[k] * terms[k])."""
    terms = reward_terms(states, actions, torch_xp)
    total = torch.zeros_like(terms[next(iter(SCALES))])
    for name, scale in SCALES.items():
        total = total + scale * terms[name]
    return total, terms
''',
    terminate_usage=("    self.reset_buf[:] |= compute_termination(states)  # this module's terminate, OR'ed with your "
                     "own resets"),
    terminate_text='''

def compute_termination(states: Dict[str, Tensor]) -> Tensor:
    """Bool [num_envs]: this module's terminate on torch; OR it with the env's own termination, as trained."""
    return torch.as_tensor(terminate(states, torch_xp)).bool()
''',
    on_torch=True))


@dataclass(frozen=True)
class IsaacLabFormat(ExportFormat):
    """Isaac Lab's reward manager takes one function and one weight per term: the footer names the program's terms
    (its SCALES keys) and the env's control dt."""

    def footer(self, source: str, dt: float) -> str:
        names = scale_names(source)
        funcs = "".join(f'''

def {name}_term(env, **params) -> torch.Tensor:
    """Reward term {name!r} [num_envs] (unscaled)."""
    return reward_terms(state_view(env), env.action_manager.action, torch_xp)[{name!r}]
''' for name in names)
        fields = "".join(f"    {name} = RewTerm(func={name}_term, weight=SCALES[{name!r}] / STEP_DT)\n"
                         for name in names)
        return f'''

STEP_DT = {dt!r}  # your env's step dt (sim.dt * decimation); the weights below divide by it


def state_view(env) -> dict:
    """Adapter: complete for your asset. Return the fields of rewardsmith's state view as torch tensors, e.g.
    robot = env.scene["robot"]; return {{"torso_height": robot.data.root_pos_w[:, 2], ...}}."""
    raise NotImplementedError("complete state_view(env) for your asset (see the module docstring)")
{funcs}

@configclass
class RewardsCfg:
    """Reward terms for a manager-based Isaac Lab env (weights = SCALES / STEP_DT)."""

{fields}''' + (ISAACLAB_TERMINATION if defines_terminate(source) else "")


ISAACLAB_TERMINATION = '''

def learned_termination(env) -> torch.Tensor:
    """Bool [num_envs]: this module's terminate(s, xp) on the state view, a termination term beside your own."""
    return torch.as_tensor(terminate(state_view(env), torch_xp)).bool()


@configclass
class TerminationsCfg:
    """Add `learned` to your env cfg's `terminations`: the reward was trained with it OR'ed with the task's own."""

    learned = DoneTerm(func=learned_termination)
'''


register(IsaacLabFormat(
    name="isaaclab",
    imports="import math\n\nimport torch\nfrom isaaclab.managers import RewardTermCfg as RewTerm\n"
            "from isaaclab.managers import TerminationTermCfg as DoneTerm\n"
            "from isaaclab.utils import configclass\n",
    usage='''Usage (Isaac Lab, manager-based):
    1. complete `state_view(env)` below for your asset: it must return the fields of
       {env_folder}/state_view.py as torch tensors [num_envs, ...];
    2. set STEP_DT to your env's step dt (sim.dt * decimation) and use `RewardsCfg` as your env cfg's `rewards`.
Isaac Lab's reward manager multiplies each term by weight * step_dt, so each weight is SCALES[k] / STEP_DT: the
summed reward per step then equals rewardsmith's sum(SCALES[k] * terms[k]). STEP_DT defaults to rewardsmith's
control dt of this env ({dt}).''',
    terminate_usage='''    3. add TerminationsCfg's `learned` term to your env cfg's `terminations`: the reward was
       trained with this module's terminate OR'ed with the task's own termination.''',
    on_torch=True))
