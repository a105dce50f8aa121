//! Issue #12: threads that are already asleep when profiling starts are
//! counted from the start in wall mode (their stacks read by the userspace
//! walker), on every interpreter of the matrix:
//!
//! * a process whose only thread sleeps for the whole run: all its time in
//!   the sleeping stack, frames and lines exact;
//! * ten threads blocked in `time.sleep`, on a lock and in `Event.wait`
//!   under distinct functions: each one present with its full wall time,
//!   under its own frames, with `--threads`;
//! * the same sleeping process in CPU mode: an empty profile is a warning
//!   and exit status 2;
//! * a thread paused under a 30-deep chain with a C call in the middle:
//!   the userspace walker (`dump --json`) and the kernel walker (its
//!   switch-outs in a wall-mode run) give the same stack frame by frame,
//!   and the two merge into one stack of the profile.

use std::time::Duration;

use serde_json::Value;
use tachyon_e2e::*;

/// Seconds each wall-mode run lasts.
const SECONDS: u64 = 3;

/// The workload's own account of itself.
struct Truth(Value);

impl Truth {
    fn of(w: &Workload) -> Truth {
        Truth(serde_json::from_str(&w.first_line).expect("truth json"))
    }

    fn file(&self) -> &str {
        self.0["file"].as_str().expect("file")
    }

    fn line(&self, marker: &str) -> u64 {
        self.0["lines"][marker]
            .as_u64()
            .unwrap_or_else(|| panic!("no line marker {marker}"))
    }

    /// The collapsed label of `function` at the line of `marker`.
    fn frame(&self, function: &str, marker: &str) -> String {
        format!("{function} ({}:{})", self.file(), self.line(marker))
    }
}

/// Starts `asleep.py MODE` and waits until its main thread is asleep.
fn start(py: &Interpreter, mode: &str) -> Workload {
    let w = Workload::start(&py.path, "asleep.py", &[mode]);
    let stat = format!("/proc/{}/stat", w.pid());
    let asleep = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('S'))
            })
            .unwrap_or(false)
    });
    assert!(asleep, "{}: the workload never went to sleep", py.label);
    w
}

/// A wall-mode run of `SECONDS` on `pid` into a collapsed file.
fn wall(label: &str, pid: u32, extra: &[&str]) -> (Vec<Stack>, String) {
    let pid = pid.to_string();
    let secs = SECONDS.to_string();
    let mut args = vec!["--pid", &pid, "--rate", "1000", "--duration", &secs];
    args.extend_from_slice(extra);
    let run = profile(&args, "collapsed");
    assert!(
        run.output.status.success(),
        "{label}: profiler failed ({:?}): {}",
        run.output.status.code(),
        run.stderr
    );
    let stacks = parse_collapsed(run.profile.as_deref().expect("profile written"));
    (stacks, run.stderr)
}

/// The run lost nothing and read every sleeping thread; `seeded` of them
/// were asleep at the start. Returns the run's duration in microseconds.
fn check_counters(label: &str, stderr: &str, seeded: f64) -> f64 {
    let s = parse_summary(stderr);
    let get = |k: &str| {
        *s.get(k)
            .unwrap_or_else(|| panic!("{label}: no `{k}` in the summary: {stderr}"))
    };
    assert_eq!(get("samples lost"), 0.0, "{label}: {stderr}");
    assert_eq!(get("frames unsymbolized"), 0.0, "{label}: {stderr}");
    assert_eq!(get("stacks with read errors"), 0.0, "{label}: {stderr}");
    assert_eq!(get("asleep threads unread"), 0.0, "{label}: {stderr}");
    assert_eq!(get("threads asleep at start"), seeded, "{label}: {stderr}");
    get("duration") * 1e6
}

/// Wall time is in microseconds in collapsed wall profiles.
const FULL_RUN_US: f64 = SECONDS as f64 * 1e6;

/// (a) The only thread sleeps for the whole run.
fn single(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "single");
    let t = Truth::of(&w);
    let (stacks, stderr) = wall(label, w.pid(), &[]);
    let duration_us = check_counters(label, &stderr, 1.0);
    let expected = [
        t.frame("<module>", "module"),
        t.frame("main", "main_single"),
        t.frame("outer", "outer"),
        t.frame("inner", "inner"),
        "<off-CPU: sleep>".to_string(),
    ];
    let process = format!("(pid {})", w.pid());
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let sleeping: u64 = stacks
        .iter()
        .filter(|s| s.frames[0].ends_with(&process) && s.frames[1..] == expected)
        .map(|s| s.count)
        .sum();
    assert!(
        sleeping as f64 >= 0.99 * total as f64,
        "{label}: {sleeping} of {total} µs in {expected:?}: {stacks:?}"
    );
    // All of the run, once.
    assert!(
        (0.9 * FULL_RUN_US..=1.02 * duration_us).contains(&(sleeping as f64)),
        "{label}: {sleeping} µs asleep in a run of {duration_us} µs"
    );
}

/// (b) Ten threads blocked under ten functions, and the main thread.
fn ten_threads(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "threads");
    let t = Truth::of(&w);
    let threads = t.0["threads"].as_object().expect("threads").clone();
    assert_eq!(threads.len(), 10, "{label}: {threads:?}");
    let (stacks, stderr) = wall(label, w.pid(), &["--threads"]);
    let duration_us = check_counters(label, &stderr, 11.0);
    let run = t.frame("run", "run");
    for (tid, what) in &threads {
        let name = what["name"].as_str().expect("name");
        let function = what["function"].as_str().expect("function");
        let own = t.frame(function, function);
        let mine: Vec<&Stack> = stacks
            .iter()
            .filter(|s| s.frames[1].ends_with(&format!("(tid {tid})")))
            .collect();
        let weight: u64 = mine
            .iter()
            .filter(|s| {
                let at = s.frames.iter().position(|f| *f == run);
                at.is_some_and(|i| s.frames.get(i + 1) == Some(&own))
            })
            .map(|s| s.count)
            .sum();
        assert!(
            (0.9 * FULL_RUN_US..=1.02 * duration_us).contains(&(weight as f64)),
            "{label}: thread {name} (tid {tid}) has {weight} µs under run → {own} in a run of {duration_us} µs: {mine:?}"
        );
        // Nothing of another worker's function on this thread.
        for (other, o) in &threads {
            let f = o["function"].as_str().expect("function");
            if other != tid {
                assert!(
                    mine.iter()
                        .all(|s| !s.frames.iter().any(|x| x.starts_with(&format!("{f} (")))),
                    "{label}: {f} on the thread of {function}"
                );
            }
        }
        // 3.14+ names the kernel thread after the threading name.
        if py.minor >= 14 {
            assert!(
                mine.iter()
                    .all(|s| s.frames[1] == format!("thread {name} (tid {tid})")),
                "{label}: {:?}",
                mine.first().map(|s| &s.frames[1])
            );
        }
    }
    // The main thread waits in main_waits for the whole run too.
    let main = t.frame("main_waits", "main_waits");
    let main_tid = format!("(tid {})", w.pid());
    let weight: u64 = stacks
        .iter()
        .filter(|s| s.frames[1].ends_with(&main_tid) && s.frames.contains(&main))
        .map(|s| s.count)
        .sum();
    assert!(
        weight as f64 >= 0.9 * FULL_RUN_US,
        "{label}: main thread {weight} µs in {main}"
    );
}

/// (c) CPU mode sees nothing of a sleeping process: a warning and exit 2.
fn cpu_mode_is_empty(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "single");
    let pid = w.pid().to_string();
    let run = profile(
        &["--pid", &pid, "--duration", "1", "--mode", "cpu"],
        "collapsed",
    );
    assert_eq!(run.output.status.code(), Some(2), "{label}: {}", run.stderr);
    assert!(
        run.stderr
            .contains("tachyon-bpf: warning: the profile is empty: no sample of a Python thread"),
        "{label}: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("threads asleep at start"),
        "{label}: cpu mode books no sleeping thread: {}",
        run.stderr
    );
    assert_eq!(run.profile.as_deref(), Some(""), "{label}: written, empty");
}

/// The frames of one thread of a `dump --json`, innermost first, as
/// collapsed labels.
fn dump_labels(label: &str, pid: u32) -> Vec<String> {
    let out = run_binary(&["dump", "--pid", &pid.to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let threads = d["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 1, "{label}: {d}");
    assert_eq!(threads[0]["truncated"], false, "{label}: {d}");
    threads[0]["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            let (name, file, line) = (
                f["name"].as_str().unwrap_or(""),
                f["file"].as_str().unwrap_or(""),
                f["line"].as_u64().unwrap_or(0),
            );
            match (file.is_empty(), line) {
                (true, _) => name.to_string(),
                (false, 0) => format!("{name} ({file})"),
                (false, line) => format!("{name} ({file}:{line})"),
            }
        })
        .collect()
}

/// (d) The userspace walker and the kernel walker agree frame by frame.
fn same_stack_both_ways(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "deep");
    let t = Truth::of(&w);
    let nap = t.frame("nap", "nap");
    // The thread is awake a few microseconds every 50 ms: read it asleep.
    let mut dumped = Vec::new();
    for _ in 0..5 {
        dumped = dump_labels(label, w.pid());
        if dumped.first() == Some(&nap) {
            break;
        }
    }
    assert_eq!(dumped.first(), Some(&nap), "{label}: {dumped:?}");
    // Root first, as in a profile.
    dumped.reverse();

    // What the chain is: <module>, main, d0 … d29 (with `<native>` for the
    // C call `sorted` between d14 and d15 on 3.12+), nap.
    let mut expected = vec![t.frame("<module>", "module"), t.frame("main", "main_deep")];
    for i in 0..30 {
        let d = format!("d{i}");
        expected.push(t.frame(&d, &d));
        if i == 14 && py.minor >= 12 {
            expected.push("<native>".to_string());
        }
    }
    expected.push(nap.clone());
    assert_eq!(dumped, expected, "{label}: the dump");

    let (stacks, stderr) = wall(label, w.pid(), &[]);
    check_counters(label, &stderr, 1.0);
    // Every time the thread went to sleep the kernel walked its stack; the
    // walker's stack of the start and those are one stack of the profile.
    let asleep: Vec<&Stack> = stacks
        .iter()
        .filter(|s| s.frames.last().is_some_and(|f| f == "<off-CPU: sleep>"))
        .collect();
    assert_eq!(asleep.len(), 1, "{label}: {asleep:#?}");
    let kernel = &asleep[0].frames[1..asleep[0].frames.len() - 1];
    assert_eq!(kernel, dumped.as_slice(), "{label}: kernel vs userspace");
    // Mostly the kernel's switch-outs: the walker's own share is the
    // first 50 ms at most.
    assert!(
        asleep[0].count as f64 >= 0.8 * FULL_RUN_US,
        "{label}: {} µs asleep",
        asleep[0].count
    );
}

mod only_thread_asleep {
    use super::*;
    tachyon_e2e::for_every_interpreter!(single);
}

mod ten_threads_asleep {
    use super::*;
    tachyon_e2e::for_every_interpreter!(ten_threads);
}

mod cpu_mode_empty {
    use super::*;
    tachyon_e2e::for_every_interpreter!(cpu_mode_is_empty);
}

mod both_walkers_agree {
    use super::*;
    tachyon_e2e::for_every_interpreter!(same_stack_both_ways);
}

/// The weight of the sleeping stack of `asleep.py single` (process `pid`)
/// in a collapsed wall profile, in microseconds.
fn asleep_in_inner(stacks: &[Stack], t: &Truth, pid: u32) -> u64 {
    let (inner, process) = (t.frame("inner", "inner"), format!("(pid {pid})"));
    stacks
        .iter()
        .filter(|s| {
            s.frames.iter().any(|f| f.ends_with(&process))
                && s.frames.contains(&inner)
                && s.frames.last().is_some_and(|f| f == "<off-CPU: sleep>")
        })
        .map(|s| s.count)
        .sum()
}

/// A process found by `--all-python`'s start-up scan is booked the same
/// way (other Python processes on the machine are profiled too; only this
/// one is looked at).
#[test]
fn a_process_found_by_all_python_is_counted_from_the_start() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "single");
    let t = Truth::of(&w);
    let secs = SECONDS.to_string();
    let run = profile(&["--all-python", "--duration", &secs], "collapsed");
    assert!(run.output.status.success(), "{}", run.stderr);
    let stacks = parse_collapsed(run.profile.as_deref().unwrap_or(""));
    let weight = asleep_in_inner(&stacks, &t, w.pid());
    assert!(
        weight as f64 >= 0.9 * FULL_RUN_US,
        "{weight} µs in inner: {}",
        run.stderr
    );
    assert!(
        parse_summary(&run.stderr)["threads asleep at start"] >= 1.0,
        "{}",
        run.stderr
    );
}

/// A shell followed with `--subprocesses` whose Python child is already
/// asleep: the child is found at the start and counted from then.
#[test]
fn an_asleep_child_of_a_followed_shell_is_counted_from_the_start() {
    use std::io::BufRead;
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let script = root().join("tests/workloads/asleep.py");
    let mut shell = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' '{}' single & wait",
            py.path.display(),
            script.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("bash");
    let mut first = String::new();
    std::io::BufReader::new(shell.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the child's truth");
    let t = Truth(serde_json::from_str(&first).expect("truth json"));
    let child = t.0["pid"].as_u64().expect("pid") as u32;
    let stat = format!("/proc/{child}/stat");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") S "))
    }));
    let (shell_pid, secs) = (shell.id().to_string(), SECONDS.to_string());
    let run = profile(
        &["--pid", &shell_pid, "--subprocesses", "--duration", &secs],
        "collapsed",
    );
    // SAFETY: kill has no memory preconditions; the child is ours.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
    let _ = shell.kill();
    let _ = shell.wait();
    assert!(run.output.status.success(), "{}", run.stderr);
    let stacks = parse_collapsed(run.profile.as_deref().unwrap_or(""));
    let weight = asleep_in_inner(&stacks, &t, child);
    assert!(
        weight as f64 >= 0.9 * FULL_RUN_US,
        "{weight} µs in inner: {stacks:?}"
    );
    check_counters("3.12 child", &run.stderr, 1.0);
}

/// The agent cuts windows: a thread asleep across them weighs its time in
/// each one, not all of it in the window where it wakes (or the last).
#[test]
fn a_thread_asleep_across_agent_windows_weighs_in_each() {
    let py = interpreter("3.12");
    let Some(venv_python) = consumers_python() else {
        return;
    };
    if !require_profiler() || !py.require() {
        return;
    }
    let w = start(&py, "single");
    let dir = TempDir::new("asleep-agent");
    let windows = dir.0.join("windows");
    let out = std::process::Command::new(binary())
        .args(["agent", "--pid", &w.pid().to_string(), "--interval", "1s"])
        .args(["--duration", "4.5", "--output-dir"])
        .arg(&windows)
        .output()
        .expect("run the agent");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let mut files: Vec<_> = std::fs::read_dir(&windows)
        .expect("windows")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}\n{stderr}");
    for (i, f) in files.iter().enumerate() {
        let d = run_consumer(&venv_python, "decode_pprof.py", f);
        let functions = d["functions"].to_string();
        assert!(functions.contains("\"inner\""), "window {i}: {d}");
        if i + 1 < files.len() {
            // A whole window: the thread was asleep all of it.
            let weight = d["total_nanoseconds"].as_i64().expect("weight") as f64;
            let length = d["duration_nanos"].as_i64().expect("duration") as f64;
            assert!(
                (0.9 * length..=1.05 * length).contains(&weight),
                "window {i}: {weight} ns asleep in {length} ns"
            );
        }
    }
}
