#!/usr/bin/env bash
# deploy-remote.sh — the target side of a pibokeh deploy; runs ON the Pi, as root.
#
# deploy.sh (one Pi) and the Ansible role (a fleet) both upload a release folder and call this,
# so both routes install, switch, health-check and roll back the same way.
#
#   deploy-remote.sh status                 current release id, model, health URL and health (key=value lines)
#   deploy-remote.sh activate STAGING_DIR   install the uploaded release; roll back if unhealthy
#   deploy-remote.sh rollback               go back to the previous release
#
# Layout: /opt/pibokeh/{venv,releases/<id>,models,current,previous}, /etc/pibokeh/pibokeh.toml,
# /etc/systemd/system/pibokeh.service (+ pibokeh.service.d/10-deploy.conf: PIBOKEH_MODEL).
# Models: models/<sha>.tflite, or models/<sha>.rpk for the AI Camera (made here by imx500-package from
# the uploaded packerOut.zip, whose sha names it), with models/current.{tflite,rpk} and current.json.
# Exit codes: 0 done (or nothing to do), 1 deploy failed (rolled back), 2 bad setup/usage.
set -euo pipefail

PREFIX=/opt/pibokeh
ETC=/etc/pibokeh
UNIT=pibokeh.service
UNIT_DIR=/etc/systemd/system
SERVICE_USER=pibokeh
HEALTH_TIMEOUT=${PIBOKEH_HEALTH_TIMEOUT:-60}
KEEP_RELEASES=3

say() { echo "pibokeh-deploy: $*"; }
die() { echo "pibokeh-deploy: error: $*" >&2; exit "${2:-2}"; }

[ "$(id -u)" = 0 ] || die "must run as root (deploy.sh uses sudo -n)"

release_of() {  # release id a symlink points at, or nothing
    [ -L "$1" ] && basename "$(readlink "$1")" || true
}

manifest_get() {  # KEY FILE
    sed -n "s/^$1=//p" "$2" | head -n1
}

model_ext() {  # MANIFEST: rpk for an AI Camera network (packaged here from its packerOut.zip), else tflite
    case "$(manifest_get MODEL_NAME "$1")" in *.rpk) echo rpk ;; *) echo tflite ;; esac
}

package_rpk() {  # ZIP TARGET.rpk: the AI Camera's network file, made by Sony's packager (imx500-tools)
    local out
    command -v imx500-package >/dev/null \
        || die "imx500-package is missing on this Pi: apt-get install imx500-tools (or imx500-all) for the AI Camera"
    out=$(mktemp -d "$PREFIX/models/.package.XXXXXX")
    say "packaging the AI Camera network: imx500-package -i packerOut.zip -o $out"
    if ! imx500-package -i "$1" -o "$out" > "$out.log" 2>&1 || [ ! -f "$out/network.rpk" ]; then
        tail -n 5 "$out.log" | sed 's/^/    /' >&2
        rm -rf "$out" "$out.log"
        die "imx500-package did not make network.rpk of the uploaded packerOut.zip"
    fi
    install -m 0644 "$out/network.rpk" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
    rm -rf "$out" "$out.log"
}

healthy() {  # URL TIMEOUT: 0 when the service answers 200 within TIMEOUT seconds
    python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            if reply.status == 200:
                sys.exit(0)
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(1)
EOF
}

service_logs() {
    journalctl -u "$UNIT" -n 20 --no-pager 2>/dev/null | sed 's/^/    /' || true
}

ensure_prerequisites() {
    command -v python3 >/dev/null || die "python3 is missing: apt-get install python3 python3-venv"
    python3 -c 'import ensurepip, venv' 2>/dev/null || die "python3-venv is missing: apt-get install python3-venv"
    command -v systemctl >/dev/null || die "systemctl is missing: pibokeh runs as a systemd service"
    getent group video >/dev/null || groupadd --system video
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        # its own group (the unit's Group=), plus video for the cameras (SupplementaryGroups=)
        useradd --system --user-group --groups video --home-dir /var/lib/pibokeh --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
        say "created system user $SERVICE_USER (groups $SERVICE_USER, video)"
    fi
    mkdir -p "$PREFIX/releases" "$PREFIX/models" "$ETC" "$UNIT_DIR/$UNIT.d"
}

install_file() {  # SRC DEST MODE: atomic replace, only when the content differs
    if ! cmp -s "$1" "$2" 2>/dev/null; then
        install -m "$3" "$1" "$2.tmp.$$"
        mv -f "$2.tmp.$$" "$2"
    fi
}

point() {  # LINK TARGET: atomic symlink switch
    ln -sfn "$2" "$1.tmp.$$"
    mv -Tf "$1.tmp.$$" "$1"
}

switch_to() {  # RELEASE_ID: make it the running release (venv, model, config, unit, restart)
    local dir=$PREFIX/releases/$1 wheel model_sha card_sha ext
    wheel=$dir/$(manifest_get WHEEL "$dir/MANIFEST")
    ext=$(model_ext "$dir/MANIFEST")
    model_sha=$(manifest_get MODEL_SHA "$dir/MANIFEST")
    card_sha=$(manifest_get CARD_SHA "$dir/MANIFEST")

    # --system-site-packages: the apt-installed python3-picamera2 must be importable
    [ -x "$PREFIX/venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
    # Reinstall only when the wheel's content changed (same version, new build: --force-reinstall).
    if [ "$(cat "$PREFIX/venv/.pibokeh-wheel" 2>/dev/null)" != "$(manifest_get WHEEL_SHA "$dir/MANIFEST")" ]; then
        say "installing $(basename "$wheel") with the edge extras (pip log: $PREFIX/pip.log)"
        if ! { "$PREFIX/venv/bin/pip" install --disable-pip-version-check --no-deps --force-reinstall "$wheel" \
               && "$PREFIX/venv/bin/pip" install --disable-pip-version-check "$wheel[edge]"; } \
               > "$PREFIX/pip.log" 2>&1; then
            tail -n 5 "$PREFIX/pip.log" | sed 's/^/    /' >&2
            return 1
        fi
        manifest_get WHEEL_SHA "$dir/MANIFEST" > "$PREFIX/venv/.pibokeh-wheel"
    fi

    point "$PREFIX/models/current.$ext" "$model_sha.$ext"
    if [ -n "$card_sha" ]; then
        point "$PREFIX/models/current.json" "$card_sha.json"
    else
        rm -f "$PREFIX/models/current.json"
    fi
    install_file "$dir/pibokeh.toml" "$ETC/pibokeh.toml" 0644
    if [ -f "$dir/auth" ]; then  # the preview's password file: the service's group may read it, nobody else
        install -m 0640 -o root -g "$SERVICE_USER" "$dir/auth" "$ETC/auth.tmp.$$" && mv -f "$ETC/auth.tmp.$$" "$ETC/auth"
    fi
    install_file "$dir/pibokeh.service" "$UNIT_DIR/$UNIT" 0644
    printf '[Service]\nEnvironment=PIBOKEH_MODEL=%s\n' "$PREFIX/models/current.$ext" > "$dir/10-deploy.conf"
    install_file "$dir/10-deploy.conf" "$UNIT_DIR/$UNIT.d/10-deploy.conf" 0644
    chown -R "root:root" "$dir"

    systemctl daemon-reload
    systemctl enable --quiet "$UNIT" 2>/dev/null || systemctl enable "$UNIT"
    systemctl restart "$UNIT"
}

check_health() {  # RELEASE_ID
    local url
    url=$(manifest_get HEALTH_URL "$PREFIX/releases/$1/MANIFEST")
    healthy "$url" "$HEALTH_TIMEOUT"
}

prune() {  # keep the newest KEEP_RELEASES releases plus current and previous, and their models
    local cur prev keep
    cur=$(release_of "$PREFIX/current"); prev=$(release_of "$PREFIX/previous")
    keep=$(ls -1t "$PREFIX/releases" | head -n "$KEEP_RELEASES")
    for r in $(ls -1 "$PREFIX/releases"); do
        case " $cur $prev $(echo $keep) " in *" $r "*) ;; *) rm -rf "${PREFIX:?}/releases/$r" ;; esac
    done
    local used
    used=$(cat "$PREFIX"/releases/*/MANIFEST 2>/dev/null | sed -n 's/^\(MODEL\|CARD\)_SHA=//p')
    for f in "$PREFIX"/models/*; do
        local stem; stem=$(basename "${f%.*}")
        case "$stem" in current) continue ;; esac
        echo "$used" | grep -qx "$stem" || rm -f "$f"
    done
}

cmd_status() {
    local cur url
    cur=$(release_of "$PREFIX/current")
    echo "release=$cur"
    echo "previous=$(release_of "$PREFIX/previous")"
    if [ -n "$cur" ] && [ -f "$PREFIX/releases/$cur/MANIFEST" ]; then
        echo "model_sha=$(manifest_get MODEL_SHA "$PREFIX/releases/$cur/MANIFEST")"
        echo "model_name=$(manifest_get MODEL_NAME "$PREFIX/releases/$cur/MANIFEST")"
        echo "card_sha=$(manifest_get CARD_SHA "$PREFIX/releases/$cur/MANIFEST")"
        url=$(manifest_get HEALTH_URL "$PREFIX/releases/$cur/MANIFEST")
        echo "health_url=$url"
        if systemctl is-active --quiet "$UNIT" && healthy "$url" 5; then
            echo "healthy=yes"
        else
            echo "healthy=no"
        fi
    fi
}

cmd_activate() {
    local staging=${1:?activate needs the uploaded release folder} id cur dir
    [ -f "$staging/MANIFEST" ] || die "$staging/MANIFEST not found (incomplete upload?)"
    ensure_prerequisites
    id=$(manifest_get RELEASE "$staging/MANIFEST")
    cur=$(release_of "$PREFIX/current")
    dir=$PREFIX/releases/$id

    if [ "$id" = "$cur" ] && systemctl is-active --quiet "$UNIT" && check_health "$id" 5 2>/dev/null; then
        rm -rf "$staging"
        say "unchanged: release $id is already running and healthy"
        return 0
    fi

    # The release folder: wheel, config, unit, manifest. Models live once in models/<sha>.
    if [ ! -f "$dir/MANIFEST" ]; then
        rm -rf "$dir.partial"; mkdir -p "$dir.partial"
        for f in MANIFEST pibokeh.toml pibokeh.service "$(manifest_get WHEEL "$staging/MANIFEST")"; do
            cp "$staging/$f" "$dir.partial/$f"
        done
        [ ! -f "$staging/auth" ] || install -m 0600 "$staging/auth" "$dir.partial/auth"
        mv "$dir.partial" "$dir"
    fi
    # an AI Camera network comes as its packerOut.zip (model.zip) and is kept as the network.rpk made of it
    local ext; ext=$(model_ext "$dir/MANIFEST")
    for kind in "MODEL:$ext:$([ "$ext" = rpk ] && echo zip || echo tflite)" CARD:json:json; do
        local sha; sha=$(manifest_get "${kind%%:*}_SHA" "$dir/MANIFEST")
        [ -z "$sha" ] && continue
        local suffix; suffix=$(cut -d: -f2 <<<"$kind")
        local upload; upload=$staging/model.$(cut -d: -f3 <<<"$kind")
        local target=$PREFIX/models/$sha.$suffix
        if [ ! -f "$target" ]; then
            [ -f "$upload" ] || die "model file $sha.$suffix is neither on the target nor uploaded"
            echo "$sha  $upload" | sha256sum --check --quiet \
                || die "uploaded $(basename "$upload") does not match its sha256 (corrupt upload)"
            if [ "$suffix" = rpk ]; then
                package_rpk "$upload" "$target"
            else
                install -m 0644 "$upload" "$target.tmp.$$" && mv -f "$target.tmp.$$" "$target"
            fi
        fi
    done
    rm -rf "$staging"

    say "switching ${cur:-nothing} -> $id (model $(manifest_get MODEL_NAME "$dir/MANIFEST"))"
    if switch_to "$id" && check_health "$id"; then
        if [ "$cur" != "$id" ] && [ -n "$cur" ]; then point "$PREFIX/previous" "releases/$cur"; fi
        point "$PREFIX/current" "releases/$id"
        prune
        say "deployed: release $id is running and healthy ($(manifest_get HEALTH_URL "$dir/MANIFEST"))"
        return 0
    fi

    echo "pibokeh-deploy: release $id failed its health check; last service log:" >&2
    service_logs >&2
    if [ -n "$cur" ] && [ "$cur" != "$id" ]; then
        echo "pibokeh-deploy: rolling back to release $cur" >&2
        if switch_to "$cur" && check_health "$cur"; then
            echo "pibokeh-deploy: rolled back: release $cur is running and healthy again" >&2
        else
            echo "pibokeh-deploy: rollback to $cur is not healthy either; see journalctl -u $UNIT" >&2
        fi
    else
        systemctl stop "$UNIT" || true
        echo "pibokeh-deploy: no previous release to roll back to; service stopped" >&2
    fi
    exit 1
}

cmd_rollback() {
    local cur prev
    cur=$(release_of "$PREFIX/current"); prev=$(release_of "$PREFIX/previous")
    [ -n "$prev" ] && [ -d "$PREFIX/releases/$prev" ] || die "no previous release to roll back to"
    say "rolling back $cur -> $prev"
    if switch_to "$prev" && check_health "$prev"; then
        point "$PREFIX/previous" "releases/$cur"
        point "$PREFIX/current" "releases/$prev"
        say "rolled back: release $prev is running and healthy"
    else
        service_logs >&2
        die "release $prev is not healthy after the rollback" 1
    fi
}

case "${1:-}" in
    status) cmd_status ;;
    activate) cmd_activate "${2:-}" ;;
    rollback) cmd_rollback ;;
    *) die "usage: deploy-remote.sh status | activate STAGING_DIR | rollback" ;;
esac
