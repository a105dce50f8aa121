"""A Python process with threads that are not Python threads.

Every 50 ms the main thread starts a native thread (pthread_create with
libc's usleep as its start routine, through ctypes): such a thread has no
PyThreadState, so the sampler must say so. Prints its pid, then runs for
`seconds` (argv[1], default 10).
"""
import ctypes
import os
import sys
import time

libc = ctypes.CDLL(None)
libc.pthread_create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_void_p]
libc.pthread_detach.argtypes = [ctypes.c_ulong]
usleep = ctypes.cast(libc.usleep, ctypes.c_void_p)


def busy(n):
    x = 0
    for i in range(n):
        x += 1
    return x


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    print(os.getpid(), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = ctypes.c_ulong()
        # The native thread sleeps 20 ms in usleep, then exits.
        if libc.pthread_create(ctypes.byref(t), None, usleep, ctypes.c_void_p(20000)) == 0:
            libc.pthread_detach(t)
        busy(200000)
        time.sleep(0.05)


main()
