"""An asyncio app: three coroutines doing 6/3/1 units per step, 60/30/10.

Each coroutine runs the same one-line loop inline for its units, then
`await asyncio.sleep(0)` so the event loop interleaves them. argv[1] = steps.
"""
import asyncio
import sys

from _common import run

UNIT = 20000


async def sixty_task(steps):
    for _ in range(steps):
        x = 0
        for i in range(UNIT * 6): x += 1
        await asyncio.sleep(0)


async def thirty_task(steps):
    for _ in range(steps):
        x = 0
        for i in range(UNIT * 3): x += 1
        await asyncio.sleep(0)


async def ten_task(steps):
    for _ in range(steps):
        x = 0
        for i in range(UNIT * 1): x += 1
        await asyncio.sleep(0)


async def app(steps):
    await asyncio.gather(sixty_task(steps), thirty_task(steps), ten_task(steps))


def work(steps):
    asyncio.run(app(steps))


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    run({"workload": "asyncio", "units": steps,
         "functions": {"sixty_task": 0.6, "thirty_task": 0.3, "ten_task": 0.1},
         "single_thread_cpu": True}, work, steps)
