#!/usr/bin/env bash
# Set everything up from scratch and run the tests, lane by lane:
#   ./scripts/test.sh          every lane:
#     edge      the edge-only environment (.venv-edge: the wheel, no TensorFlow - the Raspberry Pi install)
#               -> tests/install and tests/edge (one pytest worker per CPU), then tests/deploy
#     editable  an editable install (.venv-dev) -> tests/install (the package seen from a source checkout)
#     full      the full environment (.venv-full: the wheel with TensorFlow) -> tests/full, with the AI Camera
#               toolchain's environment (.venv-imx500) beside it for the --target imx500 conversion
#   ./scripts/test.sh --fast   the edge environment only: tests/install and tests/edge without the
#               tests marked slow, browser or tensorflow, and without tests/deploy (a few minutes)
# Debian packages from scripts/apt-packages.txt (sshd, chromium, systemd-analyze, ...) are installed
# first. Extra arguments go to every pytest run (e.g. -x, -k name, -m "not browser"). ../shared/data is
# used when present; tests that need it skip with a reason when it is not.
# A new lane is a function `lane_NAME` that sets up its environment (`setup KIND`) and runs pytest
# there (`pytest_in VENV NAME ARGS...`), plus its name in LANES below.
set -uo pipefail
cd "$(dirname "$0")/.."

LANES=(edge editable full)
if [ "${1:-}" = "--fast" ]; then
  LANES=(fast)
  shift
fi
PYTEST_ARGS=("$@")
FAST_MARKERS="not slow and not browser and not tensorflow"
# tests/install and tests/edge mostly wait (for a camera process, a server, a clock): one pytest-xdist worker
# per CPU, each test file kept on one worker (its module fixtures made once). tests/deploy shares one loopback
# Pi across its files and tests/full's conversions use every CPU: they run in one process.
PARALLEL=(-n auto --dist loadscope)

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

install_packages() {  # the Debian packages the tests need, when some are missing
  local packages missing="" p sudo=""
  packages=$(grep -v '^\s*#' scripts/apt-packages.txt | tr -s ' \n' ' ')
  for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  echo "test: installing Debian packages:$missing"
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null \
    || { echo "test: apt-get install failed" >&2; exit 1; }
}

setup() {  # setup KIND: create or update .venv-KIND (scripts/setup.sh), once per run; its path in $VENV
  local var="venv_$1" path
  if [ -z "${!var:-}" ]; then
    path=$(scripts/setup.sh "$1") || { echo "test: setting up .venv-$1 failed" >&2; exit 1; }
    printf -v "$var" '%s' "$path"
  fi
  VENV=${!var}
}

pytest_in() {  # pytest_in VENV NAME ARGS...: pytest in a venv, its junit XML kept for the final count
  local venv=$1 name=$2
  shift 2
  echo "=== $name: $* ($venv)"
  "$venv/bin/python" -m pytest "$@" --junitxml="$results/$name.xml" -q -p no:cacheprovider "${PYTEST_ARGS[@]}" \
    || status=1
}

# ---- the lanes ----------------------------------------------------------------------------------

lane_edge() {
  setup edge
  pytest_in "$VENV" edge tests/install tests/edge "${PARALLEL[@]}"
  pytest_in "$VENV" deploy tests/deploy
}

lane_editable() {
  setup dev
  pytest_in "$VENV" editable tests/install
}

lane_full() {
  setup edge  # tests/full checks converted models in the edge-only environment too
  export PIBOKEH_EDGE_PYTHON="$VENV/bin/python"
  # The AI Camera (IMX500) toolchain, in its own environment (TensorFlow 2.15, NumPy<2, Java 17): the full
  # environment's `pibokeh-convert --target imx500` hands over to it (tests/full/test_convert_imx500.py).
  setup imx500
  export PIBOKEH_IMX500_PYTHON="$VENV/bin/python"
  setup full
  pytest_in "$VENV" full tests/full
}

lane_fast() {
  setup edge
  pytest_in "$VENV" fast tests/install tests/edge -m "$FAST_MARKERS" "${PARALLEL[@]}"
}

start=$SECONDS
install_packages
for lane in "${LANES[@]}"; do
  "lane_$lane"
done

python3 - "$results" "$((SECONDS - start))" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
totals = dict(tests=0, failures=0, errors=0, skipped=0)
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        for k in totals:
            totals[k] += int(suite.get(k, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
minutes, seconds = divmod(int(sys.argv[2]), 60)
print(f"all environments: {passed} passed, {failed} failed, {totals['skipped']} skipped in {minutes} min {seconds} s")
PY
exit $status
