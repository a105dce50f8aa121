"""Three asyncio tasks whose CPU shares are 60/30/10 by construction.

The tasks `heavy`, `medium` and `light` run the same coroutine, `worker`,
which burns 6, 3 and 1 units of work per slice in the same function, then
yields to the event loop (`await asyncio.sleep(0)`): the loop runs one
slice of each in turn, so their shares of CPU time are 0.6, 0.3 and 0.1,
and only the task tells them apart. `main` (the task `Task-1`, unnamed)
awaits the three with `asyncio.gather`. Prints a JSON line with the truth
and then runs for `seconds` (argv[1], default 10).
"""
import asyncio
import json
import os
import sys
import time

UNIT = 20000


def burn(units):
    x = 0
    for i in range(UNIT * units): x += 1  # HOT burn
    return x


async def worker(units, end):
    while time.monotonic() < end:
        burn(units)
        await asyncio.sleep(0)  # AWAIT worker


async def main(seconds):
    end = time.monotonic() + seconds
    tasks = [
        asyncio.create_task(worker(6, end), name="heavy"),
        asyncio.create_task(worker(3, end), name="medium"),
        asyncio.create_task(worker(1, end), name="light"),
    ]
    lines = {}
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            for tag in ("HOT", "AWAIT", "GATHER"):
                if f"# {tag} " in text and "lines[" not in text:
                    lines[text.rsplit(f"# {tag} ", 1)[1].strip()] = n
    truth = {
        "pid": os.getpid(),
        "file": os.path.abspath(__file__),
        "tasks": {"heavy": 0.6, "medium": 0.3, "light": 0.1},
        "burn_line": lines["burn"],
        "main_line": lines["main"],
        "await_line": lines["worker"],
    }
    print(json.dumps(truth), flush=True)
    await asyncio.gather(*tasks)  # GATHER main


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))
