#!/usr/bin/env python3
"""The largest line table and the longest names in an interpreter's own
standard library: what the profiler's caps on what it reads from a process
(python/objects.rs) are measured against.

Compiles every .py file under the interpreter's stdlib directory (without
writing bytecode), walks every code object (nested ones included) and prints
one JSON line: the interpreter version, files and code objects seen, and for
the line table (`co_linetable`, or `co_lnotab` before 3.10), `co_name`,
`co_qualname` (3.11+) and `co_filename` the largest size and where it is.

    python3.X scripts/measure-code-limits.py
"""

import json
import os
import sys
import sysconfig
import warnings


def codes(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            yield from codes(c)


def main():
    stdlib = sysconfig.get_paths()["stdlib"]
    table_attr = "co_linetable" if sys.version_info >= (3, 10) else "co_lnotab"
    best = {}
    files = objects = 0

    def note(what, size, where):
        if size > best.get(what, (-1, ""))[0]:
            best[what] = (size, where)

    warnings.simplefilter("ignore")
    for dirpath, _, names in os.walk(stdlib):
        if "site-packages" in dirpath:
            continue
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    top = compile(f.read(), path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, OSError, UnicodeDecodeError):
                continue
            files += 1
            for c in codes(top):
                objects += 1
                where = f"{path}:{c.co_firstlineno} {c.co_name}"
                note("line_table_bytes", len(getattr(c, table_attr)), where)
                note("name_chars", len(c.co_name), where)
                note("qualname_chars", len(getattr(c, "co_qualname", c.co_name)), where)
                note("filename_chars", len(c.co_filename), where)
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "files": files,
                "code_objects": objects,
                "largest": {k: {"size": v[0], "where": v[1]} for k, v in best.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
