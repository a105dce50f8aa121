"""Two threads ping-ponging a byte through a pair of pipes at a calibrated rate.

Each exchange: `ping` does K units... of the one-line loop and writes a byte;
`pong` wakes (a context switch), does 3*K iterations, writes back; `ping`
wakes (another switch).  K (argv[2]) is chosen by `--calibrate` so that the
process makes about 10,000 voluntary context switches per second; argv[1] is
the number of exchanges (fixed work).  CPU shares: ping_work 0.25,
pong_work 0.75.  The result reports the measured switches per second
(voluntary_ctxt_switches of all threads, from /proc).
"""
import os
import sys
import threading
import time

from _common import run, emit


def ping_work(k):
    x = 0
    for i in range(k): x += 1
    return x


def pong_work(k):
    x = 0
    for i in range(3 * k): x += 1
    return x


def switches():
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/status" % tid) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def exchange(n, k):
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    counts = {}

    def pong():
        for _ in range(n):
            os.read(a_r, 1)
            pong_work(k)
            os.write(b_w, b"x")
        counts["pong"] = switches()

    t = threading.Thread(target=pong, name="pong")
    s0 = switches()
    t0 = time.perf_counter()
    t.start()
    for _ in range(n):
        ping_work(k)
        os.write(a_w, b"x")
        os.read(b_r, 1)
    t.join()
    dt = time.perf_counter() - t0
    s1 = max(switches(), counts.get("pong", 0))
    for fd in (a_r, a_w, b_r, b_w):
        os.close(fd)
    return dt, s1 - s0


def work(n, k):
    dt, sw = exchange(n, k)
    return {"switches": sw, "switches_per_s": sw / dt if dt > 0 else 0}


def calibrate(target=10000.0):
    # Per exchange ~2 switches; find k so that exchanges/s ~= target/2.
    k = 200
    for _ in range(6):
        dt, sw = exchange(2000, k)
        rate = sw / dt
        k = max(1, int(k * rate / target))
    return k


if __name__ == "__main__":
    if sys.argv[1:2] == ["--calibrate"]:
        emit({"k": calibrate()})
        sys.exit(0)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    run({"workload": "ctxswitch", "units": n, "k": k,
         "functions": {"ping_work": 0.25, "pong_work": 0.75}}, work, n, k)
