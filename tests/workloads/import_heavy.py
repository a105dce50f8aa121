"""Imports about 300 standard-library modules, one after the other, then exits.

Module bodies run once and their code objects are freed right after the
import: a profiler that reads code objects after the fact finds them gone.
Argument: how many modules to import (default 300). Prints one JSON line at
the end: its pid and how many modules were imported. Run it with `-B` so
that no bytecode cache is written into the interpreter's library.
"""
import json
import os
import sys
import warnings

wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 300

# Modules with effects beyond being imported (a browser, printing, files
# written into the library, windows) or that only exist on other systems.
SKIP = {
    "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo",
    "lib2to3", "ensurepip", "test", "__main__", "__phello__", "__hello__",
    "msilib", "winreg", "winsound", "nturl2path", "_winapi", "msvcrt",
    "site", "sitecustomize", "usercustomize", "pydoc_data", "xxlimited",
    "xxsubtype", "_testcapi", "_testinternalcapi", "_testbuffer",
    "_testimportmultiple", "_testmultiphase", "_testsinglephase",
    "_xxtestfuzz", "_ctypes_test", "_testclinic", "_testlimitedcapi",
    "_testexternalinspection", "_pyrepl", "_android_support", "_ios_support",
    "_apple_support", "venv", "_aix_support", "_osx_support", "_pydecimal",
    "_pylong", "_pyio", "_bootsubprocess", "_pydatetime",
}


def package(path, name, names, depth):
    """`name` (a package at `path`) and its modules, subpackages first-level deep."""
    names.append(name)
    for sub in sorted(os.listdir(path)):
        if sub.endswith(".py") and sub not in ("__init__.py", "__main__.py"):
            names.append(name + "." + sub[:-3])
        elif depth and os.path.isfile(os.path.join(path, sub, "__init__.py")):
            package(os.path.join(path, sub), name + "." + sub, names, depth - 1)


def candidates():
    """Stdlib module names (sources, then extension modules), each
    package's own modules after it."""
    lib = os.path.dirname(os.__file__)
    names = []
    for entry in sorted(os.listdir(lib)):
        path = os.path.join(lib, entry)
        if entry.endswith(".py"):
            names.append(entry[:-3])
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            package(path, entry, names, 1)
    dynload = os.path.join(lib, "lib-dynload")
    if os.path.isdir(dynload):
        names.extend(sorted(f.split(".")[0] for f in os.listdir(dynload) if f.endswith(".so")))
    return [
        n for n in names
        if n.split(".")[0] not in SKIP and "test" not in n and n.isascii()
        and all(part.isidentifier() for part in n.split("."))
    ]


def main():
    warnings.simplefilter("ignore")
    imported = 0
    for name in candidates():
        if imported >= wanted:
            break
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except BaseException:  # noqa: B902 - anything a module raises
            continue
        imported += 1
    print(json.dumps({"pid": os.getpid(), "imported": imported}), flush=True)


main()
