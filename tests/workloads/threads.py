"""N threads (argv[2], default 8), each spinning in its own function.

Thread i runs `worker_i` (generated so each has its own name) which calls
`spin`. Prints JSON with the truth: the thread names and their functions.
"""
import json
import os
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
count = int(sys.argv[2]) if len(sys.argv) > 2 else 8
end = time.monotonic() + seconds


def spin():
    x = 0
    while time.monotonic() < end:
        for i in range(2000): x += i  # HOT spin
    return x


workers = {}
for n in range(count):
    src = f"def worker_{n}():\n    return spin()\n"
    exec(compile(src, __file__, "exec"), globals())
    workers[n] = globals()[f"worker_{n}"]

threads = [
    threading.Thread(target=workers[n], name=f"worker-{n}") for n in range(count)
]
for t in threads:
    t.start()
print(json.dumps({
    "pid": os.getpid(),
    "threads": [{"name": t.name, "tid": t.native_id, "function": f"worker_{n}"}
                for n, t in enumerate(threads)],
}), flush=True)
for t in threads:
    t.join()
