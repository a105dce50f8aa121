#!/usr/bin/env bash
# tmux, which the live view's end-to-end tests (tests/tests/top.rs) drive:
# a detached session of a fixed size, send-keys, capture-pane. Debian 12's
# package, pinned. Idempotent; `cargo xtask provision` calls it.
set -euo pipefail

TMUX_VERSION=3.3a-3
log() { echo "install-tmux: $*" >&2; }

installed() { dpkg-query -W -f '${Version}' tmux 2>/dev/null || true; }
if [ "$(installed)" = "$TMUX_VERSION" ] && command -v tmux >/dev/null 2>&1; then
    echo "tmux ready: $(command -v tmux) ($TMUX_VERSION)"
    exit 0
fi
log "installing tmux=$TMUX_VERSION (Debian)"
apt-get install -y -qq "tmux=$TMUX_VERSION" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq "tmux=$TMUX_VERSION" >/dev/null
} || { log "error: apt-get install tmux=$TMUX_VERSION failed"; exit 1; }
echo "tmux ready: $(command -v tmux) ($(installed))"
