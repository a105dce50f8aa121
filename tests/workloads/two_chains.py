"""Two different call chains of the same depth, alternating every few ms.

Chain A is a0 → a1 → … → a{depth-1} → spin, chain B is b0 → … → b{depth-1}
→ spin: every function is its own code object, so a walker that mixed a
stale frame of one chain into a sample of the other would show a stack
that never existed. argv: seconds (default 10), depth (default 500),
milliseconds per turn (default 3).
"""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 500
turn = (float(sys.argv[3]) if len(sys.argv) > 3 else 3.0) / 1000.0
sys.setrecursionlimit(depth + 200)


def spin(end):
    x = 0
    while time.monotonic() < end:
        for i in range(200): x += i  # HOT spin
    return x


def make_chain(letter):
    """Defines letter0 … letter{depth-1}, each calling the next, the last
    calling spin; returns the first."""
    src = []
    for i in range(depth):
        callee = "%s%d" % (letter, i + 1) if i + 1 < depth else "spin"
        src.append("def %s%d(end):\n    return %s(end)\n" % (letter, i, callee))
    ns = {"spin": spin}
    exec(compile("".join(src), __file__, "exec"), ns)
    return ns[letter + "0"]


def main():
    a0, b0 = make_chain("a"), make_chain("b")
    print(json.dumps({"pid": os.getpid(), "depth": depth}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        a0(time.monotonic() + turn)
        b0(time.monotonic() + turn)


main()
