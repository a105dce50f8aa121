"""20 Python processes at once.

After "go" the parent starts 20 children (this script with --child) at the
same time; each runs `child_work` (`units` units of the one-line loop) and
exits; the parent waits for all.  The result lists the children's pids: a
profiler covers a child when some sample of that pid has `child_work`.
argv[1] = units per child, argv[2] = number of children (default 20).
"""
import subprocess
import sys

from _common import run

UNIT = 20000


def child_work(units):
    x = 0
    for i in range(UNIT * units): x += 1
    return x


def work(units, n):
    procs = [subprocess.Popen([sys.executable, __file__, "--child", str(units)])
             for _ in range(n)]
    rcs = [p.wait() for p in procs]
    return {"children": [p.pid for p in procs], "child_rcs": rcs}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_work(int(sys.argv[2]))
        sys.exit(0)
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    run({"workload": "many_procs", "units": units, "children": n,
         "functions": {"child_work": 1.0}}, work, units, n)
