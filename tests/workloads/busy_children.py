"""Starts N Python children at once, each spinning in `busy_child` for
SECONDS of wall time, waits for them and prints one JSON line: the
children's pids.

`busy_children.py N SECONDS`; a child is `busy_children.py child SECONDS`.
Each child imports what a small program does (json, subprocess), so that
20 interpreters start, import and run at the same time.
"""
import json
import subprocess
import sys
import time


def busy_child(end):
    x = 0
    while time.monotonic() < end:
        for i in range(1000):
            x += i
    return x


if __name__ == "__main__":
    if sys.argv[1] == "child":
        busy_child(time.monotonic() + float(sys.argv[2]))
        sys.exit(0)
    n, seconds = int(sys.argv[1]), sys.argv[2]
    procs = [subprocess.Popen([sys.executable, __file__, "child", seconds])
             for _ in range(n)]
    rcs = [p.wait() for p in procs]
    print(json.dumps({"children": [p.pid for p in procs], "rcs": rcs}), flush=True)
