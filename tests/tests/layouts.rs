//! Issue #13: a 3.13+ interpreter with no row in the layout table is read
//! with a layout built from its own `_Py_DebugOffsets`. The test-only
//! switch `TACHYON_TEST_NO_LAYOUT_ROWS=1` hides the rows; the same process
//! is profiled both ways and must give the same stacks.

use std::collections::BTreeMap;
use std::process::Command;

use tachyon_e2e::*;

/// One 3 s CPU profile of `pid` at 1 kHz, with the table rows on or off:
/// (stacks, stderr).
fn profile_pid(pid: &str, rows_off: bool) -> (Vec<Stack>, String) {
    let dir = TempDir::new("layouts");
    let out = dir.0.join("p.collapsed");
    let mut cmd = Command::new(binary());
    cmd.args([
        "--pid",
        pid,
        "--duration",
        "3",
        "--rate",
        "1000",
        "--mode",
        "cpu",
    ])
    .arg("-o")
    .arg(&out)
    .env("RUST_LOG", "tachyon::python::process=debug");
    if rows_off {
        cmd.env("TACHYON_TEST_NO_LAYOUT_ROWS", "1");
    }
    let o = cmd.output().expect("run tachyon-bpf");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    let text = std::fs::read_to_string(&out).expect("profile written");
    (parse_collapsed(&text), err)
}

/// Samples per stack (as text), as shares of the total.
fn shares(stacks: &[Stack]) -> BTreeMap<String, f64> {
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let mut m = BTreeMap::new();
    for s in stacks {
        *m.entry(s.frames.join(";")).or_insert(0.0) += s.count as f64 / total.max(1) as f64;
    }
    m
}

fn same_stacks_without_rows(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let pid = w.pid().to_string();
    let (with_rows, err_rows) = profile_pid(&pid, false);
    let (without, err) = profile_pid(&pid, true);
    assert!(
        !err_rows.contains("built from its _Py_DebugOffsets"),
        "{label}: the row was not used: {err_rows}"
    );
    assert!(
        err.contains("read with a layout built from its _Py_DebugOffsets"),
        "{label}: the switch did not take: {err}"
    );
    for (stacks, e) in [(&with_rows, &err_rows), (&without, &err)] {
        assert_cpu_split(label, &w.first_line, &pid, stacks, e, true);
        let s = parse_summary(e);
        for counter in ["frames unsymbolized", "stacks with read errors"] {
            assert_eq!(s[counter], 0.0, "{label}: {counter}\n{e}");
        }
    }
    // The same stacks: every stack with at least 1% of either run is in
    // both, with shares within 3 pp.
    let (a, b) = (shares(&with_rows), shares(&without));
    for (stack, &share) in a.iter().chain(b.iter()) {
        if share < 0.01 {
            continue;
        }
        let (x, y) = (
            a.get(stack).copied().unwrap_or(0.0),
            b.get(stack).copied().unwrap_or(0.0),
        );
        assert!(
            (x - y).abs() <= 0.03,
            "{label}: {stack}: {x:.3} with the row, {y:.3} without"
        );
    }
}

#[test]
fn same_stacks_without_rows_3_13() {
    same_stacks_without_rows("3.13");
}
#[test]
fn same_stacks_without_rows_3_14() {
    same_stacks_without_rows("3.14");
}
#[test]
fn same_stacks_without_rows_3_15() {
    same_stacks_without_rows("3.15");
}
#[test]
fn same_stacks_without_rows_3_15_debug_build() {
    same_stacks_without_rows("3.15-dbg");
}

/// A debug build of a version without `_Py_DebugOffsets` (Debian 12's
/// `python3.11d`): one line saying why it is not profiled, by pid; a
/// warning, not silence, with `--all-python`.
#[test]
fn a_debug_build_before_3_13_is_refused_with_the_reason() {
    let py = interpreter("3.11-dbg");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["20"]);
    let pid = w.pid().to_string();
    let out = run_binary(&["--pid", &pid, "--duration", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("process {pid}:"))
            && err.contains("is a debug build of Python 3.11")
            && err.contains("from 3.13 on"),
        "{err}"
    );
    let out = run_binary(&["--all-python", "--duration", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("process {pid}:")) && l.contains("debug build")),
        "{err}"
    );
}
