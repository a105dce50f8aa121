//! Issue #12: `tachyon-bpf run` starts a command and profiles it from its
//! first Python instruction; `--subprocesses` follows shells and children
//! that already run; an empty profile is never a silent success.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tachyon_e2e::*;

/// `tachyon-bpf run ARGS… -o <dir>/p.collapsed`: the output and the profile.
fn run_command(args: &[&str], env: &[(&str, &str)]) -> (Output, Vec<Stack>) {
    let dir = TempDir::new("run");
    let out = dir.0.join("p.collapsed");
    let mut cmd = Command::new(binary());
    cmd.arg("run").arg("-o").arg(&out).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run tachyon-bpf");
    let stacks = parse_collapsed(&std::fs::read_to_string(&out).unwrap_or_default());
    (output, stacks)
}

/// `run -- python cpu_split.py 4 7`: shares within 3 pp, the 20 ms
/// start-up function present, exit status 7 passed through.
fn run_cpu_split(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let script = root().join("tests/workloads/cpu_split.py");
    let python = py.path.to_string_lossy().to_string();
    let script = script.to_string_lossy().to_string();
    let (out, stacks) = run_command(
        &[
            "--rate", "1000", "--mode", "cpu", "--", &python, &script, "4", "7",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(7), "{label}: {err}");
    let truth = String::from_utf8_lossy(&out.stdout).to_string();
    let truth = truth.lines().next().expect("the truth line");
    let pid = serde_json::from_str::<serde_json::Value>(truth).expect("json")["pid"]
        .as_u64()
        .expect("pid")
        .to_string();
    assert_cpu_split(label, truth, &pid, &stacks, &err, true);
    let warm_up: u64 = stacks
        .iter()
        .filter(|s| {
            s.frames
                .last()
                .and_then(|f| parse_frame(f))
                .is_some_and(|f| f.name == "warm_up")
        })
        .map(|s| s.count)
        .sum();
    assert!(
        warm_up >= 5,
        "{label}: the 20 ms start-up function has {warm_up} samples\n{err}"
    );
    let s = parse_summary(&err);
    assert_eq!(s["samples lost"], 0.0, "{err}");
    assert_eq!(s["stacks with read errors"], 0.0, "{err}");
}

/// On every interpreter of the matrix.
mod every_interpreter {
    use super::*;
    tachyon_e2e::for_every_interpreter!(run_cpu_split);
}

/// Under sudo (SUDO_UID/SUDO_GID set, running as root) the command runs as
/// the invoking user, with that user's groups, HOME and USER.
#[test]
fn under_sudo_the_command_runs_as_the_invoking_user() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let python = py.path.to_string_lossy().to_string();
    let code = "import os, time, json\n\
                print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), \
                os.environ.get('HOME'), os.environ.get('USER')]), flush=True)\n\
                end = time.time() + 0.5\n\
                while time.time() < end: pass\n";
    let (out, stacks) = run_command(
        &["--rate", "1000", "--", &python, "-c", code],
        &[
            ("SUDO_UID", "65534"),
            ("SUDO_GID", "65534"),
            ("SUDO_USER", "nobody"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let seen: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap_or(b""))
            .expect("what the command printed");
    assert_eq!(seen[0], 65534, "uid: {seen}");
    assert_eq!(seen[1], 65534, "euid: {seen}");
    assert_eq!(seen[2], 65534, "gid: {seen}");
    assert!(
        seen[3]
            .as_array()
            .is_some_and(|g| !g.iter().any(|g| g == 0)),
        "root's group kept: {seen}"
    );
    assert_eq!(seen[4], "/nonexistent", "HOME: {seen}");
    assert_eq!(seen[5], "nobody", "USER: {seen}");
    assert!(
        stacks.iter().map(|s| s.count).sum::<u64>() > 100,
        "the command was not profiled\n{err}"
    );
}

/// Ctrl-C (SIGINT to tachyon-bpf) goes to the command; the profile is
/// written when it exits, with its status (Python dies of the SIGINT).
#[test]
fn sigint_is_passed_to_the_command() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let dir = TempDir::new("run-int");
    let out = dir.0.join("p.collapsed");
    let child = Command::new(binary())
        .args(["run", "--rate", "1000", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&py.path)
        .arg(root().join("tests/workloads/cpu_split.py"))
        .arg("30")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tachyon-bpf");
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let result = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(result.status.code(), Some(130), "{err}");
    let text = std::fs::read_to_string(&out).expect("profile written");
    assert!(text.contains("sixty"), "{text}");
}

/// `--duration` ends the profiling while the command runs on: the profile
/// is written, the command is waited for, and its exit status is passed
/// through every time (two waiters of one pid once raced, and the loser
/// reported 127).
#[test]
fn the_exit_status_outlives_the_end_of_duration() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let script = root().join("tests/workloads/cpu_split.py");
    for round in 0..4 {
        let (out, stacks) = run_command(
            &[
                "--duration",
                "0.5",
                "--mode",
                "cpu",
                "--",
                &py.path.to_string_lossy(),
                &script.to_string_lossy(),
                "1.5",
                "5",
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "round {round}: {err}");
        assert!(
            err.contains("waiting for the command"),
            "round {round}: {err}"
        );
        assert!(!stacks.is_empty(), "round {round}: {err}");
    }
}

/// A command that cannot be executed fails with the reason, and nothing
/// is left running.
#[test]
fn a_missing_command_fails_at_once() {
    if !require_profiler() {
        return;
    }
    let (out, _) = run_command(&["--", "no-such-command-anywhere"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no-such-command-anywhere: command not found"),
        "{err}"
    );
}

/// `run --subprocesses -- bash -c 'sleep 0.3; exec python …'`: the shell is
/// followed, and the Python it becomes is profiled.
#[test]
fn run_follows_a_shell_that_execs_python() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let script = format!(
        "sleep 0.3; exec {} {} 2",
        py.path.display(),
        root().join("tests/workloads/cpu_split.py").display()
    );
    let (out, stacks) = run_command(
        &[
            "--rate",
            "1000",
            "--mode",
            "cpu",
            "--subprocesses",
            "--",
            "bash",
            "-c",
            &script,
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let in_sixty: u64 = stacks
        .iter()
        .filter(|s| s.frames.iter().any(|f| f.starts_with("sixty ")))
        .map(|s| s.count)
        .sum();
    assert!(in_sixty > 500, "{in_sixty} samples in sixty\n{err}");
}

/// The pids of the processes a collapsed profile has stacks of.
fn pids_in(stacks: &[Stack]) -> std::collections::BTreeSet<u32> {
    stacks
        .iter()
        .filter_map(|s| {
            let f = &s.frames[0];
            let at = f.rfind("(pid ")?;
            f[at + 5..].trim_end_matches(')').parse().ok()
        })
        .collect()
}

/// `--pid <shell> --subprocesses` on a shell whose three Python workers
/// already run, and that starts a fourth during the run: all four profiled.
#[test]
fn a_shell_and_its_python_workers_are_followed() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let worker = format!(
        "{} {} 4 >/dev/null",
        py.path.display(),
        root().join("tests/workloads/cpu_split.py").display()
    );
    let script = format!("for i in 1 2 3; do {worker} & done; sleep 1.5; {worker} & wait");
    let mut shell = Command::new("bash")
        .args(["-c", &script])
        .spawn()
        .expect("start the shell");
    std::thread::sleep(Duration::from_millis(700));
    let pid = shell.id().to_string();
    let run = profile(
        &[
            "--pid",
            &pid,
            "--subprocesses",
            "--duration",
            "3",
            "--rate",
            "200",
        ],
        "collapsed",
    );
    let _ = shell.kill();
    let _ = shell.wait();
    assert!(run.output.status.success(), "{}", run.stderr);
    let stacks = parse_collapsed(run.profile.as_deref().unwrap_or(""));
    let pids = pids_in(&stacks);
    assert_eq!(pids.len(), 4, "{pids:?}\n{}", run.stderr);
    assert!(
        !pids.contains(&shell.id()),
        "the shell itself has no Python"
    );
}

/// Without --subprocesses a shell is refused, as before.
#[test]
fn a_shell_without_subprocesses_is_refused() {
    if !require_profiler() {
        return;
    }
    let mut shell = Command::new("sleep").arg("10").spawn().expect("sleep");
    let out = run_binary(&["--pid", &shell.id().to_string(), "--duration", "1"]);
    let _ = shell.kill();
    let _ = shell.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a Python process"), "{err}");
}

/// A process whose only thread sleeps, profiled in CPU mode: nothing to
/// show, said on stderr, exit status 2, the (empty) profile still written.
#[test]
fn an_empty_profile_is_a_warning_and_a_failure() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let mut sleeper = Command::new(&py.path)
        .args(["-c", "import time; time.sleep(30)"])
        .spawn()
        .expect("start the sleeper");
    std::thread::sleep(Duration::from_millis(300));
    let run = profile(
        &[
            "--pid",
            &sleeper.id().to_string(),
            "--mode",
            "cpu",
            "--duration",
            "1",
        ],
        "collapsed",
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: the profile is empty: no sample of a Python thread"),
        "{}",
        run.stderr
    );
    assert!(run.profile.is_some(), "the profile was not written");
}

/// `--realtime-stats` into a pipe: one line a second (elapsed, samples/s,
/// lost, processes, threads); without it, nothing of the kind.
#[test]
fn realtime_stats_only_when_asked() {
    let Some(p) = profile_workload(
        "3.12",
        "cpu_split.py",
        &["30"],
        &["--duration", "3.5", "--mode", "cpu", "--realtime-stats"],
    ) else {
        return;
    };
    let lines: Vec<&str> = p
        .stderr
        .lines()
        .filter(|l| l.contains(" samples/s, "))
        .collect();
    assert!((3..=4).contains(&lines.len()), "{}", p.stderr);
    let last = lines[lines.len() - 1];
    // e.g. "tachyon-bpf: 3.0 s, 1000 samples/s, 0 lost, 1 process, 1 thread"
    let rate: f64 = last
        .split(", ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse().ok())
        .expect("samples/s");
    // A busy process at 1 kHz, sharing 2 CPUs with the other tests.
    assert!(rate > 100.0, "{last}");
    assert!(last.ends_with("0 lost, 1 process, 1 thread"), "{last}");
    let quiet = profile(
        &["--pid", &p.pid, "--duration", "1.5", "--mode", "cpu"],
        "collapsed",
    );
    assert!(!quiet.stderr.contains("samples/s"), "{}", quiet.stderr);
}
