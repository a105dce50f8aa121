//! Issue #2, check 7: bad input gives a one-line error and a non-zero exit;
//! a target that exits mid-profile and Ctrl-C still write the profile.

use std::process::{Command, Stdio};
use std::time::Duration;

use tachyon_e2e::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_error(out: &std::process::Output, needle: &str) {
    let err = stderr_of(out);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    let error_lines = err.lines().filter(|l| l.contains("error")).count();
    assert_eq!(error_lines, 1, "one error line expected: {err}");
}

#[test]
fn missing_pid() {
    if !require_profiler() {
        return;
    }
    let out = run_binary(&["--pid", "999999999", "--duration", "1"]);
    assert_error(&out, "no process with pid 999999999");
}

#[test]
fn nothing_to_profile() {
    if !require_profiler() {
        return;
    }
    let out = run_binary(&["--duration", "1"]);
    assert_error(&out, "nothing to profile");
}

#[test]
fn not_a_python_process() {
    if !require_profiler() {
        return;
    }
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let out = run_binary(&["--pid", &pid, "--duration", "1"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_error(
        &out,
        &format!("process {pid} (sleep) is not a Python process"),
    );
}

#[test]
fn unsupported_python_version() {
    let py37 = std::path::PathBuf::from(
        std::env::var("HOME").unwrap_or_else(|_| "/root".into())
            + "/.pyenv/versions/3.7.16/bin/python3.7",
    );
    if !require_profiler()
        || !require(
            py37.exists(),
            "pyenv 3.7.16 for the unsupported-version check",
        )
    {
        return;
    }
    let w = Workload::start(&py37, "short_lived.py", &["30", "old"]);
    let pid = w.pid().to_string();
    let out = run_binary(&["--pid", &pid, "--duration", "1"]);
    assert_error(&out, "runs Python 3.7");
    assert!(
        stderr_of(&out).contains("supported: 3.8 to 3.15"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn not_root() {
    if !require_profiler() {
        return;
    }
    // Copy the binary somewhere an unprivileged user can run it from.
    let dir = TempDir::new("unpriv");
    let bin = dir.0.join("tachyon-bpf");
    std::fs::copy(binary(), &bin).expect("copy binary");
    let _ = Command::new("chmod")
        .args(["-R", "a+rx"])
        .arg(&dir.0)
        .status();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(["--all-python", "--duration", "1"])
        .output()
        .expect("setpriv");
    assert_error(&out, "needs root");
}

#[test]
fn kernel_without_btf() {
    if !require_profiler() {
        return;
    }
    let out = Command::new(binary())
        .args(["--all-python", "--duration", "1"])
        .env("TACHYON_VMLINUX_BTF", "/nonexistent/vmlinux")
        .output()
        .expect("run");
    assert_error(&out, "this kernel has no BTF");
}

#[test]
fn target_exits_mid_profile_and_profile_is_kept() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "short_lived.py", &["1.5", "quits"]);
    let pid = w.pid().to_string();
    let started = std::time::Instant::now();
    let run = profile(
        &["--pid", &pid, "--duration", "20", "--rate", "1000"],
        "collapsed",
    );
    assert!(run.output.status.success(), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "profiler did not stop when its target exited"
    );
    let text = run.profile.expect("profile written");
    assert!(text.contains("busy_quits"), "{text}");
}

/// SIGINT, SIGTERM and SIGHUP each stop the run and write what it collected.
fn signal_writes_the_profile_so_far(sig: i32, name: &str) {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "short_lived.py", &["30", "interrupted"]);
    let dir = TempDir::new(name);
    let out = dir.0.join("p.collapsed");
    let child = Command::new(binary())
        .args(["--pid", &w.pid().to_string(), "--rate", "1000", "-o"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start profiler");
    std::thread::sleep(Duration::from_millis(2000));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
    let result = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "profiler exited with {}: {stderr}",
        result.status
    );
    assert!(stderr.contains("writing the profile"), "{stderr}");
    let text = std::fs::read_to_string(&out).expect("profile written after the signal");
    assert!(text.contains("busy_interrupted"), "{text}");
}

#[test]
fn sigint_writes_the_profile_so_far() {
    signal_writes_the_profile_so_far(libc::SIGINT, "sigint");
}

#[test]
fn sigterm_writes_the_profile_so_far() {
    signal_writes_the_profile_so_far(libc::SIGTERM, "sigterm");
}

#[test]
fn sighup_writes_the_profile_so_far() {
    signal_writes_the_profile_so_far(libc::SIGHUP, "sighup");
}

/// A process that maps an 8 GiB file of holes named like libpython: refused
/// as a binary at once, with a reason, and nothing read.
#[test]
fn a_sparse_file_posing_as_libpython_is_refused() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "sparse_lib.py", &["20"]);
    let started = std::time::Instant::now();
    let out = run_binary(&["--pid", &w.pid().to_string(), "--duration", "1"]);
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{err}");
    // The reason, not the file name: too large for a binary, or holes.
    assert!(
        err.contains("a binary may have") || err.contains("a sparse file ("),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// A process that forges a new code pointer every 0.2 ms, each to a copy
/// of a code object whose line table is 1 MiB (`forged_code.py`): the
/// profiler reads within its per-process budget, says so, stays small and
/// finishes on time.
#[test]
fn forged_code_pointers_are_held_to_the_read_budget() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "forged_code.py", &["30"]);
    let started = std::time::Instant::now();
    let child = Command::new(binary())
        .args([
            "--pid",
            &w.pid().to_string(),
            "--rate",
            "1000",
            "--mode",
            "cpu",
        ])
        .args(["--duration", "4", "-o", "-", "-f", "collapsed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tachyon-bpf");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while started.elapsed() < Duration::from_millis(3800) {
        if let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        }) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let summary = parse_summary(&err);
    let over = summary
        .get("code reads over budget")
        .copied()
        .unwrap_or(0.0);
    assert!(over > 100.0, "the budget never acted: {err}");
    assert!(summary["samples"] > 1000.0, "{err}");
    assert!(
        peak_kib > 0 && peak_kib < 128 * 1024,
        "peak RSS {peak_kib} KiB\n{err}"
    );
    assert!(
        took < Duration::from_secs(9),
        "4 s of sampling took {took:?}"
    );
}
