"""Recursion `depth` deep (argv[2], default 1000), spinning at the bottom.

Every frame is `recurse`, so a complete stack has exactly `depth` recurse
frames under `main` and `<module>`.
"""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
sys.setrecursionlimit(depth + 100)


def leaf(end):
    x = 0
    while time.monotonic() < end:
        for i in range(1000): x += i  # HOT leaf
    return x


def recurse(n, end):
    if n == 1:
        return leaf(end)
    return recurse(n - 1, end)


def main():
    print(json.dumps({"pid": os.getpid(), "depth": depth}), flush=True)
    recurse(depth, time.monotonic() + seconds)


main()
