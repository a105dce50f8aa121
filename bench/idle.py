#!/usr/bin/env python3
"""Idle cost and footprint of tachyon-bpf (issue #14).

Runs `tachyon-bpf ARGS --duration WARMUP+SECONDS` (default:
`--all-python --rate 100`), and reads the profiler's own /proc files after
the warm-up (start-up excluded) and at the end of the measured span: CPU
(utime + stime from stat, in clock ticks, and the threads' schedstat run
time in ns), voluntary context switches (each wake-up of the process is
one), VmRSS, VmHWM and smaps_rollup. Prints one JSON object and,
with --out, writes it there. Root; stdlib only.

    sudo python3 bench/idle.py                          # 60 s after a 3 s warm-up
    sudo python3 bench/idle.py --binary /tmp/old-tachyon-bpf --seconds 20
    sudo python3 bench/idle.py -- --pid 1234 --rate 10k   # other flags
    sudo python3 bench/idle.py --busy 20 -- --rate 10k --mode cpu
        # footprint: 20 busy Python processes (`--pid` each) at 10 kHz
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_s(pid):
    s = read("/proc/%d/stat" % pid)
    if not s:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_ns(pid):
    """Time on CPU of every live thread (/proc/PID/task/TID/schedstat, ns):
    finer than stat's clock ticks, for a process that barely runs."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        f = read("/proc/%d/task/%s/schedstat" % (pid, tid)).split()
        if f:
            total += int(f[0])
    return total


def switches(pid):
    """Voluntary and involuntary context switches over all threads."""
    vol = invol = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        for line in read("/proc/%d/task/%s/status" % (pid, tid)).splitlines():
            k, _, v = line.partition(":")
            if k == "voluntary_ctxt_switches":
                vol += int(v)
            elif k == "nonvoluntary_ctxt_switches":
                invol += int(v)
    return {"voluntary": vol, "involuntary": invol, "threads": len(tids)}


def host_forks():
    """Processes the host created since boot (/proc/stat `processes`): every
    exec among them wakes an agent that follows the host."""
    for line in read("/proc/stat").splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    return 0


def memory(pid):
    out = {}
    for line in read("/proc/%d/status" % pid).splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[k + "_kib"] = int(v.split()[0])
    for line in read("/proc/%d/smaps_rollup" % pid).splitlines()[1:]:
        k, _, v = line.partition(":")
        if k in ("Rss", "Pss", "Private_Dirty", "Anonymous"):
            out["smaps_" + k + "_kib"] = int(v.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "tachyon-bpf"))
    ap.add_argument("--seconds", type=float, default=60.0, help="measured span")
    ap.add_argument("--warmup", type=float, default=3.0, help="start-up excluded")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="start N Python processes that spin (each its own code) "
                         "and give tachyon-bpf a --pid for each")
    ap.add_argument("--python", default=os.path.join(
        os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")),
        "versions", "3.11.7", "bin", "python3.11"),
        help="the interpreter of --busy (default: pyenv 3.11.7, as the bench)")
    ap.add_argument("flags", nargs="*", help="tachyon-bpf flags (default: --all-python --rate 100)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("idle: must run as root")
    flags = args.flags or ["--all-python", "--rate", "100"]
    busy = []
    for i in range(args.busy):
        # Each spins in functions of its own (names differ per process).
        src = ("def spin_%d():\n    x = 0\n    while True:\n        x += 1\n"
               "def outer_%d():\n    spin_%d()\n" % (i, i, i))
        busy.append(subprocess.Popen(
            [args.python, "-c", src + "outer_%d()" % i], stdin=subprocess.DEVNULL))
    if busy:
        time.sleep(1)
        flags = [f for p in busy for f in ("--pid", str(p.pid))] + flags
    tmp = tempfile.mkdtemp(prefix="tachyon-idle-")
    cmd = [args.binary] + flags + ["--duration", "%g" % (args.warmup + args.seconds + 2),
                                   "-o", os.path.join(tmp, "p.collapsed")]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    lines = []
    ready = threading.Event()

    def pump():
        for line in p.stderr:
            lines.append(line)
            if line.startswith("tachyon-bpf: sampling") or line.startswith("tachyon-bpf: following"):
                ready.set()
        ready.set()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    if not ready.wait(60) or p.poll() is not None:
        sys.exit("idle: tachyon-bpf did not start: %s" % "".join(lines))
    started = time.monotonic()
    time.sleep(args.warmup)
    c0, n0, s0, m0 = cpu_s(p.pid), run_ns(p.pid), switches(p.pid), memory(p.pid)
    f0 = host_forks()
    t0 = time.monotonic()
    peak = dict(m0)
    end = t0 + args.seconds
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        m = memory(p.pid)
        peak["VmRSS_kib"] = max(peak.get("VmRSS_kib", 0), m.get("VmRSS_kib", 0))
    c1, n1, s1, m1 = cpu_s(p.pid), run_ns(p.pid), switches(p.pid), memory(p.pid)
    f1 = host_forks()
    span = time.monotonic() - t0
    p.wait(60 + args.seconds)
    for b in busy:
        b.kill()
        b.wait()
    if s1 is None or p.returncode not in (0, 2):
        # 2: an empty profile (nothing to profile), the idle case.
        sys.exit("idle: tachyon-bpf failed (exit %s): %s" % (p.returncode, "".join(lines)[-2000:]))
    t.join(5)
    res = {
        "command": cmd,
        "loadavg": read("/proc/loadavg").strip(),
        "warmup_s": round(t0 - started, 3),
        "span_s": round(span, 3),
        "cpu_ms_per_s": round((c1 - c0) * 1000 / span, 3),
        "cpu_ms_per_s_schedstat": round((n1 - n0) / 1e6 / span, 3)
        if n0 is not None and n1 is not None else None,
        "cpu_ms_warmup": round(c0 * 1000, 1),
        "wakeups_per_s": round((s1["voluntary"] - s0["voluntary"]) / span, 1),
        "host_forks_per_s": round((f1 - f0) / span, 1),
        "preempted_per_s": round((s1["involuntary"] - s0["involuntary"]) / span, 1),
        "threads": s1["threads"],
        "busy_processes": args.busy,
        "rss_mib_start": round(m0.get("VmRSS_kib", 0) / 1024, 1),
        "rss_mib_end": round(m1.get("VmRSS_kib", 0) / 1024, 1),
        "hwm_mib": round(m1.get("VmHWM_kib", 0) / 1024, 1),
        "memory_end_kib": m1,
        "exit_status": p.returncode,
        "stderr_tail": "".join(lines)[-1200:],
    }
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
