#!/usr/bin/env bash
# deploy.sh — put the pibokeh runtime, a model and the camera service on one Raspberry Pi over ssh.
#
# Usage: scripts/deploy.sh USER@HOST [--model M] [--config FILE] [--unit FILE] [--auth FILE]
#                          [--health-url URL] [--health-timeout S] [-p PORT] [-i KEY] [-o SSH_OPTION]...
#        scripts/deploy.sh USER@HOST --status | --rollback
#        scripts/deploy.sh --release-only DIR --model M [--config FILE] [--unit FILE]  (no ssh: the
#            release folder the Ansible role uploads)
#
# --model M is a .tflite (its card M.json goes along) or, for the Raspberry Pi AI Camera, the folder
# `pibokeh-convert --target imx500` wrote: its packerOut.zip is made into network.rpk on the Pi by
# imx500-package (Raspberry Pi OS package imx500-tools, part of imx500-all; the config needs
# source = "picamera2").
# Builds the wheel, uploads wheel + model + card + config + unit, installs them on the Pi
# (venv with --system-site-packages, edge extras, systemd unit), restarts the service and checks
# /healthz; an unhealthy release is rolled back to the previous wheel and model. A second run
# with the same inputs changes nothing and says so. Without --model, the Pi keeps its model
# ($PIBOKEH_MODEL on the workstation is used when the Pi has none yet). --auth FILE (from
# `pibokeh passwd FILE USER`) installs the preview's password file as /etc/pibokeh/auth (readable by
# the service only); a config serving beyond loopback needs it (auth = "/etc/pibokeh/auth").
# ssh runs with BatchMode: it never asks for a password; set up a key first (ssh-copy-id).
# The remote user must be root or have passwordless sudo (the default on Raspberry Pi OS).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
die() { echo "deploy: $*" >&2; exit 2; }
say() { echo "deploy: $*"; }

TARGET="" MODEL=${PIBOKEH_MODEL:-} MODEL_GIVEN=0 CONFIG="$REPO/scripts/systemd/pibokeh.toml"
UNIT="$REPO/scripts/systemd/pibokeh.service" HEALTH_URL="" HEALTH_TIMEOUT=60 ACTION=deploy AUTH=""
SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4)

while [ $# -gt 0 ]; do
    case $1 in
        --model) MODEL=${2:?--model needs a .tflite file or an imx500 folder}; MODEL_GIVEN=1; shift ;;
        --config) CONFIG=${2:?--config needs a TOML file}; shift ;;
        --unit) UNIT=${2:?--unit needs a systemd unit file}; shift ;;
        --auth) AUTH=${2:?--auth needs a password file (pibokeh passwd FILE USER)}; shift ;;
        --health-url) HEALTH_URL=${2:?--health-url needs a URL}; shift ;;
        --health-timeout) HEALTH_TIMEOUT=${2:?--health-timeout needs seconds}; shift ;;
        --status) ACTION=status ;;
        --rollback) ACTION=rollback ;;
        --release-only) ACTION=release-only; RELEASE_DIR=${2:?--release-only needs a folder}; shift ;;
        -p) SSH_OPTS+=(-p "${2:?-p needs a port}"); shift ;;
        -i) SSH_OPTS+=(-i "${2:?-i needs a key file}" -o IdentitiesOnly=yes); shift ;;
        -o) SSH_OPTS+=(-o "${2:?-o needs an ssh option}"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) [ -z "$TARGET" ] || die "one target only (for many Pis use the Ansible playbook in scripts/ansible)"
           TARGET=$1 ;;
    esac
    shift
done
[[ "$HEALTH_TIMEOUT" =~ ^[0-9]+$ ]] || die "--health-timeout must be whole seconds, got $HEALTH_TIMEOUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pibokeh-deploy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

build_release() {  # OUT_DIR MODEL_ARGS...: build the wheel, assemble the release; print its id
    local out=$1; shift
    [ -f "$CONFIG" ] || die "service config not found: $CONFIG (pass --config FILE)"
    [ -f "$UNIT" ] || die "systemd unit not found: $UNIT (pass --unit FILE)"
    say "building the wheel" >&2
    PYTHON="$PYTHON" "$REPO/scripts/build-wheel.sh" "$WORK/wheel" >/dev/null || die "building the wheel failed"
    "$PYTHON" "$REPO/scripts/deploy_release.py" --out "$out" --wheel "$WORK"/wheel/pibokeh-*.whl \
        --config "$CONFIG" --unit "$UNIT" "$@" ${HEALTH_URL:+--health-url "$HEALTH_URL"} ${AUTH:+--auth "$AUTH"} \
        || exit 2  # deploy_release.py said why
}

if [ "$ACTION" = release-only ]; then
    [ -z "$TARGET" ] || die "--release-only takes no target"
    [ -n "$MODEL" ] && [ -e "$MODEL" ] || die "--release-only needs --model FILE.tflite (or an imx500 folder)"
    release=$(build_release "$RELEASE_DIR" --model "$MODEL")
    say "release $release assembled in $RELEASE_DIR"
    exit 0
fi
[ -n "$TARGET" ] || die "usage: deploy.sh USER@HOST [--model M] [--config FILE] (see --help)"
if [ "$ACTION" = deploy ]; then  # local inputs first: no ssh round trip to learn of a typo
    [ -f "$CONFIG" ] || die "service config not found: $CONFIG (pass --config FILE)"
    [ -f "$UNIT" ] || die "systemd unit not found: $UNIT (pass --unit FILE)"
    [ -z "$MODEL" ] || [ -e "$MODEL" ] || die "model not found: $MODEL"
    [ -z "$AUTH" ] || [ -f "$AUTH" ] || die "password file not found: $AUTH (make it with pibokeh passwd FILE USER)"
fi

remote() { ssh "${SSH_OPTS[@]}" "$TARGET" "$@"; }

# --- can we log in without a password, and become root without one? -----------------------------
if ! err=$(remote true 2>&1 </dev/null); then
    err=$(tr -d '\r' <<<"$err" | grep -v '^$' | tail -n 1)  # ssh ends its messages with CR LF
    die "cannot log in to $TARGET with an ssh key ($err); passwords are never asked: set up a key with ssh-copy-id $TARGET"
fi
SUDO=$(remote 'if [ "$(id -u)" = 0 ]; then echo; elif sudo -n true 2>/dev/null; then echo "sudo -n"; else echo none; fi' </dev/null)
[ "$SUDO" != none ] || die "$TARGET: the user needs passwordless sudo (Raspberry Pi OS gives it to the first user)"
REMOTE_SCRIPT="$SUDO env PIBOKEH_HEALTH_TIMEOUT=$HEALTH_TIMEOUT bash -s --"

case $ACTION in
    status) remote "$REMOTE_SCRIPT status" < "$REPO/scripts/deploy-remote.sh"; exit ;;
    rollback) remote "$REMOTE_SCRIPT rollback" < "$REPO/scripts/deploy-remote.sh"; exit ;;
esac

STATUS=$(remote "$REMOTE_SCRIPT status" < "$REPO/scripts/deploy-remote.sh") \
    || die "$TARGET: could not read the deployed state"
current=$(sed -n 's/^release=//p' <<<"$STATUS")
healthy=$(sed -n 's/^healthy=//p' <<<"$STATUS")

if [ "$MODEL_GIVEN" = 0 ] && [ -n "$current" ]; then
    MODEL_ARGS=(--keep-model "$(sed -n 's/^model_name=//p' <<<"$STATUS"):$(sed -n 's/^model_sha=//p' \
        <<<"$STATUS"):$(sed -n 's/^card_sha=//p' <<<"$STATUS")")
else
    [ -n "$MODEL" ] || die "$TARGET has no model yet: pass --model FILE.tflite (or set PIBOKEH_MODEL)"
    MODEL_ARGS=(--model "$MODEL")
fi

release=$(build_release "$WORK/release" "${MODEL_ARGS[@]}")

if [ "$release" = "$current" ] && [ "$healthy" = yes ]; then
    say "no change: release $release is already deployed and healthy on $TARGET"
    exit 0
fi

say "uploading release $release to $TARGET"
staging=".cache/pibokeh-deploy/$release"
tar -C "$WORK/release" -cf - . \
    | remote "rm -rf \"\$HOME/$staging\" && mkdir -p \"\$HOME/$staging\" && tar -xf - -C \"\$HOME/$staging\"" \
    || die "upload to $TARGET failed"
# The remote side installs, restarts, checks /healthz and rolls back; its exit code is ours.
remote "$REMOTE_SCRIPT activate \"\$HOME/$staging\"" < "$REPO/scripts/deploy-remote.sh"
