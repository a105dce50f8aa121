"""Writes to /dev/null in a tight loop from `write_loop`: time in the write
syscall, visible with --kernel under write_loop."""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


def write_loop(fd, end):
    data = b"y" * 65536
    while time.monotonic() < end:
        os.write(fd, data)


def main():
    print(json.dumps({"pid": os.getpid()}), flush=True)
    fd = os.open("/dev/null", os.O_WRONLY)
    write_loop(fd, time.monotonic() + seconds)


main()
