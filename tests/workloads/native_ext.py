"""Calls a C library (argv[2], built from native_lib.c with frame pointers)
through ctypes from `call_c`; with --native, outer_c and inner_c show above
call_c."""
import ctypes
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
lib = ctypes.CDLL(sys.argv[2])
lib.outer_c.argtypes = [ctypes.c_uint64]
lib.outer_c.restype = ctypes.c_uint64


def call_c(end):
    while time.monotonic() < end:
        lib.outer_c(2_000_000)


print(json.dumps({"pid": os.getpid()}), flush=True)
call_c(time.monotonic() + seconds)
