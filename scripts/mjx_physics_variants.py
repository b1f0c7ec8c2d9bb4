"""Where MJX spends its time on an env's model: pure physics steps/s (mjx.step in a batch, random controls) of the
model as it is and of variants that each change one thing, measured one after another in one run.

    python scripts/mjx_physics_variants.py [--env humanoid] [--batch 8192] [--control-steps 10]

A diagnostic for the GPU machine (it runs on a CPU too, slowly); the model files are not changed.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

from rewardsmith.bench import timed_random_rollout
from rewardsmith.env.registry import get_env


def _as_is(spec):
    pass


def _floor_only_contacts(spec):
    """Body geoms collide with the floor only (no leg-leg pairs)."""
    for geom in spec.geoms:
        if geom.name != "floor":
            geom.conaffinity = 0


def _no_contact_sensors(spec):
    for sensor in list(spec.sensors):
        if sensor.type == mujoco.mjtSensor.mjSENS_CONTACT:
            spec.delete(sensor)


def _solver_2_4(spec):
    spec.option.iterations, spec.option.ls_iterations = 2, 4


def _solver_cg(spec):
    spec.option.solver = mujoco.mjtSolver.mjSOL_CG


VARIANTS = {
    "as is": _as_is,
    "floor-only contacts": _floor_only_contacts,
    "no contact sensors": _no_contact_sensors,
    "Newton 2 iter / 4 line search": _solver_2_4,
    "CG solver": _solver_cg,
}


def physics_rate(model: mujoco.MjModel, batch: int, physics_steps: int) -> tuple[float, float, int]:
    """(physics steps/s, fraction of envs non-finite at the end, contact slots per step)."""
    sys = mjx.put_model(model)
    data = jax.vmap(lambda _: mjx.make_data(sys))(jnp.arange(batch))
    data = data.replace(qpos=jnp.broadcast_to(jnp.asarray(model.qpos0, jnp.float32), data.qpos.shape))

    step = jax.vmap(lambda d, ctrl: mjx.step(sys, d.replace(ctrl=ctrl)))
    elapsed, out = timed_random_rollout(step, data, batch, model.nu, physics_steps)
    rate = batch * physics_steps / elapsed
    bad = float(jnp.mean(~jnp.all(jnp.isfinite(out.qvel), axis=-1)))
    contact = out._impl.contact if hasattr(out, "_impl") else out.contact  # moved in newer MJX
    return rate, bad, int(contact.geom.shape[-2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="humanoid")
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--control-steps", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    args = parser.parse_args()
    env = get_env(args.env)
    physics_steps = args.control_steps * env.frame_skip
    print(f"{args.env}: batch {args.batch}, {physics_steps} physics steps, on {jax.devices()[0].device_kind}", flush=True)
    base = None
    for name, edit in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        spec = mujoco.MjSpec.from_file(str(env.model_path))
        edit(spec)
        t0 = time.perf_counter()
        rate, bad, ncon = physics_rate(spec.compile(), args.batch, physics_steps)
        base = base or rate
        print(f"  {name:32s} {rate:12,.0f} physics steps/s  x{rate / base:5.2f}  contact slots {ncon:3d}  "
              f"non-finite {bad:.1%}  ({time.perf_counter() - t0:.0f} s incl. compile)", flush=True)


if __name__ == "__main__":
    main()
