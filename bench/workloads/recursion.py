"""Recursion DEPTH deep (default 1000), then a CPU loop in `leaf`.

argv[1] = units of work done in the leaf; argv[2] = depth.
A complete leaf sample has `leaf` plus DEPTH `recurse` frames.
"""
import sys

from _common import run

UNIT = 20000


def leaf(units):
    x = 0
    for i in range(UNIT * units): x += 1
    return x


def recurse(n, units):
    if n <= 1:
        return leaf(units)
    return recurse(n - 1, units)


def work(units, depth):
    recurse(depth, units)


if __name__ == "__main__":
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    sys.setrecursionlimit(depth + 500)
    run({"workload": "recursion", "units": units, "depth": depth,
         "functions": {"leaf": 1.0}, "single_thread_cpu": True,
         "recursive": "recurse"}, work, units, depth)
