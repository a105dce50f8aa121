"""Three functions whose CPU shares are 60/30/10 by construction.

Each function runs the same one-line loop, for 6, 3 and 1 units of work, so
their shares of CPU time are 0.6, 0.3 and 0.1 on any interpreter. Prints a
JSON line with the truth (function, hot line, share) and then runs for
`seconds` (argv[1], default 10), then exits with status argv[2] (default
0). Before anything else, `warm_up` spins for 20 ms: only a profiler that
sees the program's start sees it.
"""
import json
import os
import sys
import time

UNIT = 20000


def sixty():
    x = 0
    for i in range(UNIT * 6): x += 1  # HOT sixty
    return x


def thirty():
    x = 0
    for i in range(UNIT * 3): x += 1  # HOT thirty
    return x


def ten():
    x = 0
    for i in range(UNIT * 1): x += 1  # HOT ten
    return x


def hot_lines():
    lines = {}
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if "# HOT " in text and "lines[" not in text:
                lines[text.rsplit("# HOT ", 1)[1].strip()] = n
    return lines


def warm_up():
    end = time.perf_counter() + 0.02
    while time.perf_counter() < end:
        pass


def main():
    warm_up()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    lines = hot_lines()
    truth = {
        "pid": os.getpid(),
        "file": os.path.abspath(__file__),
        "startup": "warm_up",
        "functions": {
            "sixty": {"line": lines["sixty"], "share": 0.6},
            "thirty": {"line": lines["thirty"], "share": 0.3},
            "ten": {"line": lines["ten"], "share": 0.1},
        },
    }
    print(json.dumps(truth), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sixty()
        thirty()
        ten()
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)


if __name__ == "__main__":
    main()
