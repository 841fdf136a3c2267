#!/usr/bin/env bash
# Create (or update) a virtual environment for pibokeh and print its path.
#   scripts/setup.sh edge   -> .venv-edge: what a Raspberry Pi gets - the wheel with the edge extras:
#                              NumPy<2, OpenCV, both TFLite interpreters (ai-edge-litert, tflite-runtime),
#                              PyAV, pyvirtualcam; no TensorFlow.
#   scripts/setup.sh full   -> .venv-full: the workstation - the wheel plus TensorFlow (the converter)
#                              and matplotlib (benchmark plots).
#   scripts/setup.sh dev    -> .venv-dev: an editable install (pip install -e) of the edge extras, for
#                              working on the code: changes take effect without reinstalling.
#   scripts/setup.sh imx500 -> .venv-imx500: the AI Camera (IMX500) toolchain for `pibokeh-convert --target
#                              imx500`: the wheel plus Sony's imx500-converter[tf] (TensorFlow 2.15, NumPy<2;
#                              its imxconv-tf needs Java 17: openjdk-17-jre-headless) and Model Compression
#                              Toolkit (and ai-edge-litert). Its own environment because those pins clash with the full one; the
#                              full environment's pibokeh-convert runs it as a subprocess. Sony's licence
#                              forbids redistributing the converter: it is downloaded here, never shipped.
# edge and full install the wheel built from this checkout (scripts/build-wheel.sh), as users get it,
# so what is tested is what ships. Re-running is cheap: pip only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-edge}"
case "$kind" in
  edge) extras="edge,tflite,virtualcam,dev" ;;
  full) extras="edge,tflite,virtualcam,convert,bench,dev" ;;
  dev) extras="edge,tflite,virtualcam,dev" ;;
  imx500) extras="" ;;
  *) echo "usage: scripts/setup.sh edge|full|dev|imx500" >&2; exit 2 ;;
esac
venv=".venv-$kind"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $($python --version)" >&2
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip >&2 2>/dev/null || true
log="$PWD/$venv/pip.log"
install() {  # pip install ARGS..., its output kept in the log and shown on failure
  if ! "${pip[@]}" install "$@" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "setup: pip install failed (whole log: $log)" >&2
    exit 1
  fi
}
: >"$log"
if [ "$kind" = dev ]; then
  echo "setup: installing pibokeh[$extras] into $venv (editable)" >&2
  install -e ".[$extras]"
  rm -rf ./*.egg-info  # a build by-product; the install does not need it
else
  wheel=$(PYTHON="$venv/bin/python" scripts/build-wheel.sh "$venv/dist") || exit 1
  echo "setup: installing $(basename "$wheel")${extras:+[$extras]} into $venv" >&2
  install "$wheel${extras:+[$extras]}"
  install --force-reinstall --no-deps "$wheel"  # the same version number, but this build
fi
if [ "$kind" = imx500 ]; then  # versions measured together (docs/CONVERTER.md, "The AI Camera")
  echo "setup: installing Sony's imx500-converter[tf] and model-compression-toolkit into $venv (~2.3 GB)" >&2
  # ai-edge-litert: the converter's validation runs TFLite models on it, as in the full environment
  install "imx500-converter[tf]==3.19.2" "model-compression-toolkit==2.5.1" "ai-edge-litert>=1.2" "numpy<2"
  command -v java >/dev/null || echo "setup: warning: no java here; imxconv-tf needs Java 17 (apt install openjdk-17-jre-headless)" >&2
fi
check="import pibokeh.cli"
[ "$kind" = imx500 ] && check="import sys, pibokeh.convert.imx500_env as e; sys.exit(not e.toolchain_here())"
(here=$PWD; cd / && "$here/$venv/bin/python" -c "$check") || { echo "setup: $venv is broken" >&2; exit 1; }
echo "$PWD/$venv"
