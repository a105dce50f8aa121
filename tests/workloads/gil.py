"""Two threads compete for the GIL; a third hashes a big buffer, which
releases the GIL inside hashlib. In gil mode only the first two show."""
import hashlib
import json
import os
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
end = time.monotonic() + seconds
BUF = b"x" * (64 << 20)


def compete():
    x = 0
    while time.monotonic() < end:
        for i in range(1000): x += 1
    return x


def hash_worker():
    while time.monotonic() < end:
        hashlib.sha256(BUF).digest()


threads = [threading.Thread(target=compete, name="a"),
           threading.Thread(target=compete, name="b"),
           threading.Thread(target=hash_worker, name="hasher")]
for t in threads:
    t.start()
print(json.dumps({"pid": os.getpid(), "tids": {t.name: t.native_id for t in threads}}), flush=True)
for t in threads:
    t.join()
