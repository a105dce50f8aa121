"""One thread spinning, one thread sleeping 75% of its time.

The sleeper alternates `busy()` for 25 ms with `time.sleep(0.075)` in
`nap()`, so in wall mode nap carries ~75% of the sleeper thread's time; in
cpu mode nap is (almost) absent. GIL hand-offs and CPU contention stretch
the busy phase a little, so the sleeper measures its real share of time in
nap and prints it on SIGUSR1: `{"nap_share": ...}`.
"""
import json
import os
import signal
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
end = time.monotonic() + seconds


def spin():
    x = 0
    while time.monotonic() < end:
        for i in range(1000): x += 1  # HOT spin
    return x


def busy(until):
    x = 0
    while time.perf_counter() < until:  # HOT busy
        x += 1
    return x


def nap():
    time.sleep(0.075)  # HOT nap


nap_time = 0.0
loop_start = time.perf_counter()


def sleeper():
    global nap_time, loop_start
    loop_start = time.perf_counter()
    while time.monotonic() < end:
        busy(time.perf_counter() + 0.025)
        t = time.perf_counter()
        nap()
        nap_time += time.perf_counter() - t


def lines():
    out = {}
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if "# HOT " in text and "out[" not in text:
                out[text.rsplit("# HOT ", 1)[1].strip()] = n
    return out


threads = [threading.Thread(target=spin, name="spinner"),
           threading.Thread(target=sleeper, name="sleeper")]


def report(*_):
    share = nap_time / (time.perf_counter() - loop_start)
    print(json.dumps({"nap_share": share}), flush=True)


signal.signal(signal.SIGUSR1, report)
for t in threads:
    t.start()
print(json.dumps({"pid": os.getpid(), "lines": lines(),
                  "tids": {t.name: t.native_id for t in threads}}), flush=True)
for t in threads:
    t.join()
