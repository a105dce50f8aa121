"""8 threads mixing CPU and sleep.

Thread i (0..7) runs `rounds` rounds of: `cpu_i` (i+1 units of the same loop),
then `nap` (time.sleep(0.002)).  The CPU work of cpu_i is (i+1)/36 of all the
CPU work, so its share of on-CPU samples in the cpu_* functions is (i+1)/36.
argv[1] = rounds.
"""
import sys
import threading
import time

from _common import run

UNIT = 5000
NTHREADS = 8


def spin(units):
    x = 0
    for i in range(UNIT * units): x += 1
    return x


def nap():
    time.sleep(0.002)


def _mk(i):
    def f():
        return spin(i + 1)
    f.__name__ = f.__qualname__ = "cpu_%d" % i
    f.__code__ = f.__code__.replace(co_name="cpu_%d" % i, co_qualname="cpu_%d" % i) \
        if hasattr(f.__code__, "co_qualname") else f.__code__.replace(co_name="cpu_%d" % i)
    return f


CPU = [_mk(i) for i in range(NTHREADS)]


def worker(i, rounds):
    fn = CPU[i]
    for _ in range(rounds):
        fn()
        nap()


def work(rounds):
    ts = [threading.Thread(target=worker, args=(i, rounds), name="worker-%d" % i)
          for i in range(NTHREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"threads": NTHREADS}


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    total = NTHREADS * (NTHREADS + 1) / 2
    run({"workload": "threads", "units": rounds, "threads": NTHREADS,
         "functions": {"cpu_%d" % i: (i + 1) / total for i in range(NTHREADS)}},
        work, rounds)
