#!/usr/bin/env bash
# The device check for a lent GPU machine: installs the carried wheels (.whl/, made by scripts/fetch_gpu_wheels.sh: mujoco, mujoco-mjx,
# brax and the few dependencies the GPU image lacks), then runs the MJX benchmark. Output under $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
nvidia-smi -L
python3 -c "import jax, mujoco, brax; print('jax', jax.__version__, 'mujoco', mujoco.__version__, jax.devices())"
timeout 150 python3 -m rewardsmith.bench gpu --env cartpole --task balance --steps 3000000 2>&1 | grep -v warp | tee $OUT/cartpole.log
timeout 380 python3 -m rewardsmith.bench gpu --env humanoid --task run --steps ${HUMANOID_STEPS:-30000000} 2>&1 | grep -v warp | tee $OUT/humanoid.log
