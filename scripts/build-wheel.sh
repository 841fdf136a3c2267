#!/usr/bin/env bash
# Build the pibokeh wheel into OUT_DIR and print its path: scripts/build-wheel.sh OUT_DIR
# setuptools builds in the source tree (build/); a stale build/ from an older checkout would put
# modules that no longer exist into the wheel, so it goes first.
set -euo pipefail
out=${1:?usage: scripts/build-wheel.sh OUT_DIR}
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$repo/build" "$repo"/*.egg-info "$out"/pibokeh-*.whl
log="$out/wheel.log"
if ! "$python" -m pip wheel --no-deps --disable-pip-version-check -w "$out" "$repo" >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  echo "build-wheel: building the wheel failed (log: $log)" >&2
  exit 1
fi
rm -rf "$repo/build" "$repo"/*.egg-info
ls "$out"/pibokeh-*.whl
