#!/usr/bin/env bash
# Create (or update) a virtual environment for pibokeh and print its path.
#   scripts/setup.sh edge   -> .venv-edge: what a Raspberry Pi gets. NumPy<2, OpenCV, both TFLite
#                              interpreters (ai-edge-litert, tflite-runtime); no TensorFlow.
#   scripts/setup.sh full   -> .venv-full: the workstation. Adds TensorFlow (the converter) and
#                              matplotlib (benchmark plots).
# Re-running is cheap: pip only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-edge}"
case "$kind" in
  edge) extras="edge,tflite,dev" ;;
  full) extras="edge,tflite,convert,bench,dev" ;;
  *) echo "usage: scripts/setup.sh edge|full" >&2; exit 2 ;;
esac
venv=".venv-$kind"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $($python --version)" >&2
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2 2>/dev/null || true
echo "setup: installing pibokeh[$extras] into $venv" >&2
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -e ".[$extras]" >"$venv/pip.log" 2>&1; then
  tail -n 20 "$venv/pip.log" >&2
  echo "setup: pip install failed (whole log: $venv/pip.log)" >&2
  exit 1
fi
"$venv/bin/python" -c "import edge.cli" || { echo "setup: $venv is broken" >&2; exit 1; }
echo "$PWD/$venv"
