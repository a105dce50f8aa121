#!/usr/bin/env python3
"""eBPF cost per sample against stack depth (issue #14, deep stacks).

Runs `workloads/recursion.py` at each depth under each given tachyon-bpf
binary (`--mode cpu`, 10 kHz), interleaved, and reads the `run_time_ns` /
`run_cnt` of the binary's perf_event program from /proc/<pid>/fdinfo
between `go` and the workload's end (kernel.bpf_stats_enabled is set for
the run and restored). eBPF µs per sample = program time / samples the
profiler reports (the program time includes its ticks on other
processes). Also prints the share of complete stacks (leaf under DEPTH
`recurse` frames). Root only; stdlib only.

    python3 bench/depth_cost.py --bin base=/tmp/old --bin new=target/release/tachyon-bpf \
        --python ~/.pyenv/versions/3.11.7/bin/python3 --depths 1,50,1000 --reps 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def perf_prog_stats(pid):
    """(run_time_ns, run_cnt) summed over the perf_event programs `pid` holds."""
    ns = cnt = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:bpf-prog":
                continue
            info = {}
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
        except OSError:
            continue
        if info.get("prog_type") == "7":  # BPF_PROG_TYPE_PERF_EVENT
            ns += int(info.get("run_time_ns", 0))
            cnt += int(info.get("run_cnt", 0))
    return ns, cnt


def stats_enabled(value=None):
    with open("/proc/sys/kernel/bpf_stats_enabled", "w" if value else "r") as f:
        if value:
            f.write(value)
            return value
        return f.read().strip()


def one_run(binary, python, depth, seconds, rate):
    """One measurement; None when something else turned the stats off
    meanwhile (the program time is then not all counted) or the program
    did not run."""
    stats_enabled("1")
    out = "/tmp/depth_cost-%d.collapsed" % os.getpid()
    w = subprocess.Popen([python, os.path.join(HERE, "workloads", "recursion.py"),
                          "1000000", str(depth)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=os.path.join(HERE, "workloads"))
    json.loads(w.stdout.readline())
    p = subprocess.Popen([binary, "--pid", str(w.pid), "--rate", str(rate), "--mode", "cpu",
                          "-o", out], stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("tachyon-bpf: sampling"):
            break
    a = perf_prog_stats(p.pid)
    w.stdin.write("go\n")
    w.stdin.flush()
    time.sleep(seconds)
    # Read before the workload ends: with --pid the profiler stops (and
    # unloads its programs) as soon as its target has exited.
    b = perf_prog_stats(p.pid)
    w.kill()
    w.wait()
    valid = stats_enabled() == "1" and b[0] > a[0]
    p.send_signal(2)
    err = p.communicate()[1]
    m = re.search(r"^\s+samples:\s+(\d+)", err, re.M)
    samples = int(m.group(1)) if m else 0
    total = complete = 0
    with open(out) as f:
        for line in f:
            stack, n = line.rsplit(" ", 1)
            frames = stack.split(";")
            total += int(n)
            if (sum(1 for x in frames if x.startswith("recurse ")) == depth
                    and any(x.startswith("leaf ") for x in frames)):
                complete += int(n)
    os.unlink(out)
    if not valid:
        return None
    return {"us_per_sample": (b[0] - a[0]) / 1000.0 / max(samples, 1),
            "samples": samples, "complete": complete / max(total, 1),
            "load": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH, repeatable")
    ap.add_argument("--python", required=True)
    ap.add_argument("--depths", default="1,50,1000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rate", type=int, default=10000)
    args = ap.parse_args()
    bins = [b.split("=", 1) for b in args.bin]
    depths = [int(d) for d in args.depths.split(",")]
    old = stats_enabled()
    res = {}
    try:
        for rep in range(args.reps):
            order = bins[rep % len(bins):] + bins[:rep % len(bins)]
            for name, path in order:
                for d in depths:
                    r = one_run(path, args.python, d, args.seconds, args.rate)
                    if r is None:
                        print("rep %d %s depth %d: bpf stats turned off meanwhile, discarded"
                              % (rep, name, d), file=sys.stderr)
                        continue
                    res.setdefault((name, d), []).append(r)
                    print("rep %d %-8s depth %4d: %6.2f us eBPF/sample, %d samples, "
                          "%.2f%% complete, load %.1f" % (rep, name, d, r["us_per_sample"],
                                                         r["samples"], 100 * r["complete"],
                                                         r["load"]), file=sys.stderr)
    finally:
        stats_enabled(old)
    print("| binary | depth | eBPF µs/sample, median (min–max) | complete stacks (min) | load avg |")
    print("|---|---|---|---|---|")
    for name, _ in bins:
        for d in depths:
            rs = res.get((name, d))
            if not rs:
                continue
            us = [r["us_per_sample"] for r in rs]
            print("| %s | %d | %.2f (%.2f–%.2f) | %.2f%% | %.1f–%.1f |" % (
                name, d, statistics.median(us), min(us), max(us),
                100 * min(r["complete"] for r in rs),
                min(r["load"] for r in rs), max(r["load"] for r in rs)))


if __name__ == "__main__":
    main()
