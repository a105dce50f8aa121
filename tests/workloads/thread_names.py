"""MainThread and 10 threads with `threading` names longer than the
kernel's 15-byte comm: some sleep, some are busy, one waits on an Event
for the whole run, one exits early; two names are not ASCII (one byte and
two bytes per character). Runs argv[1] seconds (default 3); the early
thread (started first) exits argv[2] seconds after it started (default 1).

Prints, at the end, JSON with the truth: the pid and each thread's name and
native id (the kernel's tid), the early one named too.
"""
import json
import os
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
early_after = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
start = time.monotonic()
end = start + seconds
stop = threading.Event()


def sleeper():
    while time.monotonic() < end:
        time.sleep(0.01)


def busy():
    x = 0
    while time.monotonic() < end:
        for i in range(2000):
            x += i
    return x


def waiter():
    stop.wait()


def early():
    x = 0
    until = time.monotonic() + early_after
    while time.monotonic() < until:
        for i in range(500):
            x += i
        time.sleep(0.002)
    return x


plan = [
    ("early-exiting-thread-name", early),
    ("sleeper-thread-with-a-long-name-0", sleeper),
    ("sleeper-thread-with-a-long-name-1", sleeper),
    ("sleeper-thread-with-a-long-name-2", sleeper),
    ("busy-worker-thread-long-name-0", busy),
    ("busy-worker-thread-long-name-1", busy),
    ("busy-worker-thread-long-name-2", busy),
    ("Thread-77 (waiter on an Event)", waiter),
    ("ünïcödé-busy-thread-name-é", busy),
    ("名前付きスレッド-sleeper-long", sleeper),
]
threads = [threading.Thread(target=f, name=n) for n, f in plan]
for t in threads:
    t.start()
threads[0].join()
while time.monotonic() < end:
    time.sleep(0.01)
stop.set()
for t in threads:
    t.join()
print(json.dumps({
    "pid": os.getpid(),
    "main": {"name": threading.current_thread().name, "tid": threading.get_native_id()},
    "threads": [{"name": t.name, "tid": t.native_id} for t in threads],
    "early": threads[0].name,
}, ensure_ascii=False), flush=True)
