"""Code-object churn: compiles and runs fresh functions in a loop.

Iteration k compiles a new function `churn_<k>` whose body spins, runs it
and drops it, so code objects (and their names) are freed and their memory
reused by the next iteration. Even k run under `even_runner`, odd k under
`odd_runner`: a sample attributed to the previous iteration's function (the
stale-cache failure) shows up as a parity mismatch between the runner and
the churn function's number.
"""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


def even_runner(fn):
    return fn()


def odd_runner(fn):
    return fn()


def main():
    print(json.dumps({"pid": os.getpid()}), flush=True)
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        src = (
            f"def churn_{k}():\n"
            f"    x = 0\n"
            f"    for i in range(3000): x += i\n"
            f"    return x\n"
        )
        ns = {}
        exec(compile(src, "<churn>", "exec"), ns)
        (odd_runner if k % 2 else even_runner)(ns[f"churn_{k}"])
        del ns
        k += 1
    print(json.dumps({"iterations": k}), flush=True)


main()
