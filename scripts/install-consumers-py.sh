#!/usr/bin/env bash
# Installs the independent consumers the output tests decode our files with:
# Python's `protobuf` package (pinned) in a venv at .cache/consumers-venv.
# Idempotent; `cargo xtask provision` calls it. Override the interpreter with
# PYTHON=/path/to/python3.
set -euo pipefail

PROTOBUF_VERSION=6.33.6

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/consumers-venv"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/python" ]] &&
    [[ "$("$venv/bin/python" -c 'import google.protobuf as p; print(p.__version__)' 2>/dev/null)" == "$PROTOBUF_VERSION" ]]; then
    echo "consumers venv ready: $venv (protobuf $PROTOBUF_VERSION)"
    exit 0
fi

mkdir -p "$root/.cache"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "protobuf==$PROTOBUF_VERSION"
"$venv/bin/python" -c 'import google.protobuf as p; print("consumers venv ready: protobuf", p.__version__)'
