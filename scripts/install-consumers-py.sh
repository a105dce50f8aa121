#!/usr/bin/env bash
# Installs the independent consumers the output tests decode our files with,
# pinned, in a venv at .cache/consumers-venv: Python's `protobuf` package
# (pprof), `opentelemetry-proto` (the OTLP profiles schema) and
# `prometheus_client` (its OpenMetrics parser reads the agent's /metrics).
# Idempotent; `cargo xtask provision` calls it. Override the interpreter with
# PYTHON=/path/to/python3.
set -euo pipefail

PROTOBUF_VERSION=6.33.6
OTEL_PROTO_VERSION=1.45.2
PROMETHEUS_CLIENT_VERSION=0.23.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/consumers-venv"
python="${PYTHON:-python3}"

want="$PROTOBUF_VERSION $OTEL_PROTO_VERSION $PROMETHEUS_CLIENT_VERSION"
versions() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version
print(version("protobuf"), version("opentelemetry-proto"), version("prometheus_client"))
PY
}
if [[ -x "$venv/bin/python" ]] && [[ "$(versions)" == "$want" ]]; then
    echo "consumers venv ready: $venv (protobuf, opentelemetry-proto, prometheus_client: $want)"
    exit 0
fi

mkdir -p "$root/.cache"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "protobuf==$PROTOBUF_VERSION" \
    "opentelemetry-proto==$OTEL_PROTO_VERSION" \
    "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
if [[ "$(versions)" != "$want" ]]; then
    echo "install-consumers-py: expected $want, the venv has $(versions)" >&2
    exit 1
fi
echo "consumers venv ready: protobuf, opentelemetry-proto, prometheus_client: $want"
