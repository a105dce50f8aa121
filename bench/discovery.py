#!/usr/bin/env python3
"""Discovery benchmark: what does finding Python by content cost on a host
with thousands of processes?

`tachyon-bpf --all-python` looks at every running process at start: it
reads /proc/PID/maps and, for each distinct ELF object mapped (keyed by
device and inode), its symbols and section names, once, to find CPython's
runtime whatever the file is called. This starts

  * --processes (default 2000) idle non-Python processes, spread over
    --binaries (default 200) distinct executables (copies of /bin/sleep
    under other names and inodes: the worst case for the per-file cache,
    every copy must be read);
  * --pythons (default 10) Python processes, half of them renamed copies
    of an interpreter (found only by content);

then runs `tachyon-bpf --all-python --duration 1` --reps times and prints
the "start-up scan" line of each run's summary (processes looked at,
files read, milliseconds), the median, and whether every Python process
was found. The floor, measured in the same run between reps, is reading
every /proc/PID/maps once (what any discovery must do) from Python. The first rep is cold for the files; every rep is a new
profiler process, so none shares a cache with another. Root:

    sudo python3 bench/discovery.py [--processes 2000] [--binaries 200] [--reps 5]

Writes bench/results/discovery-<stamp>.{md,json}.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/tachyon-bpf"
PY = pathlib.Path.home() / ".pyenv/versions/3.12.1/bin/python3.12"
SID = ROOT / ".cache/pythons/3.14/usr/bin/python3.14"


def maps_floor_ms():
    """Reads every /proc/PID/maps once: the least any discovery does."""
    t = time.perf_counter()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/maps", "rb") as f:
                    f.read()
            except OSError:
                pass
    return (time.perf_counter() - t) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--binaries", type=int, default=200)
    ap.add_argument("--pythons", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    for need in (BIN, PY, SID):
        if not need.exists():
            sys.exit(f"missing {need} (cargo xtask build; cargo xtask provision)")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tachyon-discovery-"))
    procs = []
    try:
        bins = []
        for i in range(a.binaries):
            b = tmp / f"idle-{i}"
            shutil.copy("/bin/sleep", b)
            bins.append(b)
        for i in range(a.processes):
            procs.append(subprocess.Popen([bins[i % len(bins)], "3600"]))
        py_pids = []
        spin = "import time\nwhile True: time.sleep(0.5)\n"
        for i in range(a.pythons):
            if i % 2 == 0:
                exe, env = PY, None
            else:
                exe = tmp / f"app-server-{i}"
                shutil.copy(SID, exe)
                env = dict(os.environ, PYTHONHOME=str(SID.parent.parent))
            p = subprocess.Popen([exe, "-c", spin], env=env)
            procs.append(p)
            py_pids.append(p.pid)
        time.sleep(2)
        total = len(os.listdir("/proc"))
        runs = []
        floors = []
        for rep in range(a.reps):
            floors.append(maps_floor_ms())
            out = subprocess.run(
                [BIN, "--all-python", "--duration", "1", "--rate", "19",
                 "--mode", "wall", "-f", "jsonl", "-o", tmp / f"p{rep}.jsonl"],
                capture_output=True, text=True)
            m = re.search(r"start-up scan: +(\d+) processes, (\d+) files read, ([\d.]+) ms",
                          out.stderr)
            if out.returncode != 0 or not m:
                sys.exit(f"run failed:\n{out.stderr}")
            header = json.loads((tmp / f"p{rep}.jsonl").read_text().splitlines()[0])
            seen = {p["pid"] for p in header["processes"]}
            found = sum(1 for pid in py_pids if pid in seen)
            runs.append({"processes": int(m[1]), "files": int(m[2]),
                         "ms": float(m[3]), "pythons_found": found})
            print(f"rep {rep + 1}: {m[1]} processes, {m[2]} files read, "
                  f"{float(m[3]):.1f} ms; Python found {found}/{len(py_pids)}", flush=True)
        med = statistics.median(r["ms"] for r in runs)
        floor = statistics.median(floors)
        per = med * 1000 / max(1, runs[0]["processes"])
        print(f"median {med:.1f} ms for {runs[0]['processes']} processes "
              f"({per:.1f} µs a process), {runs[0]['files']} distinct files; "
              f"floor (read every maps file): {floor:.1f} ms, ratio {med / floor:.2f}")
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        res = ROOT / "bench/results"
        res.mkdir(exist_ok=True)
        data = {"args": vars(a), "entries_in_proc": total, "runs": runs,
                "median_ms": med, "us_per_process": per, "floor_ms": floors,
                "floor_median_ms": floor}
        (res / f"discovery-{stamp}.json").write_text(json.dumps(data, indent=2))
        lines = [f"# Discovery by content ({stamp})", "",
                 f"{a.processes} idle processes over {a.binaries} distinct executables, "
                 f"{a.pythons} Python processes (half renamed copies of sid 3.14); "
                 f"{total} entries in /proc.", "",
                 "| rep | processes | files read | scan ms | Python found |",
                 "|---|---|---|---|---|"]
        for i, r in enumerate(runs):
            lines.append(f"| {i + 1} | {r['processes']} | {r['files']} | {r['ms']:.1f} | "
                         f"{r['pythons_found']}/{len(py_pids)} |")
        lines += ["", f"Median {med:.1f} ms, {per:.1f} µs a process. Floor (reading every "
                  f"/proc/PID/maps once, from Python, between reps): median {floor:.1f} ms; "
                  f"ratio {med / floor:.2f}."]
        (res / f"discovery-{stamp}.md").write_text("\n".join(lines) + "\n")
        print(f"wrote {res}/discovery-{stamp}.md")
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
