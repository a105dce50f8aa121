"""Python → C → Python: `sorted` (C) calls `slow_key` (Python) for every
element, so slow_key's callers are main → <native> → slow_key."""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


def slow_key(v):
    x = 0
    for i in range(200): x += 1
    return v


def main():
    print(json.dumps({"pid": os.getpid()}), flush=True)
    end = time.monotonic() + seconds
    data = list(range(2000))
    while time.monotonic() < end:
        sorted(data, key=slow_key)


main()
