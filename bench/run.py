#!/usr/bin/env python3
"""Benchmark suite: tachyon-bpf side by side with py-spy and Tachyon, one run.

Run by the system python3 (stdlib only), as root, normally through
`cargo xtask bench [OPTIONS]` (which builds tachyon-bpf and provisions the
interpreters first).  See bench/README.md for what is measured and how.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = os.path.join(BENCH, "workloads")
VENV = os.path.join(ROOT, ".cache", "bench-venv")
PY_SPY_VERSION = "0.4.3"  # pinned; installed from PyPI into VENV
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# interpreters and peers


def pyenv_root():
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.expanduser("~/.pyenv")


def find_pythons():
    p311 = os.path.join(pyenv_root(), "versions", "3.11.7", "bin", "python3.11")
    if not os.path.exists(p311):
        p311 = "/usr/bin/python3.11"
    p315 = os.path.join(ROOT, ".cache", "pythons", "3.15", "usr", "bin", "python3.15")
    return {"3.11": p311, "3.15": p315}


def ensure_py_spy():
    exe = os.path.join(VENV, "bin", "py-spy")
    want = "py-spy " + PY_SPY_VERSION
    try:
        have = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        have = ""
    if have != want:
        log("installing py-spy==%s from PyPI into %s" % (PY_SPY_VERSION, VENV))
        if not os.path.exists(os.path.join(VENV, "bin", "python")):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "python"), "-m", "pip", "install",
                        "-q", "--disable-pip-version-check", "py-spy==" + PY_SPY_VERSION],
                       check=True)
        have = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    return exe, have


def ensure_tachyon(py315):
    r = subprocess.run([py315, "-m", "profiling.sampling", "attach", "--help"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("CPython 3.15 profiling.sampling unavailable: %s" % r.stderr.strip())
    v = subprocess.run([py315, "-c", "import sys; print(sys.version.split()[0])"],
                       capture_output=True, text=True).stdout.strip()
    return "CPython %s profiling.sampling" % v


# --------------------------------------------------------------------------
# /proc helpers


def children_of(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid):
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children_of(p)
    return seen


def proc_cpu(pid):
    """utime+stime (s) of a process incl. its dead threads, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0])  # KiB
    except OSError:
        pass
    return out


def bpf_stats(pid):
    """{prog_id: (run_time_ns, run_cnt)} of the eBPF programs `pid` holds."""
    progs, link_ids = {}, set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target not in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
                continue
            info = {}
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
        except OSError:
            continue
        if target == "anon_inode:bpf-prog" and "prog_id" in info:
            progs[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)),
                                           int(info.get("run_cnt", 0)))
        elif "prog_id" in info:
            link_ids.add(int(info["prog_id"]))
    missing = link_ids - set(progs)
    if missing and shutil.which("bpftool"):
        for pid_ in missing:
            try:
                r = subprocess.run(["bpftool", "prog", "show", "id", str(pid_), "-j"],
                                   capture_output=True, text=True, timeout=5)
                j = json.loads(r.stdout)
                progs[pid_] = (int(j.get("run_time_ns", 0)), int(j.get("run_cnt", 0)))
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
    return progs


def stats_delta(a, b):
    if a is None or b is None:
        return None, None
    ns = sum(b[k][0] - a.get(k, (0, 0))[0] for k in b)
    cnt = sum(b[k][1] - a.get(k, (0, 0))[1] for k in b)
    return ns, cnt


class Monitor(threading.Thread):
    """Polls a profiler's process tree: per-pid VmHWM, summed VmRSS, eBPF stats."""

    def __init__(self, pid, want_bpf, period=0.05):
        super().__init__(daemon=True)
        self.pid, self.want_bpf, self.period = pid, want_bpf, period
        self.hwm = {}          # pid -> max VmHWM seen (KiB)
        self.peak_rss_sum = 0  # max over time of summed VmRSS (KiB)
        self.max_procs = 0
        self.all_pids = set()
        self.last_bpf = None
        self.next_bpf = 0.0
        self.stop = threading.Event()

    def poll(self):
        pids = tree(self.pid)
        total = 0
        live = 0
        for p in pids:
            st = proc_status(p)
            if not st:
                continue
            live += 1
            self.all_pids.add(p)
            self.hwm[p] = max(self.hwm.get(p, 0), st.get("VmHWM", 0))
            total += st.get("VmRSS", 0)
        self.peak_rss_sum = max(self.peak_rss_sum, total)
        self.max_procs = max(self.max_procs, live)
        if self.want_bpf and time.monotonic() >= self.next_bpf:
            self.next_bpf = time.monotonic() + 0.25
            s = bpf_stats(self.pid)
            if s and (self.last_bpf is None or set(s) >= set(self.last_bpf)):
                self.last_bpf = s

    def tree_cpu(self):
        return sum(c for c in (proc_cpu(p) for p in tree(self.pid)) if c is not None)

    def run(self):
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(self.period)


# --------------------------------------------------------------------------
# profilers: command lines, readiness, output parsing

FRAME_PAREN = re.compile(r"^(.*) \((.*):(\d+)\)$")
BPF_ROOT = re.compile(r"^(\S+) \(pid (\d+)\)$")
PYSPY_PROC = re.compile(r'^process (\d+):')


def func_name(frame):
    m = FRAME_PAREN.match(frame)
    if m:
        name = m.group(1)
    else:
        parts = frame.rsplit(":", 2)  # Tachyon: file:func:line
        if len(parts) == 3 and parts[2].isdigit():
            name = parts[1]
        else:
            return frame
    # qualified names (Class.method, outer.<locals>.f): keep the last part
    return name.rsplit(".", 1)[-1] if not name.startswith("<") else name


def read_collapsed(path):
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                stack, _, count = line.rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                out.append((stack.split(";"), int(count)))
    except OSError:
        pass
    return out


class Profiler:
    name = ""
    python = "3.11"
    on_cpu = False          # samples only on-CPU threads (expected = rate x CPU time)
    ready_re = None         # stderr line that says sampling started
    settle = 0.5            # extra wait after ready (or instead of it)
    stop_with_sigint = False

    def __init__(self, args):
        self.args = args

    def label(self):
        return "%s@%s" % (self.name, self.python)

    def samples(self, outbase, target_pid):
        """[(pid, [func names root..leaf], count)]"""
        raise NotImplementedError


class TachyonBpf(Profiler):
    name = "tachyon-bpf"
    on_cpu = True
    ready_re = re.compile(r"^tachyon-bpf: sampling")

    def __init__(self, args, python="3.11", mode="cpu"):
        super().__init__(args)
        self.python = python
        self.mode = mode
        if mode != "cpu":
            # Wall mode also weighs off-CPU time: its overhead is the figure.
            self.name = "tachyon-bpf --mode " + mode
            self.on_cpu = False
        self.bin = getattr(args, "tachyon_bpf_bin", None)
        self.has_mode = getattr(args, "tachyon_bpf_has_mode", False)

    def command(self, pid, rate, out, many):
        cmd = [self.bin]
        cmd += ["--all-python"] if many else ["--pid", str(pid)]
        cmd += ["--rate", str(rate), "-o", out + ".collapsed"]
        if self.has_mode:
            cmd += ["--mode", self.mode]
        self.stop_with_sigint = many
        return cmd

    def samples(self, out, target_pid):
        res = []
        for frames, n in read_collapsed(out + ".collapsed"):
            m = BPF_ROOT.match(frames[0])
            pid = int(m.group(2)) if m else target_pid
            res.append((pid, [func_name(f) for f in frames[1:]], n))
        return res

    @staticmethod
    def summary(stderr):
        out = {}
        for line in stderr.splitlines():
            m = re.match(r"^\s+([a-z][a-z -]+):\s+([\d.]+)", line)
            if m:
                out[m.group(1).strip()] = float(m.group(2))
        return out


class Floor(Profiler):
    """`tachyon-bpf floor`: an empty eBPF program on every CPU's cpu-clock at the
    rate, nothing else: the platform's price of sampling, which no eBPF sampler
    goes below. Its ticks during the work come from the kernel's run count."""
    name = "floor"
    on_cpu = True
    ready_re = re.compile(r"^tachyon-bpf floor:")
    settle = 0.2
    stop_with_sigint = True

    def __init__(self, args, python="3.11"):
        super().__init__(args)
        self.python = python
        self.bin = getattr(args, "tachyon_bpf_bin", None)

    def command(self, pid, rate, out, many):
        return [self.bin, "floor", "--rate", str(rate)]

    def samples(self, out, target_pid):
        return []


class PySpy(Profiler):
    name = "py-spy"
    ready_re = re.compile(r"^py-spy> Sampling process")

    def __init__(self, args, nonblocking=False):
        super().__init__(args)
        self.nonblocking = nonblocking
        if nonblocking:
            self.name = "py-spy --nonblocking"

    def command(self, pid, rate, out, many):
        cmd = [self.args.py_spy_bin, "record", "--pid", str(pid), "--rate", str(rate),
               "--format", "raw", "-o", out + ".txt"]
        if many:
            cmd.append("--subprocesses")
        if self.nonblocking:
            cmd.append("--nonblocking")
        return cmd

    def samples(self, out, target_pid):
        res = []
        for frames, n in read_collapsed(out + ".txt"):
            pid, rest = target_pid, []
            for f in frames:
                m = PYSPY_PROC.match(f)
                if m:
                    pid = int(m.group(1))
                else:
                    rest.append(func_name(f))
            res.append((pid, rest, n))
        return res


class Tachyon(Profiler):
    """CPython 3.15's `python -m profiling.sampling attach` (all threads)."""
    name = "tachyon"
    python = "3.15"
    ready_re = None
    settle = 2.0

    def command(self, pid, rate, out, many):
        cmd = [self.args.pythons["3.15"], "-m", "profiling.sampling", "attach", "-a",
               "-r", str(rate), "--collapsed", "-o", out + ".txt"]
        if many:
            cmd.append("--subprocesses")
        return cmd + [str(pid)]

    def samples(self, out, target_pid):
        res = []
        d = os.path.dirname(out)
        base = os.path.basename(out)
        files = [(out + ".txt", target_pid)]
        for fn in os.listdir(d):  # child profilers write <base>_<pid>.txt
            m = re.match(re.escape(base) + r"_(\d+)\.txt$", fn)
            if m:
                files.append((os.path.join(d, fn), int(m.group(1))))
        for path, pid in files:
            for frames, n in read_collapsed(path):
                fr = [func_name(f) for f in frames if not f.startswith("tid:")]
                res.append((pid, fr, n))
        return res


# --------------------------------------------------------------------------
# one measurement


def read_json_line(stream, timeout, what):
    box = {}

    def rd():
        box["line"] = stream.readline()

    t = threading.Thread(target=rd, daemon=True)
    t.start()
    t.join(timeout)
    line = box.get("line")
    if not line:
        raise RuntimeError("no %s line from the workload within %.0fs" % (what, timeout))
    return json.loads(line)


def measure(args, wl, python, prof, rate, tmp, tag):
    """Runs one workload (with a profiler or none) and returns a result dict."""
    py = args.pythons[python]
    cmd = [py, os.path.join(WORKLOADS, wl["script"])] + [str(a) for a in wl["args"][python]]
    rec = {"workload": wl["name"], "python": python,
           "profiler": prof.name if prof else "none", "rate": rate}
    wl_err = open(os.path.join(tmp, tag + ".workload.err"), "w")
    w = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=wl_err,
                         text=True, cwd=WORKLOADS)
    p = mon = None
    try:
        truth = read_json_line(w.stdout, 30, "truth")
        rec["truth"] = truth
        pid = truth["pid"]
        out = os.path.join(tmp, tag)
        lines = []
        if prof:
            pcmd = prof.command(pid, rate, out, wl.get("many", False))
            rec["command"] = pcmd
            ready = threading.Event()
            # one stream: py-spy prints its messages to stdout when it is not a tty
            p = subprocess.Popen(pcmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT,
                                 text=True, cwd=tmp)

            def pump():
                for line in p.stdout:
                    lines.append(line)
                    if prof.ready_re and prof.ready_re.search(line):
                        ready.set()
                ready.set()  # EOF: the profiler is gone

            pt = threading.Thread(target=pump, daemon=True)
            pt.start()
            has_bpf = isinstance(prof, (TachyonBpf, Floor))
            mon = Monitor(p.pid, want_bpf=has_bpf)
            mon.start()
            if prof.ready_re:
                if not ready.wait(60):
                    raise RuntimeError("%s not ready after 60s" % prof.name)
            if p.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError("%s exited before the work started (rc %s): %s" % (
                    prof.name, p.returncode, "".join(lines)[-500:].strip()))
            time.sleep(prof.settle)
            mon.poll()
            cpu_go = mon.tree_cpu()
            bpf_go = bpf_stats(p.pid) if has_bpf else None
            t_go = time.monotonic()
        w.stdin.write("go\n")
        w.stdin.flush()
        result = read_json_line(w.stdout, args.timeout, "result")
        rec["result"] = result
        w.wait(60)
        rec["workload_rc"] = w.returncode
        if prof:
            bpf_end = bpf_stats(p.pid) if has_bpf else None
            rec["ebpf_span_s"] = time.monotonic() - t_go
            if bpf_go is not None and (bpf_end is None or set(bpf_end) < set(bpf_go)):
                if mon.last_bpf is not None and set(mon.last_bpf) >= set(bpf_go):
                    bpf_end = mon.last_bpf
                    rec["ebpf_note"] = "final read incomplete: last polled eBPF stats used"
            rec["ebpf_progs_go"], rec["ebpf_progs_end"] = bpf_go, bpf_end
            cpu_end_window = mon.tree_cpu()
            if prof.stop_with_sigint:
                time.sleep(0.3)
                p.send_signal(signal.SIGINT)
            try:
                _, status, ru = wait4_timeout(p.pid, 60)
            except TimeoutError:
                p.send_signal(signal.SIGINT)
                try:
                    _, status, ru = wait4_timeout(p.pid, 15)
                except TimeoutError:
                    p.kill()
                    _, status, ru = os.wait4(p.pid, 0)
                    rec["error"] = "profiler did not exit; killed"
            p.returncode = os.waitstatus_to_exitcode(status)
            mon.stop.set()
            mon.join()
            pt.join(5)
            stderr = "".join(lines)
            rec["profiler_rc"] = p.returncode
            rec["profiler_stderr_tail"] = stderr[-1500:]
            cpu_total = ru.ru_utime + ru.ru_stime
            rec["profiler_cpu_total_s"] = cpu_total
            rec["profiler_cpu_after_go_s"] = max(cpu_total - cpu_go, 0.0)
            rec["profiler_cpu_window_s"] = max(cpu_end_window - cpu_go, 0.0)
            rec["profiler_processes"] = max(mon.max_procs, 1)
            # VmHWM as polled from /proc (reset at exec). wait4's ru_maxrss
            # is only a fallback: Linux carries the pre-exec peak into it, so
            # it reads the forking harness's own RSS (96 MiB once the
            # harness had grown) for every profiler.
            if mon.hwm:
                rec["profiler_rss_kib"] = sum(mon.hwm.values())
                rec["profiler_rss_sum_peak_kib"] = max(mon.peak_rss_sum,
                                                       rec["profiler_rss_kib"])
            else:
                rec["profiler_rss_kib"] = ru.ru_maxrss
                rec["profiler_rss_sum_peak_kib"] = ru.ru_maxrss
            ns, cnt = stats_delta(bpf_go, bpf_end)
            rec["ebpf_ns"], rec["ebpf_runs"] = ns, cnt
            if isinstance(prof, TachyonBpf):
                rec["summary"] = TachyonBpf.summary(stderr)
            if isinstance(prof, Floor):
                floor_figures(rec)
            else:
                analyse(rec, wl, prof, prof.samples(out, pid), rate)
    except Exception as e:  # noqa: BLE001 -- one bad run must not end the suite
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        log("run %s failed: %s" % (tag, rec["error"]))
    finally:
        for proc in (w, p):
            if proc is not None and proc.poll() is None:
                proc.kill()
                try:
                    proc.wait(10)
                except Exception:  # noqa: BLE001
                    pass
        if mon is not None:
            mon.stop.set()
        wl_err.close()
    return rec


def wait4_timeout(pid, timeout):
    end = time.monotonic() + timeout
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            return wpid, status, ru
        if time.monotonic() > end:
            raise TimeoutError
        time.sleep(0.02)


def floor_figures(rec):
    """The floor's ticks during the work: per CPU and second between the two
    reads of its run count (what the platform delivers at this rate), and its
    eBPF time per run."""
    span = rec.get("ebpf_span_s") or 0
    cpus = os.cpu_count() or 1
    if rec.get("ebpf_runs") is not None and span > 0:
        rec["floor_ticks_per_cpu_s"] = rec["ebpf_runs"] / span / cpus
        rec["ebpf_runs_per_s"] = rec["ebpf_runs"] / span
        if rec["ebpf_runs"]:
            rec["ebpf_us_per_run"] = (rec["ebpf_ns"] or 0) / 1e3 / rec["ebpf_runs"]


def analyse(rec, wl, prof, samples, rate):
    """Figures from the parsed profile against the workload's own truth."""
    truth, result = rec["truth"], rec["result"]
    funcs = truth["functions"]
    pids = {truth["pid"]} | set(result.get("children", []))
    window = set(funcs) | {truth.get("root", "work")} | set(wl.get("window_funcs", ()))
    total = sum(n for _, _, n in samples)
    mine = [(pid, fr, n) for pid, fr, n in samples if pid in pids]
    in_window = [(pid, fr, n) for pid, fr, n in mine if window & set(fr)]
    n_window = sum(n for _, _, n in in_window)
    rec["samples_total"] = total
    rec["samples_work"] = n_window
    # shares: innermost truth function of each stack
    counts = dict.fromkeys(funcs, 0)
    for _, fr, n in in_window:
        for f in reversed(fr):
            if f in counts:
                counts[f] += n
                break
    attributed = sum(counts.values())
    rec["function_samples"] = counts
    if n_window and not attributed:
        rec["note"] = "samples in the work, but none in a truth function"
    if attributed and len(funcs) > 1:
        errs = {f: abs(counts[f] / attributed - s) * 100 for f, s in funcs.items()}
        rec["share_error_pp"] = errs
        rec["share_error_pp_max"] = max(errs.values())
    if truth.get("single_thread_cpu"):
        basis = result["cpu"] if prof.on_cpu else result["wall"]
        rec["expected_basis"] = "cpu" if prof.on_cpu else "wall"
        rec["samples_expected"] = rate * basis
        rec["received_ratio"] = n_window / (rate * basis) if basis > 0 else None
    # Wall mode writes time (µs), not sample counts: cost per sample is per
    # sample the profiler took (on-CPU ticks plus off-CPU intervals).
    n_cost = n_window
    if getattr(prof, "mode", "cpu") == "wall":
        n_cost = (rec.get("summary") or {}).get("samples") or 0
    if n_window and n_cost:
        cpu = rec["profiler_cpu_after_go_s"]
        ebpf_s = (rec["ebpf_ns"] or 0) / 1e9
        rec["cpu_us_per_sample"] = (cpu + ebpf_s) * 1e6 / n_cost
        rec["user_cpu_us_per_sample"] = cpu * 1e6 / n_cost
        if rec.get("ebpf_ns") is not None:
            rec["ebpf_us_per_sample"] = rec["ebpf_ns"] / 1e3 / n_cost
            if rec.get("ebpf_runs"):
                rec["ebpf_us_per_run"] = rec["ebpf_ns"] / 1e3 / rec["ebpf_runs"]
                rec["ebpf_runs_per_s"] = rec["ebpf_runs"] / result["wall"]
    if "summary" in rec:
        rec["samples_lost"] = rec["summary"].get("samples lost")
    if truth.get("recursive"):
        depth, rf = truth["depth"], truth["recursive"]
        den = num = 0
        for _, fr, n in mine:
            if rf in fr or "leaf" in fr:
                den += n
                if "leaf" in fr and fr.count(rf) >= depth:
                    num += n
        rec["complete_stacks"] = num / den if den else None
        depths = [fr.count(rf) for _, fr, _ in mine if rf in fr]
        rec["max_recursive_frames"] = max(depths) if depths else 0
    if truth["workload"] == "threads":
        rec["threads_seen"] = sum(1 for f in funcs if counts[f] > 0)
    if truth["workload"] == "many_procs":
        kids = set(result.get("children", []))
        covered = {pid for pid, fr, n in samples if pid in kids and "child_work" in fr}
        rec["covered"] = len(covered)
        rec["children"] = len(kids)


# --------------------------------------------------------------------------
# suite


def workload_defs(args):
    return [
        {"name": "cpu_split", "script": "cpu_split.py", "units_per_arg": 10,
         "rates_all": True},
        {"name": "stack50", "script": "recursion.py", "depth": 50},
        {"name": "recursion", "script": "recursion.py", "depth": 1000},
        {"name": "threads", "script": "threads.py", "window_funcs": ["worker", "nap", "spin"],
         "wall": True},
        {"name": "asyncio", "script": "asyncio_app.py"},
        {"name": "ctxswitch", "script": "ctxswitch.py",
         "window_funcs": ["exchange", "pong"], "wall": True},
        {"name": "many_procs", "script": "many_procs.py", "many": True,
         "window_funcs": ["child_work"], "rate": args.many_rate},
    ]


def calibrate(args, wl, python):
    """Returns argv for `wl` on `python` so that its work takes ~work_seconds."""
    py = args.pythons[python]
    target = args.work_seconds

    def trial(argv, script=None):
        r = subprocess.run([py, os.path.join(WORKLOADS, script or wl["script"])]
                           + [str(a) for a in argv],
                           input="go\n", capture_output=True, text=True, timeout=300,
                           cwd=WORKLOADS)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (wl["script"], r.stderr[-500:]))
        return json.loads(r.stdout.strip().splitlines()[-1])

    name = wl["name"]
    if name == "ctxswitch":
        r = subprocess.run([py, os.path.join(WORKLOADS, "ctxswitch.py"), "--calibrate"],
                           capture_output=True, text=True, timeout=120)
        k = json.loads(r.stdout)["k"]
        return [int(target * 5000), k]
    if name == "many_procs":
        # cost of one unit from cpu_split (10 units per round); each child
        # does max(0.5 s, work_seconds / 4) of CPU work, so all 20 overlap.
        unit = unit_cost(trial, [], "cpu_split.py") / 10
        units = max(1, int(max(0.5, target / 4) / unit))
        return [units, 20]
    extra = [wl["depth"]] if "depth" in wl else []
    unit = unit_cost(trial, extra)
    return [max(1, int(target / unit))] + extra


def unit_cost(trial, extra, script=None):
    """Seconds per argv[1] unit: a small trial, then one of ~0.3 s."""
    units = 10
    res = trial([units] + extra, script)
    units = max(1, int(units * 0.3 / max(res["wall"], 1e-3)))
    res = trial([units] + extra, script)
    return res["wall"] / units


def build_plan(args, wls):
    """[(workload, python, profiler or None, rate)] for one repetition."""
    bpf = {py: TachyonBpf(args, py) for py in ("3.11", "3.15")}
    bpf_wall = TachyonBpf(args, "3.11", mode="wall")
    floor = Floor(args)
    peers = {"py-spy": PySpy(args), "py-spy-nb": PySpy(args, nonblocking=True),
             "tachyon": Tachyon(args)}
    plan = []
    for wl in wls:
        runs = []
        many = wl.get("many")
        rate = wl.get("rate", 10000)
        want = args.profilers
        if wl.get("rates_all"):
            pythons = ["3.11", "3.15"] if "tachyon" in want else ["3.11"]
            for py in pythons:
                runs.append((wl, py, None, 0))
            if "tachyon-bpf" in want:
                for r in args.bpf_rates:
                    runs.append((wl, "3.11", bpf["3.11"], r))
            if "floor" in want:
                for r in args.bpf_rates:
                    runs.append((wl, "3.11", floor, r))
                common = [r for r in args.bpf_rates if r in args.peer_rates]
                if "tachyon" in want and common:
                    # same interpreter as Tachyon, at the highest common rate
                    runs.append((wl, "3.15", bpf["3.15"], max(common)))
            for key in ("py-spy", "py-spy-nb", "tachyon"):
                if key in want:
                    for r in args.peer_rates:
                        runs.append((wl, peers[key].python, peers[key], r))
        else:
            pythons = ["3.11"] + (["3.15"] if "tachyon" in want else [])
            for py in pythons:
                runs.append((wl, py, None, 0))
            if "tachyon-bpf" in want:
                runs.append((wl, "3.11", bpf["3.11"], rate))
            if "floor" in want and not many:
                runs.append((wl, "3.11", floor, rate))
            if "tachyon-bpf-wall" in want and wl.get("wall"):
                runs.append((wl, "3.11", bpf_wall, rate))
            for key in ("py-spy", "tachyon"):
                if key in want:
                    runs.append((wl, peers[key].python, peers[key], rate))
        plan.append(runs)
    return plan


def fmt_stat(vals, fmt="%.2f", scale=1.0):
    vals = [v * scale for v in vals if v is not None]
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "–" + fmt + ")") % (med, min(vals), max(vals))


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def rate_label(r):
    return "%dk" % (r // 1000) if r >= 1000 else str(r)


def summarise(records, args):
    """Groups runs by (workload, profiler, python, rate) with per-rep slowdowns."""
    base = {}
    for r in records:
        if r["profiler"] == "none" and "result" in r:
            base[(r["rep"], r["workload"], r["python"])] = r["result"]["wall"]
    floors = {}
    for r in records:
        if r["profiler"] == "floor" and "result" in r:
            floors[(r["rep"], r["workload"], r["python"], r["rate"])] = r
    groups = {}
    for r in records:
        if r["profiler"] == "none":
            continue
        b = base.get((r["rep"], r["workload"], r["python"]))
        if b and "result" in r:
            r["slowdown"] = r["result"]["wall"] / b
        f = floors.get((r["rep"], r["workload"], r["python"], r["rate"]))
        if f is not None and r["profiler"] != "floor" and "result" in r:
            # same repetition, workload, interpreter and rate
            r["vs_floor"] = r["result"]["wall"] / f["result"]["wall"]
            tick = f.get("floor_ticks_per_cpu_s")
            basis = r["result"].get("cpu")
            if tick and basis and r.get("samples_work") is not None \
                    and r.get("expected_basis") == "cpu":
                r["floor_ticks"] = tick * basis
                r["received_vs_floor"] = r["samples_work"] / (tick * basis)
        key = (r["workload"], r["profiler"], r["python"], r["rate"])
        groups.setdefault(key, []).append(r)
    return groups


def table(groups, args, env):
    L = []
    add = L.append

    def g(wl, prof, py, rate, field):
        return [r.get(field) for r in groups.get((wl, prof, py, rate), [])]

    def extra(rs, field):
        return [r.get(field) for r in rs]

    add("# tachyon-bpf benchmark (%s)" % env["started"])
    add("")
    add("%d interleaved repetitions%s; each cell is median (min–max). Machine: %s, %d CPUs, "
        "kernel %s. Work per run ≈ %.1f s unprofiled. Raw data: `%s`." % (
            args.reps, " (--quick)" if args.quick else "", env["cpu_model"], os.cpu_count(),
            env["kernel"], args.work_seconds, os.path.basename(env["json"])))
    add("")
    add("Versions: " + "; ".join("%s = %s" % kv for kv in env["versions"].items()))
    add("")
    profs = sorted({(k[1], k[2]) for k in groups}, key=lambda x: (x[0] != "tachyon-bpf", x))
    # --- cpu_split main table
    rates = sorted({k[3] for k in groups if k[0] == "cpu_split"})
    if rates:
        add("## 60/30/10 CPU split")
        add("")
        add("Slowdown = workload wall time with the profiler / without (same repetition, "
            "same interpreter). CPU/sample = profiler user+sys after the work started "
            "(+ eBPF program time for tachyon-bpf) / samples in the work. Expected samples = "
            "rate × workload CPU time for tachyon-bpf (on-CPU sampler; the kernel does not "
            "charge the sampling interrupt to the task, so slightly > 1 is possible), rate × "
            "wall time for the others. eBPF µs/sample counts every tick on every CPU (also "
            "those landing on other processes); eBPF µs/run is per program invocation.")
        add("")
        hdr = ["profiler"] + ["slowdown %s" % rate_label(r) for r in rates] + [
            "CPU µs/sample 10k", "eBPF µs/sample 10k", "eBPF µs/run 10k", "RSS MiB 10k",
            "share error pp 10k",
            "samples/expected 10k", "lost 10k"]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for prof, py in profs:
            if not any(k[0] == "cpu_split" and k[1] == prof and k[2] == py for k in groups):
                continue
            row = ["%s (%s)" % (prof, py)]
            for r in rates:
                row.append(fmt_stat(g("cpu_split", prof, py, r, "slowdown"), "%.3f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "cpu_us_per_sample"), "%.1f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "ebpf_us_per_sample"), "%.2f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "ebpf_us_per_run"), "%.2f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "profiler_rss_kib"), "%.1f",
                                1 / 1024))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "share_error_pp_max"), "%.2f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "received_ratio"), "%.2f"))
            row.append(fmt_stat(g("cpu_split", prof, py, 10000, "samples_lost"), "%.0f"))
            add("| " + " | ".join(row) + " |")
        add("")
        hi = [r for r in rates if r > 10000]
        if hi:
            add("tachyon-bpf at high rates (3.11): " + "; ".join(
                "%s: samples/expected %s, CPU µs/sample %s, eBPF runs/s %s, lost %s" % (
                    rate_label(r),
                    fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "received_ratio"), "%.2f"),
                    fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "cpu_us_per_sample"), "%.1f"),
                    fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "ebpf_runs_per_s"), "%.0f"),
                    fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "samples_lost"), "%.0f"))
                for r in hi))
            add("")
    # --- against the floor
    frates = sorted({k[3] for k in groups if k[0] == "cpu_split" and k[1] == "floor"})
    if frates:
        add("## Against the floor (60/30/10, 3.11)")
        add("")
        add("The floor is `tachyon-bpf floor`: an empty eBPF program on the same cpu-clock "
            "event of every CPU at the same rate, run interleaved with the others. Its "
            "slowdown is what sampling at that rate costs on this machine before any work; "
            "× floor = workload wall time under tachyon-bpf / under the floor (same "
            "repetition). Floor ticks = the floor program's runs during the work per CPU "
            "and second (what the kernel delivers at that rate); samples/floor = tachyon-bpf "
            "samples in the work / (floor ticks per CPU-second × workload CPU time).")
        add("")
        hdr = ["rate", "floor slowdown", "tachyon-bpf slowdown", "tachyon-bpf × floor",
               "floor ticks/s per CPU", "samples/floor", "floor eBPF µs/run",
               "tachyon-bpf eBPF µs/run"]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for r in frates:
            add("| " + " | ".join([
                rate_label(r),
                fmt_stat(g("cpu_split", "floor", "3.11", r, "slowdown"), "%.3f"),
                fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "slowdown"), "%.3f"),
                fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "vs_floor"), "%.3f"),
                fmt_stat(g("cpu_split", "floor", "3.11", r, "floor_ticks_per_cpu_s"), "%.0f"),
                fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "received_vs_floor"), "%.3f"),
                fmt_stat(g("cpu_split", "floor", "3.11", r, "ebpf_us_per_run"), "%.3f"),
                fmt_stat(g("cpu_split", "tachyon-bpf", "3.11", r, "ebpf_us_per_run"), "%.2f"),
            ]) + " |")
        add("")
    # --- other workloads
    others = [w for w in ["stack50", "recursion", "threads", "asyncio", "ctxswitch"]
              if any(k[0] == w for k in groups)]
    if others:
        add("## Other workloads (one rate each: 10 kHz)")
        add("")
        add("Share truth is the split of CPU work. On `threads` and `ctxswitch` the wall-clock "
            "samplers (py-spy, Tachyon) also count time spent waiting for the GIL inside "
            "those functions, so their error there is partly by design.")
        add("")
        hdr = ["workload", "profiler", "slowdown", "× floor", "CPU µs/sample",
               "eBPF µs/sample", "RSS MiB", "share error pp", "samples/expected", "lost",
               "workload-specific"]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for w in others:
            for (wk, prof, py, rate), rs in sorted(groups.items(),
                                                  key=lambda kv: (kv[0][1] != "tachyon-bpf", kv[0])):
                if wk != w:
                    continue
                spec = ""
                if w == "recursion":
                    spec = "complete 1000-deep stacks %s; max depth seen %s" % (
                        fmt_stat(extra(rs, "complete_stacks"), "%.2f"),
                        fmt_stat(extra(rs, "max_recursive_frames"), "%.0f"))
                elif w == "stack50":
                    spec = "complete 50-deep stacks %s; eBPF µs/run %s" % (
                        fmt_stat(extra(rs, "complete_stacks"), "%.2f"),
                        fmt_stat(extra(rs, "ebpf_us_per_run"), "%.2f"))
                elif w == "threads":
                    spec = "CPU threads seen %s / 8" % fmt_stat(extra(rs, "threads_seen"), "%.0f")
                elif w == "ctxswitch":
                    spec = "switches/s %s" % fmt_stat(
                        [r.get("result", {}).get("switches_per_s") for r in rs], "%.0f")
                blind = sum(1 for r in rs if r.get("note"))
                if blind:
                    spec += "; %d run(s) with no sample in a truth function" % blind
                add("| " + " | ".join([
                    w, "%s (%s) %s" % (prof, py, rate_label(rate)),
                    fmt_stat(extra(rs, "slowdown"), "%.3f"),
                    fmt_stat(extra(rs, "vs_floor"), "%.3f"),
                    fmt_stat(extra(rs, "cpu_us_per_sample"), "%.1f"),
                    fmt_stat(extra(rs, "ebpf_us_per_sample"), "%.2f"),
                    fmt_stat(extra(rs, "profiler_rss_kib"), "%.1f", 1 / 1024),
                    fmt_stat(extra(rs, "share_error_pp_max"), "%.2f"),
                    fmt_stat(extra(rs, "received_ratio"), "%.2f"),
                    fmt_stat(extra(rs, "samples_lost"), "%.0f"), spec]) + " |")
        add("")
    # --- many processes
    if any(k[0] == "many_procs" for k in groups):
        add("## 20 processes at once (started after the profiler; %d Hz)" % args.many_rate)
        add("")
        add("tachyon-bpf: one `--all-python` process; py-spy: `--subprocesses`; Tachyon: "
            "`attach --subprocesses` (one profiler process per child).")
        add("")
        hdr = ["profiler", "covered", "profiler processes", "profiler CPU s (total)",
               "RSS MiB (sum)", "slowdown", "errors"]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for (wk, prof, py, rate), rs in sorted(groups.items()):
            if wk != "many_procs":
                continue
            add("| " + " | ".join([
                "%s (%s)" % (prof, py),
                "%s / 20" % fmt_stat(extra(rs, "covered"), "%.0f"),
                fmt_stat(extra(rs, "profiler_processes"), "%.0f"),
                fmt_stat(extra(rs, "profiler_cpu_total_s"), "%.2f"),
                fmt_stat(extra(rs, "profiler_rss_kib"), "%.1f", 1 / 1024),
                fmt_stat(extra(rs, "slowdown"), "%.3f"),
                str(sum(1 for r in rs if r.get("error")))]) + " |")
        add("")
    # --- targets
    add("## Targets (tachyon-bpf, judged on medians)")
    add("")
    add("| target | measured | |")
    add("|---|---|---|")
    for name, val, ok in targets(groups):
        add("| %s | %s | %s |" % (name, val, {True: "met", False: "**missed**",
                                               None: "not measured"}[ok]))
    add("")
    errs = [r for rs in groups.values() for r in rs if r.get("error")]
    if errs:
        add("## Runs with errors")
        add("")
        for r in errs:
            add("- %s / %s (%s) %s rep %d: %s" % (r["workload"], r["profiler"], r["python"],
                                                 rate_label(r["rate"]), r["rep"],
                                                 r["error"].replace("\n", " ")[:300]))
        add("")
    return "\n".join(L)


def targets(groups):
    """Issue #14's targets, against the floor where the platform sets one."""
    def m(wl, rate, field, py="3.11", prof="tachyon-bpf"):
        return med([r.get(field) for r in groups.get((wl, prof, py, rate), [])])

    def show(v, fmt):
        return "–" if v is None else fmt % v

    def chk(v, pred):
        return None if v is None else bool(pred(v))

    out = []
    v = m("cpu_split", 10000, "vs_floor")
    out.append(("60/30/10 at 10 kHz: within ×1.05 of the floor", show(v, "×%.3f"),
                chk(v, lambda x: x <= 1.05)))
    v = m("cpu_split", 10000, "cpu_us_per_sample")
    out.append(("10 kHz/CPU: profiler CPU per sample ≤ 5 µs incl. kernel", show(v, "%.2f µs"),
                chk(v, lambda x: x <= 5)))
    v = m("stack50", 10000, "ebpf_us_per_sample")
    out.append(("50-deep at 10 kHz: eBPF ≤ 2 µs per sample", show(v, "%.2f µs"),
                chk(v, lambda x: x <= 2)))
    v = m("recursion", 10000, "vs_floor")
    out.append(("1,000-deep at 10 kHz: within ×1.15 of the floor", show(v, "×%.3f"),
                chk(v, lambda x: x <= 1.15)))
    v = m("recursion", 10000, "ebpf_us_per_sample")
    out.append(("1,000-deep at 10 kHz: eBPF ≤ 10 µs per sample", show(v, "%.2f µs"),
                chk(v, lambda x: x <= 10)))
    v = m("recursion", 10000, "complete_stacks")
    out.append(("1,000-deep at 10 kHz: ≥ 99% complete stacks", show(v, "%.3f"),
                chk(v, lambda x: x >= 0.99)))
    lost = [r.get("samples_lost") for (w, p, py, rate), rs in groups.items()
            if p == "tachyon-bpf" and rate <= 10000 for r in rs]
    lost = [x for x in lost if x is not None]
    out.append(("0 samples lost (every run ≤ 10 kHz)",
                "%d lost in %d runs" % (sum(lost), len(lost)) if lost else "–",
                (sum(lost) == 0) if lost else None))
    for rate in (50000, 100000):
        v = m("cpu_split", rate, "vs_floor")
        out.append(("%s: within ×1.10 of the floor" % rate_label(rate), show(v, "×%.3f"),
                    chk(v, lambda x: x <= 1.10)))
        v = m("cpu_split", rate, "received_vs_floor")
        out.append(("%s: ≥ 95%% of the floor's ticks sampled" % rate_label(rate),
                    show(v, "%.3f"), chk(v, lambda x: x >= 0.95)))
    v = m("cpu_split", 10000, "profiler_rss_kib")
    out.append(("RSS at 10 kHz, one process ≤ 32 MiB", show(v and v / 1024, "%.1f MiB"),
                chk(v, lambda x: x <= 32 * 1024)))
    rs = [r for (w, p, py, rate), g in groups.items() if w == "many_procs" and p == "tachyon-bpf"
          for r in g]
    cov = med([r.get("covered") for r in rs])
    procs = med([r.get("profiler_processes") for r in rs])
    rss = med([r.get("profiler_rss_kib") for r in rs])
    out.append(("20 processes: all covered, one profiler process, ≤ 48 MiB RSS",
                "–" if cov is None else "%d/20, %d process(es), %.1f MiB" % (
                    cov, procs, (rss or 0) / 1024),
                None if cov is None else (cov >= 20 and procs == 1 and (rss or 0) <= 48 * 1024)))
    v = m("cpu_split", 10000, "share_error_pp_max")
    out.append(("accuracy at 10 kHz ≤ 1 pp (60/30/10)", show(v, "%.2f pp"),
                chk(v, lambda x: x <= 1)))
    return out


def environment(args):
    def read(p):
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            return None

    model = "?"
    for line in (read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"kernel": platform.release(), "cpu_model": model, "cpus": os.cpu_count(),
            "loadavg_start": read("/proc/loadavg"),
            "perf_event_max_sample_rate": read("/proc/sys/kernel/perf_event_max_sample_rate"),
            "bpf_stats_enabled_before": read("/proc/sys/kernel/bpf_stats_enabled")}


def render(path):
    with open(path) as f:
        d = json.load(f)
    args = argparse.Namespace(**d["args"])
    env = d["environment"]
    md = table(summarise(d["runs"], args), args, env)
    out = os.path.splitext(path)[0] + ".md"
    with open(out, "w") as f:
        f.write(md + "\n")
    print(md)
    log("wrote %s" % out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2 repetitions, ~1 s of work per run")
    ap.add_argument("--reps", type=int, help="interleaved repetitions (default 5; --quick: 2)")
    ap.add_argument("--work-seconds", type=float,
                    help="unprofiled work per run (default 4; --quick: 1)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only this workload (repeatable or comma-separated): cpu_split, "
                         "stack50, recursion, threads, asyncio, ctxswitch, many_procs")
    ap.add_argument("--profilers",
                    default="tachyon-bpf,floor,tachyon-bpf-wall,py-spy,py-spy-nb,tachyon",
                    help="comma-separated subset of tachyon-bpf,floor,tachyon-bpf-wall,py-spy,"
                         "py-spy-nb,tachyon (floor: `tachyon-bpf floor`, an empty eBPF program "
                         "at the same rate, beside every tachyon-bpf run; tachyon-bpf-wall: "
                         "wall mode, on the workloads with off-CPU time)")
    ap.add_argument("--bpf-rates", default="100,1000,10000,50000,100000")
    ap.add_argument("--peer-rates", default="100,1000,10000")
    ap.add_argument("--many-rate", type=int, default=100)
    ap.add_argument("--tachyon-bpf", default=os.path.join(ROOT, "target", "release", "tachyon-bpf"))
    ap.add_argument("--out-dir", default=os.path.join(BENCH, "results"))
    ap.add_argument("--keep-profiles", action="store_true",
                    help="keep every profiler output next to the results")
    ap.add_argument("--timeout", type=float, default=600, help="per-run workload timeout (s)")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the markdown table of an earlier run's JSON")
    args = ap.parse_args()
    if args.render:
        return render(args.render)
    args.reps = args.reps or (2 if args.quick else 5)
    args.work_seconds = args.work_seconds or (1.0 if args.quick else 4.0)
    args.profilers = [p.strip() for p in args.profilers.split(",") if p.strip()]
    args.bpf_rates = [int(x) for x in args.bpf_rates.split(",")]
    args.peer_rates = [int(x) for x in args.peer_rates.split(",")]
    only = {x for o in args.only for x in o.split(",") if x}

    if os.geteuid() != 0:
        sys.exit("bench: must run as root (eBPF, ptrace, bpf_stats)")
    args.pythons = find_pythons()
    for v, p in args.pythons.items():
        if not os.path.exists(p):
            sys.exit("bench: missing interpreter %s at %s (run scripts/provision-pythons.sh)" % (v, p))
    versions = {}
    tmp = tempfile.mkdtemp(prefix="tachyon-bench-")
    if "tachyon-bpf" in args.profilers or "floor" in args.profilers:
        if not os.path.exists(args.tachyon_bpf):
            sys.exit("bench: no %s (run cargo xtask build)" % args.tachyon_bpf)
        # a private copy: a concurrent rebuild must not swap binaries mid-run
        args.tachyon_bpf_bin = os.path.join(tmp, "tachyon-bpf")
        shutil.copy2(args.tachyon_bpf, args.tachyon_bpf_bin)
        h = subprocess.run([args.tachyon_bpf_bin, "--help"], capture_output=True, text=True).stdout
        args.tachyon_bpf_has_mode = "--mode" in h
        versions["tachyon-bpf"] = subprocess.run(
            [args.tachyon_bpf_bin, "--version"], capture_output=True, text=True).stdout.strip() + \
            " (binary of %s)" % time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(args.tachyon_bpf)))
    if "py-spy" in args.profilers or "py-spy-nb" in args.profilers:
        args.py_spy_bin, versions["py-spy"] = ensure_py_spy()
    if "tachyon" in args.profilers:
        versions["tachyon"] = ensure_tachyon(args.pythons["3.15"])
    for v, p in args.pythons.items():
        versions["python " + v] = p

    env = environment(args)
    env["versions"] = versions
    env["started"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    os.makedirs(args.out_dir, exist_ok=True)
    json_path = os.path.join(args.out_dir, stamp + ".json")
    md_path = os.path.join(args.out_dir, stamp + ".md")
    env["json"] = json_path

    stats_path = "/proc/sys/kernel/bpf_stats_enabled"
    old_stats = env["bpf_stats_enabled_before"]
    records = []
    try:
        if old_stats != "1":
            with open(stats_path, "w") as f:
                f.write("1")
        wls = [w for w in workload_defs(args) if not only or w["name"] in only]
        if not wls:
            sys.exit("bench: --only matched no workload")
        log("calibrating work sizes (target %.1f s per run)" % args.work_seconds)
        for wl in wls:
            wl["args"] = {}
            for py in ("3.11", "3.15"):
                if py == "3.15" and "tachyon" not in args.profilers:
                    continue
                wl["args"][py] = calibrate(args, wl, py)
            log("  %s: %s" % (wl["name"], wl["args"]))
        plan = build_plan(args, wls)
        n_runs = sum(len(r) for r in plan) * args.reps
        log("%d runs (%d repetitions); results in %s" % (n_runs, args.reps, md_path))
        i = 0
        t_start = time.monotonic()
        for rep in range(args.reps):
            for runs in plan:
                # rotate the order each repetition so no config always goes first
                k = rep % len(runs)
                for wl, py, prof, rate in runs[k:] + runs[:k]:
                    i += 1
                    tag = "r%d-%s-%s-%s-%d" % (rep, wl["name"],
                                               (prof.name if prof else "none").replace(" ", ""),
                                               py, rate)
                    rec = measure(args, wl, py, prof, rate, tmp, tag)
                    rec["rep"] = rep
                    records.append(rec)
                    log("[%d/%d %.0fs] %s: wall %s%s" % (
                        i, n_runs, time.monotonic() - t_start, tag,
                        "%.3f" % rec["result"]["wall"] if "result" in rec else "–",
                        (" samples %s" % rec.get("samples_work")) if prof else ""))
    finally:
        if old_stats != "1" and old_stats is not None:
            with open(stats_path, "w") as f:
                f.write(old_stats)
        env["loadavg_end"] = environment(args)["loadavg_start"]
        env["perf_event_max_sample_rate_end"] = environment(args)["perf_event_max_sample_rate"]
        groups = summarise(records, args)
        with open(json_path, "w") as f:
            json.dump({"environment": env, "args": {k: v for k, v in vars(args).items()},
                       "runs": records}, f, indent=1, default=str)
        md = table(groups, args, env)
        with open(md_path, "w") as f:
            f.write(md + "\n")
        shutil.copy2(md_path, os.path.join(args.out_dir, "latest.md"))
        if args.keep_profiles:
            shutil.copytree(tmp, os.path.join(args.out_dir, stamp + "-profiles"))
        shutil.rmtree(tmp, ignore_errors=True)
        print(md)
        log("wrote %s and %s" % (md_path, json_path))


if __name__ == "__main__":
    main()
