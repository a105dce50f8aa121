"""Protocol shared by the benchmark workloads (imported from the script's dir).

1. The workload prints one JSON line: its truth ("pid", "functions": {name:
   share of CPU work}, plus workload-specific facts).
2. It blocks until a line arrives on stdin ("go"), so a profiler can attach
   first.  Waiting happens in `wait_for_go`, outside the timed work.
3. It does a fixed amount of work (no fixed duration) under a function named
   `work`, then prints one JSON line: "wall" (s), "cpu" (s, process CPU time)
   and extras, and exits.
"""
import json
import os
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def wait_for_go():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)


def run(truth, work, *args):
    truth = dict(truth)
    truth.setdefault("pid", os.getpid())
    truth.setdefault("python", sys.version.split()[0])
    truth.setdefault("root", "work")
    emit(truth)
    wait_for_go()
    c0 = time.process_time()
    t0 = time.perf_counter()
    extra = work(*args) or {}
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    out = {"wall": wall, "cpu": cpu}
    out.update(extra)
    emit(out)
