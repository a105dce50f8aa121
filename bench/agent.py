#!/usr/bin/env python3
"""Agent benchmark: what does `tachyon-bpf agent` cost on a host full of
containerized Python?

Starts --containers (default 10) Docker containers from the test images
(`scripts/provision-docker.sh` builds them from the sid interpreters, no
registry; 3.14 and 3.15 alternate), each running --per-container (default
20) Python server-like processes: 0.5 ms of Python work every 200 ms (the
host stays far from saturation, as a fleet host does). Then runs

    tachyon-bpf agent --all-python --rate 100 --interval 15s \\
        --pyroscope URL --otlp URL --output-dir DIR --keep 8 --metrics ADDR

for --minutes (default 10) against the test receiver
(`tests/consumers/sink_receiver.py`: Pyroscope's ingest API and OTLP/HTTP,
decoding every upload), and measures:

* the agent's CPU (user + system, from /proc/PID/stat) as % of one core,
  after a 30 s warm-up;
* the kernel side's CPU: the run time of every eBPF program the agent
  loaded (`kernel.bpf_stats_enabled`, read from /proc/PID/fdinfo);
* the agent's RSS (every 15 s, and its peak, VmHWM);
* windows closed, and delivered to each sink (from the agent and from what
  the receiver decoded); samples, lost samples, processes seen.

Targets (issue #10): agent CPU < 1% of one core, RSS < 100 MiB, every
window delivered. Writes bench/results/agent-<stamp>.{md,json}. Root:

    sudo python3 bench/agent.py [--minutes 10] [--containers 10] [--per-container 20]
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VENV_PYTHON = ROOT / ".cache/consumers-venv/bin/python"
TICKS = os.sysconf("SC_CLK_TCK")

# One container's processes: a launcher (itself Python, waiting) and its
# server-like children.
LAUNCHER = r"""
import subprocess, sys
n = int(sys.argv[1])
child = sys.argv[2]
procs = [subprocess.Popen([sys.executable, "-c", child, str(i)]) for i in range(n)]
for p in procs:
    p.wait()
"""

SERVER = r"""
import sys, time

def parse(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total

def handle_request():
    return parse(400)

def serve():
    while True:
        t = time.perf_counter()
        while time.perf_counter() - t < 0.0005:
            handle_request()
        time.sleep(0.2)

serve()
"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based); [0] here is field 3.
    return int(fields[11]) + int(fields[12])


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def bpf_run_time_ns(pid):
    """Sum of run_time_ns over the eBPF programs `pid` holds."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = pathlib.Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if "prog_type:" not in text:
            continue
        for line in text.splitlines():
            if line.startswith("run_time_ns:"):
                total += int(line.split()[1])
    return total


def python_processes():
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if pathlib.Path(f"/proc/{d}/comm").read_text().startswith("python"):
                    n += 1
            except OSError:
                pass
    return n


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--containers", type=int, default=10)
    ap.add_argument("--per-container", type=int, default=20)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--binary", default=str(ROOT / "target/release/tachyon-bpf"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent bench: needs root (it loads eBPF)")
    if not VENV_PYTHON.exists():
        sys.exit("agent bench: run scripts/install-consumers-py.sh first (the receiver's venv)")
    subprocess.run(["bash", str(ROOT / "scripts/provision-docker.sh")], check=True,
                   stdout=subprocess.DEVNULL)
    docker = (ROOT / ".cache/docker-client").read_text().strip() or "docker"
    work = pathlib.Path(tempfile.mkdtemp(prefix="tachyon-agent-bench-"))
    binary = work / "tachyon-bpf"
    shutil.copy2(args.binary, binary)
    names = []
    receiver = agent = None
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_before = f.read().strip()
    try:
        base = python_processes()
        for i in range(args.containers):
            version = "3.14" if i % 2 == 0 else "3.15"
            name = f"tachyon-bench-agent-{os.getpid()}-{i}"
            subprocess.run(
                [docker, "run", "-d", "--rm", "--name", name, f"tachyon-test-py:{version}",
                 f"/usr/bin/python{version}", "-c", LAUNCHER, str(args.per_container), SERVER],
                check=True, stdout=subprocess.DEVNULL)
            names.append(name)
        want = base + args.containers * (args.per_container + 1)
        deadline = time.monotonic() + 120
        while python_processes() < want and time.monotonic() < deadline:
            time.sleep(0.5)
        running = python_processes() - base
        print(f"agent bench: {running} Python processes in {args.containers} containers", flush=True)

        log = work / "received.jsonl"
        receiver = subprocess.Popen([str(VENV_PYTHON), str(ROOT / "tests/consumers/sink_receiver.py"),
                                     str(log)], stdout=subprocess.PIPE, text=True)
        port = int(receiver.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}"
        metrics = f"127.0.0.1:{free_port()}"
        pathlib.Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
        cmd = [str(binary), "agent", "--all-python", "--rate", str(args.rate), "--interval", "15s",
               "--pyroscope", url, "--otlp", url, "--output-dir", str(work / "windows"),
               "--keep", "8", "--metrics", metrics, "--label", "bench=agent"]
        agent = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        duration = args.minutes * 60
        start = time.monotonic()
        warm = 30.0
        curve = []
        cpu0 = bpf0 = t0 = None
        next_sample = 0.0
        while True:
            t = time.monotonic() - start
            if t >= duration + warm or agent.poll() is not None:
                break
            if t0 is None and t >= warm:
                cpu0, bpf0, t0 = cpu_ticks(agent.pid), bpf_run_time_ns(agent.pid), time.monotonic()
            if t >= next_sample:
                rss = status_kib(agent.pid, "VmRSS")
                curve.append((round(t, 1), rss))
                print(f"agent bench: t={t:6.1f}s rss={rss} KiB", flush=True)
                next_sample += 15.0
            time.sleep(0.5)
        cpu1, bpf1, t1 = cpu_ticks(agent.pid), bpf_run_time_ns(agent.pid), time.monotonic()
        hwm = status_kib(agent.pid, "VmHWM")
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=120)
    finally:
        pathlib.Path("/proc/sys/kernel/bpf_stats_enabled").write_text(stats_before)
        if agent is not None and agent.poll() is None:
            agent.kill()
        for name in names:
            subprocess.run([docker, "rm", "-f", name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if receiver is not None:
            receiver.kill()

    elapsed = t1 - t0
    agent_cpu = (cpu1 - cpu0) / TICKS / elapsed * 100
    bpf_cpu = (bpf1 - bpf0) / 1e9 / elapsed * 100
    summary = {}
    for line in err.splitlines():
        if ":" in line and line.startswith("  "):
            k, v = line.strip().split(":", 1)
            summary[k.strip()] = v.strip()
    windows = sum(1 for l in err.splitlines() if l.startswith("window "))
    export = next((l for l in reversed(err.splitlines()) if l.startswith("export: ")), "")
    records = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    otlp = [r for r in records if r.get("sink") == "otlp"]
    pyro = [r for r in records if r.get("sink") == "pyroscope"]
    refused = [r for r in records if "error" in r]
    pyro_windows = len({r["pprof"]["time_nanos"] for r in pyro})
    containers_seen = len({r["labels"].get("container_id") for r in pyro} - {None})
    otlp_processes = max((len(r["resources"]) for r in otlp), default=0)
    result = {
        "args": vars(args),
        "python_processes": running,
        "measured_seconds": round(elapsed, 1),
        "agent_cpu_pct_of_one_core": round(agent_cpu, 3),
        "ebpf_cpu_pct_of_one_core": round(bpf_cpu, 3),
        "rss_peak_kib": hwm,
        "rss_curve": curve,
        "windows": windows,
        "otlp_requests": len(otlp),
        "otlp_max_processes_per_window": otlp_processes,
        "pyroscope_uploads": len(pyro),
        "pyroscope_windows": pyro_windows,
        "pyroscope_containers": containers_seen,
        "refused_by_receiver": len(refused),
        "export": export,
        "summary": summary,
        "exit": agent.returncode,
    }
    verdict = {
        "cpu_under_1pct": agent_cpu < 1.0,
        "rss_under_100mib": hwm is not None and hwm < 100 * 1024,
        "every_window_delivered": windows == len(otlp) == pyro_windows and not refused,
    }
    result["verdict"] = verdict
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"agent-{stamp}.json").write_text(json.dumps(result, indent=1))

    def met(ok):
        return "met" if ok else "MISSED"

    lines = [
        f"# Agent: {running} Python processes in {args.containers} containers, "
        f"{args.rate} Hz, 15 s windows, {args.minutes:g} min",
        "",
        f"Command: `{' '.join(cmd[1:])}` (receiver: tests/consumers/sink_receiver.py)",
        "",
        "| what | measured | target |",
        "|---|---:|---|",
        f"| agent CPU (user+sys), % of one core | {agent_cpu:.3f} | < 1: {met(verdict['cpu_under_1pct'])} |",
        f"| eBPF programs' CPU, % of one core | {bpf_cpu:.3f} | (kernel side, for the record) |",
        f"| agent RSS peak (VmHWM) | {hwm} KiB | < 100 MiB: {met(verdict['rss_under_100mib'])} |",
        f"| windows closed | {windows} | |",
        f"| OTLP requests decoded | {len(otlp)} (up to {otlp_processes} processes each) | every window: "
        f"{met(windows == len(otlp))} |",
        f"| Pyroscope uploads decoded | {len(pyro)} ({pyro_windows} windows, {containers_seen} containers) | "
        f"every window: {met(windows == pyro_windows)} |",
        f"| uploads the receiver refused | {len(refused)} | 0 |",
        "",
        f"- export: {export}",
        "- summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()),
        "",
        "| t (s) | RSS (KiB) |",
        "|---:|---:|",
    ] + [f"| {t} | {r} |" for t, r in curve]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"agent-{stamp}.md").write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if agent.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
