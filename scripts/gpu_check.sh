#!/usr/bin/env bash
# The device check for a lent GPU machine: installs the carried wheels (.whl/, made by scripts/fetch_gpu_wheels.sh: mujoco, mujoco-mjx,
# brax and the few dependencies the GPU image lacks), then
#   1. the population benchmark: 16 humanoid-kneel candidates trained together, next to raw MJX stepping of the same
#      batch and one candidate alone (python -m rewardsmith.bench gpu --population 16);
#   2. one LLM-free kneel generation of 16 candidates on the population trainer, with halving and stop-at-success,
#      timed end to end (compile, sandbox and evaluation included): the figure a 16 x 5 evolve is estimated from;
#   3. with MJX_BRAX=1, the older Brax benchmark (raw MJX stepping, then Brax PPO) and the physics variants.
# Output under $OUT. Budget: set POP_TIMEOUT / GEN_TIMEOUT (seconds) to fit the device time left.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
nvidia-smi -L
python3 -c "import jax, mujoco, brax; print('jax', jax.__version__, 'mujoco', mujoco.__version__, jax.devices())"
timeout ${POP_TIMEOUT:-240} python3 -m rewardsmith.bench gpu --population 16 --env humanoid --task kneel \
  --steps ${POP_STEPS:-1048576} 2>&1 | grep -v -i warp | tee $OUT/population.log
start=$(date +%s)
timeout ${GEN_TIMEOUT:-300} python3 -m rewardsmith.cli evolve --env humanoid --task kneel --llm-free --iterations 1 \
  --samples 16 --trainer population --train-steps ${GEN_STEPS:-5000000} --stop-at-success --no-video \
  --out /tmp/gen 2>&1 | grep -v -i warp | tee $OUT/generation.log
echo "generation wall time: $(( $(date +%s) - start )) s" | tee -a $OUT/generation.log
cp -r /tmp/gen $OUT/gen 2>/dev/null
if [ "${MJX_BRAX:-0}" = 1 ]; then
  timeout ${VARIANTS_TIMEOUT:-200} python3 scripts/mjx_physics_variants.py --env humanoid --batch 8192 --control-steps 10 \
    2>&1 | grep -v -i warp | tee $OUT/variants.log
  timeout ${BENCH_TIMEOUT:-340} python3 -m rewardsmith.bench gpu --env humanoid --task run --steps ${HUMANOID_STEPS:-5200000} \
    2>&1 | grep -v -i warp | tee $OUT/humanoid.log
fi
