#!/usr/bin/env bash
# Set everything up from scratch and run all tests:
#   1. Debian packages from scripts/apt-packages.txt (sshd, chromium, systemd-analyze, ...)
#   2. the edge-only environment (.venv-edge: the wheel, no TensorFlow - the Raspberry Pi install)
#      -> tests/install, tests/edge and tests/deploy
#   3. an editable install (.venv-dev) -> tests/install (the package seen from a source checkout)
#   4. the full environment (.venv-full: the wheel with TensorFlow) -> tests/full, with the AI Camera
#      toolchain's environment (.venv-imx500) beside it for the --target imx500 conversion
# Extra arguments go to every pytest run (e.g. -x, -k name). ../shared/data is used when present;
# tests that need it skip with a reason when it is not.
set -uo pipefail
cd "$(dirname "$0")/.."

packages=$(grep -v '^\s*#' scripts/apt-packages.txt | tr -s ' \n' ' ')
missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "test: installing Debian packages:$missing"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null \
    || { echo "test: apt-get install failed" >&2; exit 1; }
fi

edge=$(scripts/setup.sh edge) || exit 1
dev=$(scripts/setup.sh dev) || exit 1
full=$(scripts/setup.sh full) || exit 1
export PIBOKEH_EDGE_PYTHON="$edge/bin/python"

# The AI Camera (IMX500) toolchain, in its own environment (TensorFlow 2.15, NumPy<2, Java 17): the full
# environment's `pibokeh-convert --target imx500` hands over to it (tests/full/test_convert_imx500.py).
imx500=$(scripts/setup.sh imx500) || exit 1
export PIBOKEH_IMX500_PYTHON="$imx500/bin/python"
results=$(mktemp -d)

run() {  # run VENV NAME DIR...: pytest in a venv, junit XML kept for the final count
  local venv=$1 name=$2; shift 2
  local dirs=()
  for d in "$@"; do compgen -G "$d/test_*.py" >/dev/null && dirs+=("$d"); done
  [ ${#dirs[@]} -eq 0 ] && return 0
  echo "=== $name: ${dirs[*]} ($venv)"
  "$venv/bin/python" -m pytest "${dirs[@]}" --junitxml="$results/$name.xml" -q -p no:cacheprovider "${PYTEST_ARGS[@]}"
}

PYTEST_ARGS=("$@")
status=0
run "$edge" edge tests/install tests/edge tests/deploy || status=1
run "$dev" editable tests/install || status=1
run "$full" full tests/full || status=1

"$full/bin/python" - "$results" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
totals = dict(tests=0, failures=0, errors=0, skipped=0)
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        for k in totals:
            totals[k] += int(suite.get(k, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"all environments: {passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
rm -rf "$results"
exit $status
