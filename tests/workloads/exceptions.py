"""Half the time inside an `except` block (handler), half outside (plain).
In exception mode only `handler`'s frames show."""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


def spin(n):
    x = 0
    for i in range(n): x += 1
    return x


def handler():
    try:
        raise ValueError("boom")
    except ValueError:
        spin(20000)  # inside except


def plain():
    spin(20000)


def main():
    print(json.dumps({"pid": os.getpid()}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        handler()
        plain()


main()
