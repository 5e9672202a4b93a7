#!/usr/bin/env bash
# Creates a virtual environment at the repository root with the pinned stack and
# frelu_mm installed in editable mode. Idempotent: when nothing it depends on has
# changed since the last successful run, it installs nothing and returns at once.
#
#   FRELU_MM_TORCH=2.13 (default)  .venv            torch 2.13.0, torchvision 0.28.0
#   FRELU_MM_TORCH=2.1             .venv-torch2.1   torch 2.1.2,  torchvision 0.16.2
#                                                   (numpy 1.x: torch 2.1 predates numpy 2)
# mmcv 2.1.0 is built from source against either, as a user without a prebuilt wheel would.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
case "${FRELU_MM_TORCH:-2.13}" in
  2.13) VENV=.venv; TORCH_PIN=2.13.0; VISION_PIN=0.28.0; CONSTRAINTS= ;;
  2.1) VENV=.venv-torch2.1; TORCH_PIN=2.1.2; VISION_PIN=0.16.2
       CONSTRAINTS=scripts/constraints-torch2.1.txt ;;
  *) echo "FRELU_MM_TORCH must be 2.13 or 2.1 (got '$FRELU_MM_TORCH')" >&2; exit 2 ;;
esac
CONSTRAINT_ARGS=()
[ -n "$CONSTRAINTS" ] && CONSTRAINT_ARGS=(-c "$CONSTRAINTS")
STAMP=$VENV/.frelu_mm_setup
# The stamp records what the environment was built from; any change re-runs the set-up.
want=$(cat requirements.txt setup.py scripts/setup_env.sh $CONSTRAINTS | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY=$VENV/bin/python
PIP="$PY -m pip --disable-pip-version-check"
$PIP install -q --upgrade "pip<26.2" "setuptools<82" wheel

# torch + torchvision from the package index itself. mmpretrain imports torchvision, and
# the torchvisions PyPI serves link the CUDA build of torch, which also runs on a
# CPU-only machine. A local "+cpu" torch (a machine's find-links) would win on version,
# so local wheel sources are ignored for this one step.
if ! $PY -c "import torch, torchvision.ops; assert torch.__version__.split('+')[0] == '$TORCH_PIN' and '+cpu' not in torch.__version__; assert torchvision.__version__.startswith('$VISION_PIN')" 2>/dev/null; then
  echo "[setup] installing torch $TORCH_PIN + torchvision $VISION_PIN into $VENV (several GB with the CUDA libraries they link; pip caches the download)"
  $PIP uninstall -q -y torch torchvision 2>/dev/null || true
  env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $PIP install -q "${CONSTRAINT_ARGS[@]}" \
    "torch==$TORCH_PIN" "torchvision==$VISION_PIN"
fi
TORCH=$($PY -c "import torch; print(torch.__version__)")

# mmcv 2.1.0 has no wheel for torch 2.13 (and PyPI has none for any torch): build it from the sdist with its ops, once per
# torch build. The wheel is kept in a cache folder named after that torch (pip's own wheel
# cache does not key on torch and would hand over a build for another one).
WHEELS=${FRELU_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/frelu_mm}/mmcv-2.1.0-torch-$TORCH
BUILT_FOR=$VENV/.mmcv_built_for
if [ "$(cat "$BUILT_FOR" 2>/dev/null)" != "$TORCH" ] || \
   ! $PY -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    echo "[setup] building mmcv 2.1.0 with ops against torch $TORCH (about 16 minutes on 2 cores, once per machine; kept in $WHEELS)"
    mkdir -p "$WHEELS"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} $PIP wheel -q --no-deps \
      --no-build-isolation --no-cache-dir --no-binary mmcv -w "$WHEELS.partial" "mmcv==2.1.0"
    mv "$WHEELS.partial"/mmcv-2.1.0-*.whl "$WHEELS"/ && rm -rf "$WHEELS.partial"
  fi
  $PIP install -q --force-reinstall --no-deps "$WHEELS"/mmcv-2.1.0-*.whl
  $PIP install -q "${CONSTRAINT_ARGS[@]}" "mmcv==2.1.0"  # its pure-Python dependencies
  echo "$TORCH" > "$BUILT_FOR"
fi

$PIP install -q "${CONSTRAINT_ARGS[@]}" -r requirements.txt
$PIP install -q --no-deps --no-build-isolation -e .

$PY -c "import frelu_mm, mmcv.ops, mmdet, mmseg, mmpretrain, torchvision.ops"
echo "$want" > "$STAMP"
echo "[setup] environment ready in $(( $(date +%s) - start )) s"
