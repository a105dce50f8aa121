"""A loop whose hot instruction is known: `total = total + i` on a big int.

The add of a 20,000-digit integer costs far more than the loads, the store
and the loop around it, so the add instruction (BINARY_ADD up to 3.10,
BINARY_OP after, specialised or not) carries nearly all of the line's
samples. Prints one JSON line first: the file, the hot line, and, from the
interpreter's own `dis`, every instruction of `hot` with its position
(`co_positions()` on 3.11+: line, end line, first and end column), then
runs for `seconds` (argv[1], default 10).
"""
import dis
import json
import sys
import time


def hot(n):
    total = 10 ** 20000
    for i in range(n):
        total = total + i  # HOT
    return total


def main(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        hot(2000)


def instructions():
    out = []
    line = None
    for ins in dis.get_instructions(hot):
        pos = getattr(ins, "positions", None)
        if pos is None and ins.starts_line is not None:
            # Before 3.11 only the first instruction of a line names it.
            line = ins.starts_line
        out.append({
            "opname": ins.opname,
            "offset": ins.offset,
            "line": pos.lineno if pos else line,
            "end_line": pos.end_lineno if pos else None,
            "col": pos.col_offset if pos else None,
            "end_col": pos.end_col_offset if pos else None,
        })
    return out


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    with open(__file__) as f:
        src = f.read().splitlines()
    line = next(i + 1 for i, l in enumerate(src) if l.endswith("# HOT"))
    print(json.dumps({"file": __file__, "line": line, "instructions": instructions()}), flush=True)
    main(seconds)
