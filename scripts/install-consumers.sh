#!/usr/bin/env bash
# Installs the JavaScript consumers the output tests check our files with
# (tests/consumers/package.json: speedscope, for its file-format JSON schema,
# and ajv to validate against it) into the git-ignored
# tests/consumers/node_modules, exactly as pinned by package-lock.json.
# Needs node and npm (Debian: apt-get install nodejs npm). Idempotent;
# `cargo xtask provision` calls it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/consumers"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-consumers: $tool is not installed (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
done

wanted="$(node -e 'console.log(require(process.argv[1]).packages["node_modules/speedscope"].version)' \
    "$dir/package-lock.json")"
have="$(node -e 'try { console.log(require(process.argv[1]).version) } catch { }' \
    "$dir/node_modules/speedscope/package.json")"
if [[ "$have" == "$wanted" && -d "$dir/node_modules/ajv" ]]; then
    echo "consumers ready: $dir/node_modules (speedscope $have)"
    exit 0
fi

cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
echo "consumers ready: $dir/node_modules (speedscope $wanted)"
