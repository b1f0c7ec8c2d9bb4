#!/usr/bin/env bash
# The device check for a lent GPU machine: installs the carried wheels (.whl/, made by scripts/fetch_gpu_wheels.sh: mujoco, mujoco-mjx,
# brax and the few dependencies the GPU image lacks), then measures where MJX spends its time on the humanoid
# (scripts/mjx_physics_variants.py) and runs the MJX benchmark (raw MJX stepping, then Brax PPO training). Output under $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
nvidia-smi -L
python3 -c "import jax, mujoco, brax; print('jax', jax.__version__, 'mujoco', mujoco.__version__, jax.devices())"
timeout ${VARIANTS_TIMEOUT:-200} python3 scripts/mjx_physics_variants.py --env humanoid --batch 8192 --control-steps 10 \
  2>&1 | grep -v -i warp | tee $OUT/variants.log
timeout ${BENCH_TIMEOUT:-340} python3 -m rewardsmith.bench gpu --env humanoid --task run --steps ${HUMANOID_STEPS:-5200000} \
  2>&1 | grep -v -i warp | tee $OUT/humanoid.log
