#!/usr/bin/env python3
"""A test receiver for the agent's two network sinks, written from the
public specifications and decoding with independent libraries:

* `POST /ingest`: Pyroscope's documented HTTP ingest API (query parameters
  `name`, `from`, `until`, `format`, `sampleRate`, `spyName`; the profile as
  the `profile` field of a multipart/form-data body). The pprof is decoded
  with Google's `protobuf` package (decode_pprof.py).
* `POST /v1development/profiles`: OTLP/HTTP with a protobuf body (gzip when
  `Content-Encoding: gzip`), decoded with the `opentelemetry-proto` package
  from PyPI; the answer is an `ExportProfilesServiceResponse`.

Each upload becomes one JSON line in LOG. Requests the spec does not allow
are answered 400 and logged with `"error"`.

With `--down-after S --down-for D` the server stops listening S seconds
after it started and listens again D seconds later on the same port (the
sink is unreachable meanwhile: connections are refused).

Usage: sink_receiver.py LOG [--down-after S --down-for D]
Prints `port N` on stdout once listening.
"""

import argparse
import email.parser
import email.policy
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_pprof import summarize  # noqa: E402

from opentelemetry.proto.collector.profiles.v1development import (  # noqa: E402
    profiles_service_pb2,
)

LOCK = threading.Lock()
LOG = None


def log(record):
    record["received_at"] = time.time()
    with LOCK:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def any_value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def summarize_otlp(req):
    d = req.dictionary
    st = list(d.string_table)
    assert st and st[0] == "", "string_table[0] must be empty"
    for table in ("location_table", "function_table", "stack_table", "attribute_table", "mapping_table"):
        items = getattr(d, table)
        assert len(items) > 0, f"{table} must start with its zero value"
        assert items[0].ByteSize() == 0, f"{table}[0] must be the zero value"

    def frame_name(location_index):
        line = d.location_table[location_index].lines[0]
        return st[d.function_table[line.function_index].name_strindex]

    resources = []
    for rp in req.resource_profiles:
        attrs = {a.key: any_value(a.value) for a in rp.resource.attributes}
        profiles = []
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                functions = set()
                total = 0
                for s in p.samples:
                    total += sum(s.values)
                    for li in d.stack_table[s.stack_index].location_indices:
                        functions.add(frame_name(li))
                profiles.append(
                    {
                        "scope": sp.scope.name,
                        "sample_type": f"{st[p.sample_type.type_strindex]}/{st[p.sample_type.unit_strindex]}",
                        "time_unix_nano": p.time_unix_nano,
                        "duration_nano": p.duration_nano,
                        "period": p.period,
                        "total": total,
                        "functions": sorted(functions),
                        "profile_id": p.profile_id.hex(),
                    }
                )
        resources.append({"attributes": attrs, "profiles": profiles})
    return {"resources": resources}


class Handler(BaseHTTPRequestHandler):
    # One request per connection: when the server goes "down", nothing
    # stays connected.
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, sink, why):
        log({"sink": sink, "error": why})
        self.answer(400, why.encode())

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if url.path == "/ingest":
            self.ingest(parse_qs(url.query), body)
        elif url.path == "/v1development/profiles":
            self.otlp(body)
        else:
            self.answer(404, b"no such endpoint")

    def ingest(self, query, body):
        q = {k: v[0] for k, v in query.items()}
        for required in ("name", "from", "until"):
            if required not in q:
                return self.refuse("pyroscope", f"missing query parameter {required}")
        if q.get("format") != "pprof":
            return self.refuse("pyroscope", f"format {q.get('format')!r}, expected pprof")
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return self.refuse("pyroscope", f"Content-Type {ctype!r}")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        parts = {
            p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
            for p in message.iter_parts()
        }
        if "profile" not in parts:
            return self.refuse("pyroscope", f"no profile field (fields: {sorted(parts)})")
        try:
            summary = summarize(parts["profile"])
        except Exception as e:  # noqa: BLE001 - any decode failure is a refusal
            return self.refuse("pyroscope", f"undecodable pprof: {e}")
        name = q["name"]
        app, _, rest = name.partition("{")
        labels = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(",") if kv)
        log(
            {
                "sink": "pyroscope",
                "app": app,
                "labels": labels,
                "from": int(q["from"]),
                "until": int(q["until"]),
                "sampleRate": q.get("sampleRate"),
                "spyName": q.get("spyName"),
                "pprof": summary,
            }
        )
        self.answer(200)

    def otlp(self, body):
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.refuse("otlp", f"Content-Type {self.headers.get('Content-Type')!r}")
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = profiles_service_pb2.ExportProfilesServiceRequest()
        try:
            req.ParseFromString(body)
            summary = summarize_otlp(req)
        except Exception as e:  # noqa: BLE001
            return self.refuse("otlp", f"undecodable request: {e}")
        summary["sink"] = "otlp"
        log(summary)
        response = profiles_service_pb2.ExportProfilesServiceResponse()
        self.answer(200, response.SerializeToString(), "application/x-protobuf")


def serve(port):
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--down-after", type=float)
    ap.add_argument("--down-for", type=float, default=0)
    args = ap.parse_args()
    LOG = args.log
    server = serve(0)
    port = server.server_address[1]
    print(f"port {port}", flush=True)
    if args.down_after is not None:
        time.sleep(args.down_after)
        server.shutdown()
        server.server_close()
        log({"event": "down"})
        time.sleep(args.down_for)
        server = serve(port)
        log({"event": "up"})
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
