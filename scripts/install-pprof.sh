#!/usr/bin/env bash
# Go's own pprof, the reader of every pprof the project writes (as Pyroscope,
# Parca and `go tool pprof` users read them), built offline from Debian's
# packages into .tools/pprof. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.tools/pprof"
SRC=/usr/share/gocode/src/github.com/google/pprof
log() { echo "install-pprof: $*" >&2; }
if [ -x "$OUT" ] && "$OUT" -h >/dev/null 2>&1; then
    echo "pprof ready: $OUT"
    exit 0
fi
if ! command -v go >/dev/null 2>&1 || [ ! -d "$SRC" ]; then
    log "installing golang-go and golang-github-google-pprof-dev (Debian)"
    apt-get install -y -qq golang-go golang-github-google-pprof-dev >/dev/null 2>&1 || {
        apt-get update -qq && apt-get install -y -qq golang-go golang-github-google-pprof-dev >/dev/null
    } || { log "error: apt-get install golang-go golang-github-google-pprof-dev failed"; exit 1; }
fi
mkdir -p "$ROOT/.tools"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$ROOT/.cache/go-build" \
    go build -o "$OUT" github.com/google/pprof \
    || { log "error: go build github.com/google/pprof failed"; exit 1; }
echo "pprof ready: $OUT ($(dpkg-query -W -f '${Version}' golang-github-google-pprof-dev))"
