#!/usr/bin/env bash
# Creates .venv at the repository root with the pinned stack and frelu_mm installed
# in editable mode. Idempotent: when nothing it depends on has changed since the last
# successful run, it installs nothing and returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv
STAMP=$VENV/.frelu_mm_setup
# The stamp records what the environment was built from; any change re-runs the set-up.
want=$(cat requirements.txt setup.py scripts/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q --upgrade "pip<26.2" "setuptools<82" wheel

# torch first: mmcv compiles its ops against it. On this machine kind the CPU wheel of
# 2.13.0 lies on disk and pip takes it; elsewhere pip downloads it.
$PIP install -q "torch==2.13.0"

# mmcv 2.1.0 has no wheel for torch 2.13: build it from the sdist with its ops.
# --no-build-isolation so it compiles against the torch above; pip's wheel cache makes
# later installs on the same machine take seconds.
if ! $VENV/bin/python -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "[setup] installing mmcv 2.1.0 with ops (a source build of about 13 minutes the first time on a machine; pip caches the wheel)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install -q --no-build-isolation "mmcv==2.1.0"
fi

$PIP install -q -r requirements.txt
$PIP install -q --no-deps --no-build-isolation -e .

$VENV/bin/python -c "import frelu_mm, mmcv.ops, mmdet, mmseg" 
echo "$want" > "$STAMP"
echo "[setup] environment ready in $(( $(date +%s) - start )) s"
