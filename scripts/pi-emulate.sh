#!/usr/bin/env bash
# pi-emulate.sh — the closest thing to a Raspberry Pi on an x86 workstation.
#
# Builds (once, cached) a Debian Bookworm arm64 root with debootstrap + qemu-user-static,
# pip-installs this repo's wheel with the `edge` extras inside it from real aarch64 wheels,
# runs `pibokeh mask` on the VOC images there, runs the same on x86, and compares the masks
# (pixel agreement must be >= 99 %: int8 kernels differ slightly between x86 and ARM).
#
# Usage: scripts/pi-emulate.sh [--root-only] [--model M] [--images DIR] [--min-agreement 0.99]
# Env:   PIBOKEH_EMULATE_CACHE  cache dir (default /tmp/pibokeh-pi-emulate): the arm64 root and
#                               the x86 reference venv live there, so re-runs take seconds.
#        PIBOKEH_SHARED         shared data dir (default: ../shared/data from the repo root).
# Needs root (debootstrap, chroot, binfmt) and: apt-get install qemu-user-static debootstrap binfmt-support
set -euo pipefail

die() { echo "pi-emulate: $*" >&2; exit 2; }
say() { echo "pi-emulate: $*"; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${PIBOKEH_SHARED:-$(cd "$REPO/.." && pwd)/shared/data}
CACHE=${PIBOKEH_EMULATE_CACHE:-/tmp/pibokeh-pi-emulate}
ROOT=$CACHE/bookworm-arm64
MODEL=$SHARED/models/deeplabv3_mnv2_dm05_pascal_quant.tflite
IMAGES=$SHARED/voc
MIN_AGREEMENT=0.99
ROOT_ONLY=0
PYTHON=${PYTHON:-python3.11}

while [ $# -gt 0 ]; do
    case $1 in
        --root-only) ROOT_ONLY=1 ;;
        --model) MODEL=${2:?--model needs a path}; shift ;;
        --images) IMAGES=${2:?--images needs a folder}; shift ;;
        --min-agreement) MIN_AGREEMENT=${2:?--min-agreement needs a number}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, binfmt_misc)"
command -v chroot >/dev/null || die "chroot not found"

# --- 1-2. the arm64 Bookworm root (cached) and binfmt, so the kernel runs aarch64 through qemu ---
"$REPO/scripts/debian-root.sh" arm64 "$ROOT" || die "could not build the arm64 root"
say "inside: $(chroot "$ROOT" uname -m) $(chroot "$ROOT" python3 --version)"
[ "$ROOT_ONLY" = 1 ] && exit 0

[ -f "$MODEL" ] || die "model not found: $MODEL (set PIBOKEH_SHARED or pass --model)"
[ -d "$IMAGES" ] || die "image folder not found: $IMAGES"

# --- 3. networking and pip settings for pip inside the root; /proc but NOT /sys ---------------
# (with /sys mounted, the TFLite CPU probe crashes under qemu; without it it only warns)
mkdir -p "$ROOT/root/.config/pip"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
[ -f "$HOME/.config/pip/pip.conf" ] && cp "$HOME/.config/pip/pip.conf" "$ROOT/root/.config/pip/pip.conf"
WORK=$ROOT/tmp/pibokeh-emulate
cleanup() { umount "$ROOT/proc" 2>/dev/null || true; }
trap cleanup EXIT
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"

# --- 4. the wheel, exactly what deploy.sh ships ----------------------------------------------
rm -rf "$WORK"; mkdir -p "$WORK/wheel" "$WORK/images" "$WORK/arm" "$CACHE/x86"
WHEEL=$(PYTHON="$PYTHON" "$REPO/scripts/build-wheel.sh" "$WORK/wheel") || die "building the wheel failed"
cp "$MODEL" "$WORK/model.tflite"
[ -f "${MODEL%.tflite}.json" ] && cp "${MODEL%.tflite}.json" "$WORK/model.json"
find "$IMAGES" -maxdepth 1 -type f -name '*.jpg' -exec cp {} "$WORK/images/" \;
n_images=$(ls "$WORK/images" | wc -l)
[ "$n_images" -gt 0 ] || die "no .jpg images in $IMAGES"

# --- 5. install inside the root: a venv like on the Pi, edge extras from aarch64 wheels -------
start=$(date +%s)
chroot "$ROOT" /bin/sh -ec "
    [ -x /opt/pibokeh/venv/bin/pip ] || python3 -m venv --system-site-packages /opt/pibokeh/venv
    /opt/pibokeh/venv/bin/pip install --quiet --force-reinstall --no-deps /tmp/pibokeh-emulate/wheel/$(basename "$WHEEL")
    /opt/pibokeh/venv/bin/pip install --quiet '/tmp/pibokeh-emulate/wheel/$(basename "$WHEEL")[edge]'
" > "$CACHE/arm-pip.log" 2>&1 || die "pip install inside the arm64 root failed, see $CACHE/arm-pip.log"
say "arm64 install: $(( $(date +%s) - start )) s; $(chroot "$ROOT" /opt/pibokeh/venv/bin/pip list 2>/dev/null \
    | grep -iE '^(numpy|opencv-python-headless|ai-edge-litert|tflite-runtime|pibokeh) ' | tr -s ' ' | paste -sd, -)"

# --- 6. the same masks on both sides ----------------------------------------------------------
start=$(date +%s)
chroot "$ROOT" /opt/pibokeh/venv/bin/pibokeh mask /tmp/pibokeh-emulate/images \
    -o /tmp/pibokeh-emulate/arm --model /tmp/pibokeh-emulate/model.tflite --quiet \
    > "$CACHE/arm-mask.log" 2>&1 || { cat "$CACHE/arm-mask.log" >&2; die "pibokeh mask failed inside the arm64 root"; }
arm_s=$(( $(date +%s) - start ))
say "arm64 (qemu) pibokeh mask: $n_images images in $arm_s s (model $(basename "$MODEL")); $(chroot "$ROOT" /opt/pibokeh/venv/bin/pibokeh info \
    --model /tmp/pibokeh-emulate/model.tflite 2>/dev/null | grep -i backend | head -1 | tr -s ' ')"

X86=$CACHE/x86-venv
[ -x "$X86/bin/pip" ] || "$PYTHON" -m venv "$X86"
{ "$X86/bin/pip" install --quiet --force-reinstall --no-deps "$WHEEL" \
    && "$X86/bin/pip" install --quiet "$WHEEL[edge]"; } > "$CACHE/x86-pip.log" 2>&1 \
    || die "pip install of the x86 reference failed, see $CACHE/x86-pip.log"
rm -rf "$CACHE/x86"; mkdir -p "$CACHE/x86"
"$X86/bin/pibokeh" mask "$WORK/images" -o "$CACHE/x86" --model "$WORK/model.tflite" --quiet \
    || die "pibokeh mask failed on x86"

"$X86/bin/python" - "$CACHE/x86" "$WORK/arm" "$MIN_AGREEMENT" <<'EOF'
import sys
from pathlib import Path
import cv2
import numpy as np

x86_dir, arm_dir, min_agreement = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
same = total = 0
worst = (1.0, "")
for x86_png in sorted(x86_dir.glob("*.png")):
    a = cv2.imread(str(x86_png), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(arm_dir / x86_png.name), cv2.IMREAD_UNCHANGED)
    if b is None or a.shape != b.shape:
        sys.exit(f"pi-emulate: {x86_png.name}: missing or different size on arm64")
    eq = int(np.count_nonzero(a == b))
    same, total = same + eq, total + a.size
    worst = min(worst, (eq / a.size, x86_png.name))
agreement = same / total if total else 0.0
print(f"pi-emulate: {len(list(x86_dir.glob('*.png')))} masks, pixel agreement x86 vs arm64 "
      f"{100 * agreement:.3f} % (worst {worst[1]} {100 * worst[0]:.3f} %), need >= {100 * min_agreement:.1f} %")
sys.exit(0 if agreement >= min_agreement else 1)
EOF
