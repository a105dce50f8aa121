"""60/30/10 CPU split: identical one-line loops of 6, 3 and 1 units.

argv[1] = rounds (each round calls sixty, thirty, ten once).
"""
import sys

from _common import run

UNIT = 20000


def sixty():
    x = 0
    for i in range(UNIT * 6): x += 1
    return x


def thirty():
    x = 0
    for i in range(UNIT * 3): x += 1
    return x


def ten():
    x = 0
    for i in range(UNIT * 1): x += 1
    return x


def work(rounds):
    for _ in range(rounds):
        sixty()
        thirty()
        ten()


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    run({"workload": "cpu_split", "units": rounds,
         "functions": {"sixty": 0.6, "thirty": 0.3, "ten": 0.1},
         "single_thread_cpu": True}, work, rounds)
