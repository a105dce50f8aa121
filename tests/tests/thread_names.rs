//! Issue #12: thread names are `threading`'s (`MainThread`, the names a
//! program gave, untruncated), on every interpreter, also for a thread
//! that exited during the run; a thread whose name cannot be read is
//! counted (`thread names unread`), never silently shown by its `comm`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use tachyon_e2e::*;

/// `tachyon-bpf replay REC --threads -o OUT` and the text written.
fn replay(rec: &std::path::Path, out: &std::path::Path) -> String {
    let o = Command::new(binary())
        .arg("replay")
        .arg(rec)
        .arg("--threads")
        .arg("-o")
        .arg(out)
        .output()
        .expect("run replay");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).expect("replayed profile")
}

/// `run --threads` in wall mode on `thread_names.py` (MainThread and 10
/// named threads, one exiting after 1 s), recorded; the names checked in
/// collapsed stacks and in the jsonl header replayed from the recording.
fn names_for(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let dir = TempDir::new("thread-names");
    let rec = dir.0.join("run.tbr");
    let script = root().join("tests/workloads/thread_names.py");
    let out = Command::new(binary())
        .args(["run", "--threads", "--mode", "wall", "--rate", "200", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&py.path)
        .arg(&script)
        .args(["3", "1"])
        .output()
        .expect("run tachyon-bpf");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{label}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let truth: Value = serde_json::from_str(stdout.lines().next().expect("the truth line"))
        .unwrap_or_else(|e| panic!("{label}: {e}: {stdout}"));
    let pid = truth["pid"].as_u64().expect("pid") as u32;
    let mut want: BTreeMap<u32, String> = BTreeMap::new();
    for t in truth["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .chain([&truth["main"]])
    {
        let tid = t["tid"].as_u64().expect("tid") as u32;
        want.insert(tid, t["name"].as_str().expect("name").to_string());
    }
    assert_eq!(want.len(), 11, "{label}: {truth}");
    assert_eq!(want.get(&pid).map(String::as_str), Some("MainThread"));
    let early = truth["early"].as_str().expect("early");

    let summary = parse_summary(&stderr);
    assert_eq!(
        summary.get("thread names unread"),
        Some(&0.0),
        "{label}: {stderr}"
    );
    assert_eq!(summary.get("threads"), Some(&11.0), "{label}: {stderr}");

    // Collapsed: each thread's frame is `thread NAME (tid N)`, and no
    // thread of the workload goes by another name (its comm).
    let text = replay(&rec, &dir.0.join("p.collapsed"));
    let stacks = parse_collapsed(&text);
    let root_frame = format!("(pid {pid})");
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for s in stacks.iter().filter(|s| s.frames[0].ends_with(&root_frame)) {
        seen.insert(s.frames[1].clone());
    }
    let expected: BTreeSet<String> = want
        .iter()
        .map(|(tid, name)| format!("thread {name} (tid {tid})"))
        .collect();
    assert_eq!(seen, expected, "{label}");
    assert!(
        seen.iter()
            .any(|f| f.starts_with(&format!("thread {early} "))),
        "{label}: the early thread keeps its name"
    );

    // jsonl: the header names every thread the same way.
    let text = replay(&rec, &dir.0.join("p.jsonl"));
    let header: Value = serde_json::from_str(text.lines().next().expect("header")).expect("json");
    let proc = header["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"].as_u64() == Some(pid as u64))
        .unwrap_or_else(|| panic!("{label}: no process {pid} in {header}"));
    let named: BTreeMap<u32, String> = proc["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .map(|t| {
            (
                t["tid"].as_u64().expect("tid") as u32,
                t["name"].as_str().expect("name").to_string(),
            )
        })
        .collect();
    assert_eq!(named, want, "{label}");
}

/// On every interpreter of the matrix.
mod every_interpreter {
    use super::*;
    tachyon_e2e::for_every_interpreter!(names_for);
}

/// A process that never imports `threading`: its main thread is still
/// `MainThread` (what `threading` calls it), nothing unread.
#[test]
fn without_threading_the_main_thread_is_main_thread() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let dir = TempDir::new("thread-names-plain");
    let out_file = dir.0.join("p.collapsed");
    let code = "import sys, time\nassert 'threading' not in sys.modules\nend = time.monotonic() + 1\nwhile time.monotonic() < end: pass\nprint(__import__('os').getpid())";
    let out = Command::new(binary())
        .args(["run", "--threads", "--mode", "cpu", "-o"])
        .arg(&out_file)
        .arg("--")
        .arg(&py.path)
        .args(["-c", code])
        .output()
        .expect("run tachyon-bpf");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pid");
    let stacks = parse_collapsed(&std::fs::read_to_string(&out_file).expect("profile"));
    let threads: BTreeSet<&str> = stacks.iter().map(|s| s.frames[1].as_str()).collect();
    assert_eq!(
        threads,
        BTreeSet::from([format!("thread MainThread (tid {pid})").as_str()]),
        "{stderr}"
    );
    assert_eq!(
        parse_summary(&stderr).get("thread names unread"),
        Some(&0.0)
    );
}
