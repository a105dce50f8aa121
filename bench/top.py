#!/usr/bin/env python3
"""What the live view costs at 10 kHz on 50 processes (issue #12: "it must
stay usable at 10 kHz on 50 processes").

Starts N busy Python processes (tests/workloads/cpu_split.py), then, for each
of --reps interleaved repetitions, profiles all of them for --seconds twice:
once with `tachyon-bpf top` in a detached tmux pane (the screen drawn for
real), once as a plain run writing a collapsed file. Reports, per variant,
tachyon-bpf's CPU time per second of run (user + system, from rusage), the
samples per second it took in and lost, and for `top` its own line
`live view: N refreshes, X ms each on average (at most Y ms)`.

Root, tmux (scripts/install-tmux.sh) and a built binary are needed:

    sudo python3 bench/top.py [--procs 50] [--rate 10k] [--seconds 10] [--reps 3]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TACHYON_BIN", os.path.join(ROOT, "target/release/tachyon-bpf"))
WORKLOAD = os.path.join(ROOT, "tests/workloads/cpu_split.py")
# Runs the profiler and writes its rusage (user + system seconds) to argv[1].
TIMED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{code} {u.ru_utime + u.ru_stime}')\n"
)


def start_workers(python, n):
    procs = []
    for _ in range(n):
        p = subprocess.Popen([python, WORKLOAD, "3600"], stdout=subprocess.PIPE, text=True)
        procs.append(p)
    pids = [json.loads(p.stdout.readline())["pid"] for p in procs]
    return procs, pids


def summary(stderr):
    out = {}
    for key in ("samples", "samples lost"):
        m = re.search(rf"^  {key}:\s+(\d+)", stderr, re.M)
        out[key] = int(m.group(1)) if m else None
    m = re.search(r"live view: (\d+) refresh\w*, ([\d.]+) ms each on average \(at most ([\d.]+) ms\)", stderr)
    if m:
        out["refreshes"] = int(m.group(1))
        out["refresh_ms"] = float(m.group(2))
        out["refresh_max_ms"] = float(m.group(3))
    return out


def run_once(live, pids, rate, seconds, tmp):
    err = os.path.join(tmp, "err")
    usage = os.path.join(tmp, "usage")
    for f in (err, usage):
        if os.path.exists(f):
            os.remove(f)
    targets = [a for pid in pids for a in ("--pid", str(pid))]
    if live:
        cmd = [BIN, "top", *targets, "--mode", "cpu", "--rate", rate, "--duration", str(seconds)]
        line = " ".join(f"'{a}'" for a in [sys.executable, "-c", TIMED, usage, *cmd])
        sock = f"tachyon-bench-{os.getpid()}"
        subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "top",
                        "-x", "160", "-y", "50", f"{line} 2>'{err}'"], check=True)
        screen = ""
        deadline = time.monotonic() + seconds + 60
        while not os.path.exists(usage) and time.monotonic() < deadline:
            time.sleep(0.5)
            if not screen:
                cap = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "top"],
                                     capture_output=True, text=True).stdout
                if "sixty" in cap:
                    screen = cap
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        if not screen:
            raise SystemExit(f"top never showed the workload:\n{open(err).read()}")
    else:
        out = os.path.join(tmp, "p.collapsed")
        cmd = [BIN, *targets, "--mode", "cpu", "--rate", rate, "--duration", str(seconds), "-o", out]
        with open(err, "w") as e:
            subprocess.run([sys.executable, "-c", TIMED, usage, *cmd], stderr=e, check=False)
    code, cpu = open(usage).read().split()
    text = open(err).read()
    if code != "0":
        raise SystemExit(f"tachyon-bpf exited {code}:\n{text}")
    s = summary(text)
    s["cpu_per_s"] = float(cpu) / seconds
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=50)
    ap.add_argument("--rate", default="10k")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--python", default="/usr/bin/python3.11")
    a = ap.parse_args()
    procs, pids = start_workers(a.python, a.procs)
    runs = {"top": [], "plain": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(a.reps):
                order = ["top", "plain"] if rep % 2 == 0 else ["plain", "top"]
                for kind in order:
                    r = run_once(kind == "top", pids, a.rate, a.seconds, tmp)
                    runs[kind].append(r)
                    print(f"rep {rep + 1} {kind}: {r}", file=sys.stderr)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    med = lambda kind, k: statistics.median(r[k] for r in runs[kind])
    rng = lambda kind, k: f"{min(r[k] for r in runs[kind]):.3g}–{max(r[k] for r in runs[kind]):.3g}"
    print(f"{a.procs} processes at {a.rate} Hz, {a.seconds:g} s, {a.reps} reps (median, min–max):")
    print("| variant | profiler CPU (s per s) | samples/s | lost | refresh (ms, mean) | refresh (ms, max) |")
    print("|---|---|---|---|---|---|")
    for kind in ("top", "plain"):
        refresh = (f"{med(kind, 'refresh_ms'):.2f} ({rng(kind, 'refresh_ms')}) | {med(kind, 'refresh_max_ms'):.2f}"
                   if kind == "top" else "– | –")
        print(f"| {kind} | {med(kind, 'cpu_per_s'):.3f} ({rng(kind, 'cpu_per_s')}) | "
              f"{med(kind, 'samples') / a.seconds:.0f} | {med(kind, 'samples lost'):.0f} | {refresh} |")


if __name__ == "__main__":
    main()
