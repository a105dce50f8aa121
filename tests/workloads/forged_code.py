"""A hostile process (CPython 3.12/3.13): it shows the profiler ever new
forged code pointers. One thread hashes in C (the GIL released, on CPU)
under its Python frame `victim`; the main thread keeps rewriting that frame's code
pointer (`_PyInterpreterFrame.f_code`/`f_executable`, the first field) to a
fresh copy of `victim`'s code object inside one 1 MiB bytes object, each
copy's line table pointing at a 1 MiB bytes object. Every sample is a code
object the profiler has never seen, with the largest line table it reads.
The copies are byte for byte the real object but for the line table, so
`victim` itself runs on unharmed between two hashes.

Prints {"pid": …} when forging has begun; forges for SECONDS, then puts the
real code pointer back and exits.

Usage: forged_code.py SECONDS
"""

import ctypes
import hashlib
import json
import os
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
if sys.version_info[:2] not in ((3, 12), (3, 13)):
    sys.exit("forged_code.py: needs CPython 3.12 or 3.13 (frame layout)")

LINE_TABLE = b"\x80" * (1 << 20)  # 1 MiB, the profiler's cap
SLAB = bytearray(1 << 20)  # where the forged code objects live


def victim():
    data = b"x" * (64 << 20)
    while True:
        hashlib.sha256(data)  # C, GIL released, under this Python frame


code = victim.__code__
size = code.__sizeof__()
real = ctypes.string_at(id(code), size)
# Point the copy's line table at the big one: find the field by its value.
table_ptr = id(code.co_linetable).to_bytes(8, "little")
at = real.find(table_ptr)
if at < 0 or at % 8:
    sys.exit("forged_code.py: co_linetable not found in the code object")
forged = bytearray(real)
forged[at : at + 8] = id(LINE_TABLE).to_bytes(8, "little")
slab_base = ctypes.addressof((ctypes.c_char * len(SLAB)).from_buffer(SLAB))
stride = (size + 63) // 64 * 64
copies = len(SLAB) // stride
for i in range(copies):
    SLAB[i * stride : i * stride + size] = forged

ready = threading.Event()
target = {}


def run():
    target["ident"] = threading.get_ident()
    ready.set()
    victim()


threading.Thread(target=run, daemon=True).start()
ready.wait()
time.sleep(0.2)
frame = sys._current_frames()[target["ident"]]
while frame is not None and frame.f_code is not code:
    frame = frame.f_back
if frame is None:
    sys.exit("forged_code.py: victim's frame not found")
# PyFrameObject: ob_refcnt, ob_type, f_back, then f_frame (the
# _PyInterpreterFrame), whose first field is the code pointer.
iframe = ctypes.c_void_p.from_address(id(frame) + 24).value
slot = ctypes.c_void_p.from_address(iframe)
if slot.value != id(code):
    sys.exit("forged_code.py: unexpected frame layout")
print(json.dumps({"pid": os.getpid(), "copies": copies}), flush=True)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    slot.value = slab_base + (i % copies) * stride
    i += 1
    time.sleep(0.0002)
slot.value = id(code)
os._exit(0)
