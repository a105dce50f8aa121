"""Makes cyclic garbage and collects it explicitly, so the collector runs
often (`collect_cycles` → gc.collect())."""
import gc
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


class Node:
    def __init__(self):
        self.other = None


def make_cycles(n):
    keep = []
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a
        keep.append(a)
    return keep


def collect_cycles():
    gc.collect()


def main():
    print(json.dumps({"pid": os.getpid()}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        junk = make_cycles(50000)
        del junk
        collect_cycles()


main()
