"""Threads that are asleep before the profiler attaches (wall mode).

`asleep.py MODE [SECONDS]` prints one JSON line (pid, file, the lines of
its `# LINE` markers, and what each thread is), then blocks:

* `single`: the only thread sleeps in `inner()` ← `outer()` ← `main()`
  for the whole run;
* `threads`: ten named threads block under ten distinct functions (three
  in `time.sleep`, four on a lock the main thread holds, three in
  `Event.wait`); `threads` maps each one's native id to its name and
  function; the main thread sleeps in `main_waits()`;
* `deep`: the only thread sleeps again and again, 50 ms at a time, at one
  place under a 30-deep chain `d0` … `d29` with a C call in the middle
  (`sorted(key=d15)`, where 3.12+ shows `<native>`), so that the kernel
  sees it leave the CPU at the same stack the userspace walker reads.
"""
import json
import os
import sys
import threading
import time

seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
lock = threading.Lock()
event = threading.Event()


def inner():
    time.sleep(seconds)  # LINE inner


def outer():
    inner()  # LINE outer


def sleep_a():
    time.sleep(seconds)  # LINE sleep_a


def sleep_b():
    time.sleep(seconds)  # LINE sleep_b


def sleep_c():
    time.sleep(seconds)  # LINE sleep_c


def lock_a():
    lock.acquire()  # LINE lock_a


def lock_b():
    lock.acquire()  # LINE lock_b


def lock_c():
    lock.acquire()  # LINE lock_c


def lock_d():
    lock.acquire()  # LINE lock_d


def event_a():
    event.wait()  # LINE event_a


def event_b():
    event.wait()  # LINE event_b


def event_c():
    event.wait()  # LINE event_c


def main_waits():
    time.sleep(seconds)  # LINE main_waits


def nap():
    while True:
        time.sleep(0.05)  # LINE nap


def d0(): d1()  # LINE d0
def d1(): d2()  # LINE d1
def d2(): d3()  # LINE d2
def d3(): d4()  # LINE d3
def d4(): d5()  # LINE d4
def d5(): d6()  # LINE d5
def d6(): d7()  # LINE d6
def d7(): d8()  # LINE d7
def d8(): d9()  # LINE d8
def d9(): d10()  # LINE d9
def d10(): d11()  # LINE d10
def d11(): d12()  # LINE d11
def d12(): d13()  # LINE d12
def d13(): d14()  # LINE d13
def d14(): sorted([1], key=d15)  # LINE d14
def d15(_): d16()  # LINE d15
def d16(): d17()  # LINE d16
def d17(): d18()  # LINE d17
def d18(): d19()  # LINE d18
def d19(): d20()  # LINE d19
def d20(): d21()  # LINE d20
def d21(): d22()  # LINE d21
def d22(): d23()  # LINE d22
def d23(): d24()  # LINE d23
def d24(): d25()  # LINE d24
def d25(): d26()  # LINE d25
def d26(): d27()  # LINE d26
def d27(): d28()  # LINE d27
def d28(): d29()  # LINE d28
def d29(): nap()  # LINE d29


def run(fn, started, ready):
    started.append((threading.get_native_id(), threading.current_thread().name, fn.__name__))
    ready.wait()
    fn()  # LINE run


def lines():
    found = {}
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if "# LINE " in text and "found[" not in text:
                found[text.rsplit("# LINE ", 1)[1].strip()] = n
    return found


def report(**extra):
    print(json.dumps(dict(pid=os.getpid(), file=os.path.abspath(__file__),
                          lines=lines(), **extra)), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "single":
        report()
        outer()  # LINE main_single
    elif mode == "threads":
        lock.acquire()
        started = []
        ready = threading.Barrier(11)
        fns = [sleep_a, lock_a, event_a, sleep_b, lock_b, event_b, sleep_c, lock_c, event_c, lock_d]
        for i, fn in enumerate(fns):
            threading.Thread(target=run, args=(fn, started, ready), name="blocked-%d" % i, daemon=True).start()
        ready.wait()
        time.sleep(0.3)  # let every thread reach its wait
        report(threads={str(tid): {"name": name, "function": fn} for tid, name, fn in started})
        main_waits()  # LINE main_threads
    elif mode == "deep":
        report()
        d0()  # LINE main_deep
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()  # LINE module
