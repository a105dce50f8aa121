//! `--debug-ebpf`: the kernel side says why a thread had no Python state,
//! and says nothing without the flag.

use tachyon_e2e::*;

/// Lines the kernel side logged (env_logger's `[DEBUG tachyon_ebpf]`).
fn kernel_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("[DEBUG tachyon_ebpf]"))
        .collect()
}

#[test]
fn debug_ebpf_explains_threads_without_python_state() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "native_thread.py", &["30"]);
    let pid = w.pid().to_string();
    let on = profile(
        &["--pid", &pid, "--duration", "2", "--debug-ebpf"],
        "collapsed",
    );
    assert!(on.output.status.success(), "{}", on.stderr);
    let summary = parse_summary(&on.stderr);
    let no_state = summary["ticks without thread state"];
    assert!(
        no_state > 0.0,
        "native threads have no state: {}",
        on.stderr
    );
    let lines = kernel_lines(&on.stderr);
    let expected = format!("pid {pid} tid ");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&expected) && l.contains("no PyThreadState has thread_id")),
        "no explanation in: {}",
        on.stderr
    );
    // One line per such tick (the log ring is far from full here).
    let explained = lines.iter().filter(|l| l.contains(&expected)).count();
    assert_eq!(explained as f64, no_state, "{}", on.stderr);
    // A thread found without state is remembered for 100 ms: most of its
    // ticks skip the thread-list walk, and say so.
    let remembered = lines
        .iter()
        .filter(|l| l.contains(&expected) && l.contains("no PyThreadState (remembered"))
        .count();
    assert!(remembered > 0, "{}", on.stderr);
    assert_eq!(
        Some(remembered as f64),
        summary
            .get("thread-state misses remembered (no walk)")
            .copied(),
        "{}",
        on.stderr
    );
    // The Python thread itself is profiled as usual.
    let text = on.profile.expect("profile");
    assert!(text.contains("busy (") || text.contains("main ("), "{text}");

    let off = profile(&["--pid", &pid, "--duration", "2"], "collapsed");
    assert!(off.output.status.success(), "{}", off.stderr);
    assert!(parse_summary(&off.stderr)["ticks without thread state"] > 0.0);
    assert!(kernel_lines(&off.stderr).is_empty(), "{}", off.stderr);
}
