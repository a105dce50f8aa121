"""Three threads whose stacks are known, for `tachyon-bpf dump`.

* the main thread spins in `busy()` (holds the GIL most of the time);
* "sleeper-thread-in-nap" waits on an Event in `nap()` (Python code in
  threading.py);
* "reader-thread-in-os-read" blocks in a C call, `os.read` on a pipe
  nobody writes, in `in_c_call()`.

Prints a JSON line {"pid": ..., "file": ..., "lines": {function: line},
"names": {function: [thread name, native id]}}, then runs for `seconds`
(argv[1], default 30).
"""
import json
import os
import sys
import threading
import time


def nap(event):
    event.wait()  # LINE nap


def in_c_call(fd):
    os.read(fd, 1)  # LINE in_c_call


def busy(end):
    x = 0
    while time.monotonic() < end:
        x += 1  # LINE busy
    return x


def lines():
    found = {}
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if "# LINE " in text and "found[" not in text:
                found[text.rsplit("# LINE ", 1)[1].strip()] = n
    return found


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    event = threading.Event()
    r, _w = os.pipe()
    sleeper = threading.Thread(target=nap, args=(event,), name="sleeper-thread-in-nap",
                               daemon=True)
    reader = threading.Thread(target=in_c_call, args=(r,), name="reader-thread-in-os-read",
                              daemon=True)
    sleeper.start()
    reader.start()
    time.sleep(0.2)
    main_thread = threading.current_thread()
    names = {"busy": [main_thread.name, main_thread.native_id],
             "nap": [sleeper.name, sleeper.native_id],
             "in_c_call": [reader.name, reader.native_id]}
    print(json.dumps({"pid": os.getpid(), "file": os.path.abspath(__file__),
                      "lines": lines(), "names": names}), flush=True)
    busy(time.monotonic() + seconds)


if __name__ == "__main__":
    main()
