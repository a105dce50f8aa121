"""Spins in `busy_<tag>` for `seconds` (argv[1]) and exits; tag is argv[2]."""
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
tag = sys.argv[2] if len(sys.argv) > 2 else "x"
src = (
    f"def busy_{tag}(end):\n"
    f"    x = 0\n"
    f"    while time.monotonic() < end:\n"
    f"        for i in range(1000): x += i\n"
    f"    return x\n"
)
exec(compile(src, __file__, "exec"), globals())
print(os.getpid(), flush=True)
globals()[f"busy_{tag}"](time.monotonic() + seconds)
