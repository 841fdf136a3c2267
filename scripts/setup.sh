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
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]" 2>&1 \
  | grep -v -e "^WARNING: Location" -e "is ignored: it is neither" >&2 || true
"$venv/bin/python" -c "import edge.cli" || { echo "setup: $venv is broken" >&2; exit 1; }
echo "$PWD/$venv"
