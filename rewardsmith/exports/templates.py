"""The text around an exported reward program, per format (each output is standalone: no rewardsmith import)."""

from __future__ import annotations

USAGE = {
    "numpy": '''Usage:
    import numpy as np            # or: import jax.numpy as jnp, and pass xp=jnp inside jit/vmap
    from {module} import reward
    total, terms = reward(s, action, xp=np)
`s` is a dict of the env's named state arrays (rewardsmith's envs/{env}/state_view.py documents every field) with
leading batch dimensions; `action` has shape [..., n]. total = sum(SCALES[k] * terms[k]).''',
    "gymnasium": '''Usage (gymnasium / Stable-Baselines3):
    import gymnasium, rewardsmith.env.gym_env   # registers rewardsmith/<env>-<task>-v0
    from {module} import ExportedReward
    env = ExportedReward(gymnasium.make("rewardsmith/{env}-{task}-v0"))
    # stable_baselines3.PPO("MlpPolicy", env).learn(100_000)
The wrapper replaces the env's reward by sum(SCALES[k] * terms[k]) computed from the env's state view after each
step (per control step, not multiplied by dt) and reports the unscaled terms in info["reward_terms"].''',
    "jax": '''Usage (Brax / MuJoCo Playground, inside a jitted env step):
    from {module} import get_reward, reward, playground_scales
    terms = get_reward(s, action)            # {{term: jax array}}, like Playground's _get_reward
    total, terms = reward(s, action)         # total = sum(SCALES[k] * terms[k]), the per-control-step reward
`s` is a dict of jax arrays with the fields of rewardsmith's envs/{env}/state_view.py (build it from your MJX
data). MuJoCo Playground multiplies the scaled sum by the control dt: put playground_scales(dt) (= SCALES / dt) in
config.reward_config.scales to get the same per-step reward; in a Brax Wrapper use `reward` directly
(state.replace(reward=total, metrics={{"reward/" + k: v}})).''',
    "torch": '''Usage (IsaacGymEnvs style, batch first):
    from {module} import compute_reward
    self.rew_buf[:], terms = compute_reward(states, self.actions)   # states: Dict[str, Tensor[num_envs, ...]]
`states` holds torch tensors with the fields of rewardsmith's envs/{env}/state_view.py; the reward's `xp` calls run
on torch through `torch_xp` (axis -> dim, clip -> clamp). Returns (total, terms), total = sum(SCALES[k] * terms[k])
per control step (IsaacGymEnvs does not multiply by dt).''',
    "isaaclab": '''Usage (Isaac Lab, manager-based):
    1. complete `state_view(env)` below for your asset: it must return the fields of rewardsmith's
       envs/{env}/state_view.py as torch tensors [num_envs, ...];
    2. set STEP_DT to your env's step dt (sim.dt * decimation) and use `RewardsCfg` as your env cfg's `rewards`.
Isaac Lab's reward manager multiplies each term by weight * step_dt, so each weight is SCALES[k] / STEP_DT: the
summed reward per step then equals rewardsmith's sum(SCALES[k] * terms[k]). STEP_DT defaults to rewardsmith's
control dt of this env ({dt}).''',
}

TORCH_XP = '''

class _TorchXP:
    """The NumPy-style calls a reward makes, on torch: axis -> dim, clip -> clamp, numpy names -> torch names."""

    _NAMES = {"clip": "clamp", "concatenate": "cat", "arctan2": "atan2", "arccos": "acos", "arcsin": "asin",
              "arctan": "atan", "absolute": "abs", "power": "pow", "asarray": "as_tensor", "array": "tensor"}

    _SCALAR_OK = {"clip", "maximum", "minimum", "where", "arctan2", "power", "fmax", "fmin", "hypot"}

    float32 = torch.float32
    float64 = torch.float64
    pi = math.pi
    linalg = torch.linalg

    @staticmethod
    def astype(x, dtype):
        """numpy's x.astype(dtype); the export rewrites the program's .astype calls into this one."""
        return torch.as_tensor(x).to(dtype)

    def __getattr__(self, name):
        fn = getattr(torch, self._NAMES.get(name, name))
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
            if name in self._SCALAR_OK:  # numpy takes Python numbers where these torch functions want tensors
                tensors = [a for a in args if isinstance(a, torch.Tensor)]
                ref = next((a for a in tensors if a.is_floating_point()), tensors[0] if tensors else None)
                if ref is not None:
                    args = tuple(torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
                                 if isinstance(a, (int, float)) else a for a in args)
            return fn(*args, **kwargs)
        return call


torch_xp = _TorchXP()
'''

FOOTER = {
    "numpy": '''

def reward(s, action, xp):
    """Total reward and the per-term values."""
    terms = reward_terms(s, action, xp)
    total = sum(SCALES[name] * terms[name] for name in SCALES)
    return total, terms
''',
    "gymnasium": '''

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
    "jax": '''

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
    "torch": '''

def compute_reward(states: Dict[str, Tensor], actions: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
    """(total [num_envs], terms {name: [num_envs]}), total = sum(SCALES[k] * terms[k])."""
    terms = reward_terms(states, actions, torch_xp)
    total = torch.zeros_like(terms[next(iter(SCALES))])
    for name, scale in SCALES.items():
        total = total + scale * terms[name]
    return total, terms
''',
}


def isaaclab_footer(names: list[str], dt: float) -> str:
    funcs = "".join(f'''

def {name}_term(env, **params) -> torch.Tensor:
    """Reward term {name!r} [num_envs] (unscaled)."""
    return reward_terms(state_view(env), env.action_manager.action, torch_xp)[{name!r}]
''' for name in names)
    fields = "".join(f"    {name} = RewTerm(func={name}_term, weight=SCALES[{name!r}] / STEP_DT)\n" for name in names)
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

{fields}'''
