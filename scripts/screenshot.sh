#!/usr/bin/env bash
# Takes headless-Chromium screenshots of tachyon-bpf output as a person sees
# it: a speedscope file opened in the speedscope app (served from the
# speedscope npm package's dist folder, `#profileURL=`), a flamegraph SVG and
# a heatmap HTML report.
#
# Usage: scripts/screenshot.sh OUT_DIR [PROFILE.speedscope.json [FLAMEGRAPH.svg [HEATMAP.html]]]
#
# Files not given default to the golden files of the fixture profile
# (tachyon-user/tests/golden/fixture.speedscope.json, fixture.svg,
# fixture.heatmap.html). Writes OUT_DIR/speedscope.png (1400x900),
# OUT_DIR/flamegraph.png (as tall as the SVG) and OUT_DIR/heatmap.png.
# Installs Debian's chromium when it is missing (needs root and apt), and the
# npm consumers (scripts/install-consumers.sh). Everything is served on
# 127.0.0.1 only, by python3 -m http.server, stopped on exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: screenshot.sh OUT_DIR [PROFILE.speedscope.json [FLAMEGRAPH.svg [HEATMAP.html]]]}"
golden="$root/tachyon-user/tests/golden"
profile="${2:-$golden/fixture.speedscope.json}"
svg="${3:-$golden/fixture.svg}"
heatmap="${4:-$golden/fixture.heatmap.html}"
for f in "$profile" "$svg" "$heatmap"; do
    [[ -f "$f" ]] || { echo "screenshot: $f does not exist" >&2; exit 1; }
done

chromium="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$chromium" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "screenshot: chromium is not installed (apt-get install chromium, as root)" >&2
        exit 1
    fi
    echo "screenshot: installing Debian's chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chromium="$(command -v chromium)"
fi

bash "$root/scripts/install-consumers.sh" >&2
dist="$root/tests/consumers/node_modules/speedscope/dist/release"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
profile_dir="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work" "$profile_dir"
}
trap cleanup EXIT

# The site: speedscope's release files, the profile and the SVG.
cp -r "$dist/." "$work/"
cp "$profile" "$work/profile.speedscope.json"
cp "$svg" "$work/flamegraph.svg"
cp "$heatmap" "$work/heatmap.html"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "$base/index.html" 2>/dev/null; then
        break
    fi
    sleep 0.2
done

shot() { # URL PNG [HEIGHT]
    rm -f "$2"
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --no-first-run --hide-scrollbars --user-data-dir="$profile_dir" \
        --virtual-time-budget=15000 --window-size="1400,${3:-900}" \
        --screenshot="$2" "$1" >/dev/null 2>&1 || true
    if [[ ! -s "$2" ]]; then
        echo "screenshot: chromium wrote no $2 for $1" >&2
        exit 1
    fi
    echo "$2"
}

profile_url="$(python3 -c 'import urllib.parse, sys; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "$base/profile.speedscope.json")"
shot "$base/index.html#profileURL=$profile_url" "$out/speedscope.png"
# The whole flamegraph: the window as tall as the SVG (at most 4000 px).
svg_height="$(python3 - "$svg" <<'PY'
import re, sys
m = re.search(rb'<svg[^>]*?\sheight="(\d+)', open(sys.argv[1], 'rb').read(4096))
print(min(int(m.group(1)) if m else 900, 4000))
PY
)"
shot "$base/flamegraph.svg" "$out/flamegraph.png" "$svg_height"
shot "$base/heatmap.html" "$out/heatmap.png" 1400
