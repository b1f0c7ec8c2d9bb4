#!/usr/bin/env bash
# Sets up everything rewardsmith needs on a fresh Debian machine: system packages (as root), a virtualenv in
# .venv with the package and its test tools. Idempotent and quick when nothing changed.
# Usage: scripts/setup.sh [extra ...]    extras: test (default), bench, gpu (the CUDA build of the pinned jax)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${*:-test}"

# Debian packages: Chromium for the review-page browser test, OSMesa/EGL for headless MuJoCo rendering.
apt_packages="chromium libosmesa6 libegl1 libgl1-mesa-dri"
missing=""
for pkg in $apt_packages; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: warning: not root, cannot install Debian packages:$missing (video and browser tests need them)" >&2
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# gpu: a venv whose jax already runs on a GPU keeps its CUDA jax (nothing to download: ~3 GB of CUDA wheels)
if [[ " $extras " == *" gpu "* ]] && .venv/bin/python -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" \
    2>/dev/null; then
  echo "setup: jax already sees a GPU here; keeping its CUDA build"
  extras=$(echo " $extras " | sed 's/ gpu / /; s/^ *//; s/ *$//')
  extras=${extras:-test}
fi
stamp=".venv/.rewardsmith-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${extras// /-}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv (extras: $extras)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  spec=".[${extras// /,}]"
  .venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import rewardsmith.llm.client, mujoco, jax" # fail here, not in the middle of a run (llm.py keeps litellm offline)
  rm -f .venv/.rewardsmith-setup-*
  touch "$stamp"
fi
