#!/usr/bin/env python3
"""Scrapes URL and parses it with `prometheus_client`'s OpenMetrics parser
(the format the agent's /metrics serves). Prints one JSON object:
{"name{label=value,...}": value} for every sample.

Usage: read_metrics.py URL
"""

import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    if not ctype.startswith("application/openmetrics-text"):
        sys.exit(f"unexpected Content-Type {ctype!r}")
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
