#!/usr/bin/env bash
# Sets up the environments if needed, then runs the test suite in each: torch 2.13
# (.venv) and torch 2.1.2 (.venv-torch2.1, the newest torch with prebuilt mmcv 2.1.0
# wheels), each with mmcv 2.1.0 built against it. Extra arguments go to pytest.
# FRELU_MM_TORCH_VERSIONS="2.13" (or "2.1") tests one of them.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
for version in ${FRELU_MM_TORCH_VERSIONS:-2.13 2.1}; do
  venv=.venv; [ "$version" = 2.13 ] || venv=.venv-torch$version
  echo "[test] torch $version ($venv)"
  if ! FRELU_MM_TORCH=$version bash scripts/setup_env.sh; then
    failed+=("$version (set-up)"); continue
  fi
  "$venv/bin/python" -m pytest -q tests "$@" || failed+=("$version")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[test] FAILED on torch: ${failed[*]}"; exit 1
fi
echo "[test] passed on torch ${FRELU_MM_TORCH_VERSIONS:-2.13 2.1}"
