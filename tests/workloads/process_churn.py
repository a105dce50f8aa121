"""A parent that starts about 10 short Python children a second.

Each child compiles fresh functions (new code objects, new names) and runs
them for about 50 ms, then exits: its code objects, and the process, are
gone within milliseconds of being sampled. Each fresh function spends its
time in the `__init__` of a fresh class it calls in a loop (on 3.13+ the
interpreter runs such calls through its `__init__` shim frame).

Parent: `process_churn.py SECONDS [RATE]` starts RATE children a second
(default 10) for SECONDS (default 4), waits for them and prints one JSON
line: its pid and how many children ran. Child: `process_churn.py child K`.
"""
import json
import os
import subprocess
import sys
import time

CHILD_MS = 50


def child(k):
    end = time.monotonic() + CHILD_MS / 1000
    i = 0
    while time.monotonic() < end:
        src = (
            f"class Acc_{k}_{i}:\n"
            f"    def __init__(self, n):\n"
            f"        self.total = 0\n"
            f"        for j in range(n):\n"
            f"            self.total += j * {i + 1}\n"
            f"\n"
            f"def fresh_{k}_{i}(n):\n"
            f"    total = 0\n"
            f"    for j in range(n):\n"
            f"        total += Acc_{k}_{i}(100).total\n"
            f"    return total\n"
        )
        ns = {}
        exec(compile(src, f"<churn {k}>", "exec"), ns)
        ns[f"fresh_{k}_{i}"](200)
        i += 1


def parent(seconds, rate):
    started = 0
    children = []
    begin = time.monotonic()
    while time.monotonic() < begin + seconds:
        children.append(
            subprocess.Popen([sys.executable, "-B", __file__, "child", str(started)])
        )
        started += 1
        children = [c for c in children if c.poll() is None]
        # On a schedule: a slow start does not slow the next ones down.
        time.sleep(max(0.0, begin + started / rate - time.monotonic()))
    for c in children:
        c.wait()
    print(json.dumps({"pid": os.getpid(), "children": started}), flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "child":
    child(int(sys.argv[2]))
else:
    parent(
        float(sys.argv[1]) if len(sys.argv) > 1 else 4.0,
        float(sys.argv[2]) if len(sys.argv) > 2 else 10.0,
    )
