#!/usr/bin/env python3
"""Decodes a gzipped pprof file with Google's `protobuf` package, independently
of tachyon's Rust code, and prints a JSON summary on stdout.

The message classes are built at run time from a FileDescriptorProto written
out below from the public pprof `profile.proto` spec (package
perftools.profiles), so neither protoc nor tachyon's own schema file is used.

Usage: decode_pprof.py FILE.pb.gz
Installed by scripts/install-consumers-py.sh into .cache/consumers-venv.
"""

import gzip
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
INT64, UINT64, STRING, BOOL, MESSAGE = (
    F.TYPE_INT64,
    F.TYPE_UINT64,
    F.TYPE_STRING,
    F.TYPE_BOOL,
    F.TYPE_MESSAGE,
)
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED

# message name -> [(field name, number, type, label, message type or None)]
SCHEMA = {
    "Profile": [
        ("sample_type", 1, MESSAGE, REP, "ValueType"),
        ("sample", 2, MESSAGE, REP, "Sample"),
        ("mapping", 3, MESSAGE, REP, "Mapping"),
        ("location", 4, MESSAGE, REP, "Location"),
        ("function", 5, MESSAGE, REP, "Function"),
        ("string_table", 6, STRING, REP, None),
        ("drop_frames", 7, INT64, OPT, None),
        ("keep_frames", 8, INT64, OPT, None),
        ("time_nanos", 9, INT64, OPT, None),
        ("duration_nanos", 10, INT64, OPT, None),
        ("period_type", 11, MESSAGE, OPT, "ValueType"),
        ("period", 12, INT64, OPT, None),
        ("comment", 13, INT64, REP, None),
        ("default_sample_type", 14, INT64, OPT, None),
    ],
    "ValueType": [
        ("type", 1, INT64, OPT, None),
        ("unit", 2, INT64, OPT, None),
    ],
    "Sample": [
        ("location_id", 1, UINT64, REP, None),
        ("value", 2, INT64, REP, None),
        ("label", 3, MESSAGE, REP, "Label"),
    ],
    "Label": [
        ("key", 1, INT64, OPT, None),
        ("str", 2, INT64, OPT, None),
        ("num", 3, INT64, OPT, None),
        ("num_unit", 4, INT64, OPT, None),
    ],
    "Mapping": [
        ("id", 1, UINT64, OPT, None),
        ("memory_start", 2, UINT64, OPT, None),
        ("memory_limit", 3, UINT64, OPT, None),
        ("file_offset", 4, UINT64, OPT, None),
        ("filename", 5, INT64, OPT, None),
        ("build_id", 6, INT64, OPT, None),
        ("has_functions", 7, BOOL, OPT, None),
        ("has_filenames", 8, BOOL, OPT, None),
        ("has_line_numbers", 9, BOOL, OPT, None),
        ("has_inline_frames", 10, BOOL, OPT, None),
    ],
    "Location": [
        ("id", 1, UINT64, OPT, None),
        ("mapping_id", 2, UINT64, OPT, None),
        ("address", 3, UINT64, OPT, None),
        ("line", 4, MESSAGE, REP, "Line"),
        ("is_folded", 5, BOOL, OPT, None),
    ],
    "Line": [
        ("function_id", 1, UINT64, OPT, None),
        ("line", 2, INT64, OPT, None),
        ("column", 3, INT64, OPT, None),
    ],
    "Function": [
        ("id", 1, UINT64, OPT, None),
        ("name", 2, INT64, OPT, None),
        ("system_name", 3, INT64, OPT, None),
        ("filename", 4, INT64, OPT, None),
        ("start_line", 5, INT64, OPT, None),
    ],
}


def profile_class():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="consumer_profile.proto",
        package="perftools.profiles",
        syntax="proto3",
    )
    for name, fields in SCHEMA.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = ".perftools.profiles." + type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("perftools.profiles.Profile")
    return message_factory.GetMessageClass(desc)


def summarize(data):
    """The summary of a pprof profile, gzipped or not."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    p = profile_class()()
    p.ParseFromString(raw)
    st = list(p.string_table)

    functions = {f.id: f for f in p.function}
    locations = {loc.id: loc for loc in p.location}

    def frame(location_id):
        line = locations[location_id].line[0]
        fn = functions[line.function_id]
        return [st[fn.name], st[fn.filename], line.line]

    labels = {}
    for s in p.sample:
        for lab in s.label:
            values = labels.setdefault(st[lab.key], [])
            v = st[lab.str] if lab.str else lab.num
            if v not in values:
                values.append(v)
    deepest = max(p.sample, key=lambda s: len(s.location_id), default=None)
    summary = {
        "string_table_0": st[0] if st else None,
        "sample_types": [f"{st[t.type]}/{st[t.unit]}" for t in p.sample_type],
        "total_samples": sum(s.value[0] for s in p.sample),
        "total_nanoseconds": sum(s.value[1] for s in p.sample),
        "functions": sorted({st[f.name] for f in p.function}),
        "deepest_stack": [frame(i) for i in deepest.location_id] if deepest else [],
        "labels": {k: sorted(v, key=str) for k, v in labels.items()},
        "time_nanos": p.time_nanos,
        "duration_nanos": p.duration_nanos,
        "period": p.period,
        "period_type": f"{st[p.period_type.type]}/{st[p.period_type.unit]}",
    }
    return summary


def main():
    with open(sys.argv[1], "rb") as f:
        summary = summarize(f.read())
    json.dump(summary, sys.stdout, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
