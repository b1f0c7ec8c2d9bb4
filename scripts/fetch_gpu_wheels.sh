#!/usr/bin/env bash
# Downloads into .whl/ the Python 3.12 wheels that the lent GPU machines lack (they have jax/flax/optax/scipy but
# no MuJoCo or Brax), for scripts/gpu_check.sh. Keep .whl/ out of git: echo /.whl/ >> .git/info/exclude
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for spec in mujoco==4.0.0 mujoco-core==4.0.0 mujoco-mjx==3.17.0 brax==0.14.2 jaxopt ml-collections trimesh glfw pyopengl; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$spec"
done
du -sh .whl
