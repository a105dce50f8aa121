#!/usr/bin/env python3
"""Soak benchmark: does tachyon-bpf's memory stay flat over a long run?

Runs `tachyon-bpf --all-python --rate 100` for --minutes (default 30) while
a churn driver starts --procs-per-second (default 20) short Python processes
per second, each of which compiles fresh code objects (new addresses, new
line tables; names and files from a bounded pool, so the profile itself has
a bounded number of distinct frames) and runs them for a few milliseconds.
The profiler's RSS is sampled every --interval seconds (default 10).

Prints the curve and the verdict against the targets (RSS at the end within
10% of RSS at 5 minutes, and under 100 MiB), and writes
bench/results/soak-<stamp>.{md,json}. Root, stdlib only:

    sudo python3 bench/soak.py [--minutes 30] [--procs-per-second 20] [--agent]

With --agent the profiler is `tachyon-bpf agent` (15 s windows into a
scratch directory, the newest 4 kept) instead of one run that keeps
everything until the end.
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# One short-lived process: fresh code objects every time (compiled from
# text at run time: new addresses, new line tables), from one of 50 sources
# generated from a seed, so the set of distinct functions (name, file, line)
# stays bounded, as it is on a real host, while code objects never repeat.
CHILD = r"""
import random, sys
variant = int(sys.argv[1]) % 50
rng = random.Random(variant)
src = []
for i in range(rng.randint(20, 40)):
    body = "\n".join("        x += %d" % rng.randrange(10) for _ in range(rng.randint(1, 8)))
    src.append("def churn_fn_%d(n):\n    x = 0\n    for _ in range(n):\n%s\n    return x\n" % (i, body))
code = compile("\n".join(src), "churn_%d.py" % variant, "exec")
ns = {}
exec(code, ns)
fns = [v for k, v in ns.items() if k.startswith("churn_fn_")]
for f in fns:
    f(300)
"""


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--procs-per-second", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="interpreter of the churn processes")
    ap.add_argument("--binary", default=str(ROOT / "target/release/tachyon-bpf"))
    ap.add_argument("--agent", action="store_true",
                    help="run `tachyon-bpf agent` (15 s windows) instead of one long run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: needs root (it loads eBPF)")
    duration = args.minutes * 60
    work = pathlib.Path(tempfile.mkdtemp(prefix="tachyon-soak-"))
    binary = work / "tachyon-bpf"
    shutil.copy2(args.binary, binary)
    child_py = work / "child.py"
    child_py.write_text(CHILD)
    out = work / "soak.collapsed"
    if args.agent:
        cmd = [str(binary), "agent", "--all-python", "--rate", "100", "--interval", "15s",
               "--keep", "4", "--duration", str(int(duration)), "--output-dir", str(work / "windows")]
    else:
        cmd = [str(binary), "--all-python", "--rate", "100", "--duration", str(int(duration)),
               "-o", str(out)]
    prof = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    start = time.monotonic()
    curve = []  # (seconds, rss KiB, processes started)
    started = 0
    children = []
    next_sample = 0.0
    period = 1.0 / args.procs_per_second
    next_spawn = start
    try:
        while True:
            now = time.monotonic()
            t = now - start
            if t >= duration or prof.poll() is not None:
                break
            if t >= next_sample:
                r = rss_kib(prof.pid)
                curve.append((round(t, 1), r, started))
                print(f"soak: t={t:7.1f}s rss={r} KiB processes={started}", flush=True)
                next_sample += args.interval
            if now >= next_spawn:
                children.append(subprocess.Popen(
                    [args.python, str(child_py), str(started)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                started += 1
                next_spawn += period
                if next_spawn < now - 1.0:  # fell behind: do not burst
                    next_spawn = now
            children = [c for c in children if c.poll() is None]
            time.sleep(min(0.005, period / 4))
    finally:
        for c in children:
            c.wait()
    if prof.poll() is None:
        prof.send_signal(signal.SIGINT)
    _, err = prof.communicate(timeout=600)
    summary = {}
    for line in err.splitlines():
        if ":" in line and line.startswith("  "):
            k, v = line.strip().split(":", 1)
            summary[k.strip()] = v.strip()

    def rss_at(seconds):
        best = min((c for c in curve if c[1] is not None),
                   key=lambda c: abs(c[0] - seconds), default=None)
        return best[1] if best else None

    r5 = rss_at(min(300, duration / 6))
    r_end = next((c[1] for c in reversed(curve) if c[1] is not None), None)
    growth = (r_end / r5 - 1) * 100 if r5 and r_end else None
    verdict = {
        "rss_at_5min_kib": r5,
        "rss_at_end_kib": r_end,
        "growth_pct": round(growth, 1) if growth is not None else None,
        "flat_within_10pct": growth is not None and growth <= 10,
        "under_100mib": r_end is not None and r_end < 100 * 1024,
    }
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-agent" if args.agent else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"args": vars(args), "processes_started": started, "curve": curve,
            "summary": summary, "verdict": verdict, "exit": prof.returncode}
    (RESULTS / f"soak-{stamp}.json").write_text(json.dumps(data, indent=1))
    lines = [
        f"# Soak: tachyon-bpf {'agent ' if args.agent else ''}--all-python --rate 100, {args.minutes:g} min, "
        f"{args.procs_per_second:g} new Python processes/s ({started} in all)",
        "",
        f"- RSS at 5 min: {r5} KiB; at the end: {r_end} KiB; growth {verdict['growth_pct']}% "
        f"(target ≤ 10%: {'met' if verdict['flat_within_10pct'] else 'MISSED'})",
        f"- under 100 MiB: {'met' if verdict['under_100mib'] else 'MISSED'}",
        f"- profiler exit status {prof.returncode}; summary: "
        + ", ".join(f"{k} {v}" for k, v in summary.items()),
        "",
        "| t (s) | RSS (KiB) | processes started |",
        "|---:|---:|---:|",
    ] + [f"| {t} | {r} | {n} |" for t, r, n in curve]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"soak-{stamp}.md").write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if prof.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
