"""A process that maps an 8 GiB sparse file named libpython3.12.so.

The file is all holes; a profiler that trusted it would read gigabytes of
zeros. Prints its pid, then runs for `seconds` (argv[1], default 10).
"""
import mmap
import os
import sys
import tempfile
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
d = tempfile.mkdtemp(prefix="tachyon-lib-")
path = os.path.join(d, "libpython3.12.so.1.0")
with open(path, "wb") as f:
    f.truncate(8 << 30)
fd = os.open(path, os.O_RDONLY)
# Mapped executable, as a library is: a data mapping could not hold an
# interpreter, and is not looked at.
m = mmap.mmap(fd, 8 << 30, prot=mmap.PROT_READ | mmap.PROT_EXEC)
print(os.getpid(), flush=True)
end = time.monotonic() + seconds
x = 0
try:
    while time.monotonic() < end:
        x += 1
finally:
    m.close()
    os.close(fd)
    os.remove(path)
    os.rmdir(d)
