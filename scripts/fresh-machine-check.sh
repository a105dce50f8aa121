#!/usr/bin/env bash
# The README's first command, exactly as written, as a new user runs it on a
# fresh machine: tracefs and debugfs unmounted (in a private mount namespace,
# so the host is untouched), a Python workload running. Only `--duration` is
# shortened. Fails unless the flame graph holds the workload's functions and
# the run lost nothing.
#
# Usage: scripts/fresh-machine-check.sh [DURATION_SECONDS]   (default 5)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-5}"

log() { echo "fresh-machine-check: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# The command as the README shows it (first `cargo xtask run` line).
readme_cmd="$(grep -m1 -E '^cargo xtask run ' README.md)" || die "README.md has no 'cargo xtask run' line"
case "$readme_cmd" in
    *"--duration 30 -o profile.svg"*) ;;
    *) die "README's first command changed ('$readme_cmd'): update this check" ;;
esac
cmd="${readme_cmd/--duration 30/--duration $DURATION}"

# Any interpreter will do; Debian's own python3.11 is on every machine of
# this kind and is the least special one (static, non-PIE, stripped).
PY=/usr/bin/python3.11
[ -x "$PY" ] || PY="$(command -v python3)"
work="$(mktemp -d)"
# Above the minimum, so that it runs for the whole profile.
"$PY" tests/workloads/cpu_split.py $((DURATION + 60)) > "$work/truth.json" &
wl=$!
trap 'kill $wl 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

rm -f profile.svg
log "running '$cmd' with tracefs and debugfs unmounted (workload pid $wl, $PY)"
unshare --mount --propagation private bash -c '
    set -euo pipefail
    for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug; do
        while mountpoint -q "$m" 2>/dev/null; do umount "$m" || umount -l "$m"; done
    done
    if grep -E " (tracefs|debugfs) " /proc/self/mounts; then
        echo "fresh-machine-check: tracefs or debugfs still mounted" >&2; exit 1
    fi
    eval "$1"
' _ "$cmd" 2> >(tee "$work/stderr" >&2) || die "'$cmd' failed"

[ -s profile.svg ] || die "no profile.svg written"
for fn in sixty thirty ten main; do
    grep -qE "<title>$fn \\([^)]*/tests/workloads/cpu_split\.py:[0-9]+\)" profile.svg \
        || die "profile.svg has no frame '$fn (…/cpu_split.py:LINE)'"
done
grep -qE "^  samples lost: +0$" "$work/stderr" || die "the run lost samples (see its summary above)"
grep -qE "^  process events lost: +0$" "$work/stderr" || die "the run lost process events"
mv profile.svg "$work/profile.svg"
log "ok: profile.svg holds sixty, thirty, ten and main of cpu_split.py; nothing lost"
