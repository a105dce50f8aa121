//! Issue #12: `tachyon-bpf dump` reads every thread's stack from userspace,
//! running or asleep: a busy thread, one waiting on an Event (Python code
//! in `threading`), one blocked in a C call (`os.read`), on every
//! interpreter of the matrix.

use serde_json::Value;
use tachyon_e2e::*;

fn frames(thread: &Value) -> Vec<(String, String, u64)> {
    thread["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or("").to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn dump_for(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "dump_threads.py", &["30"]);
    let truth: Value = serde_json::from_str(&w.first_line).expect("truth");
    let file = truth["file"].as_str().expect("file");
    let line = |f: &str| truth["lines"][f].as_u64().expect("line");
    let out = run_binary(&["dump", "--pid", &w.pid().to_string(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{label}: {err}");
    let d: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(d["pid"].as_u64(), Some(w.pid() as u64));
    let threads = d["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 3, "{label}: {d}");
    assert!(
        threads.iter().filter(|t| t["holds_gil"] == true).count() <= 1,
        "{label}: {d}"
    );
    assert!(
        threads.iter().all(|t| t["truncated"] == false),
        "{label}: {d}"
    );
    let stacks: Vec<Vec<(String, String, u64)>> = threads.iter().map(frames).collect();

    // The busy main thread: busy ← main ← <module>, on its loop.
    let main = stacks
        .iter()
        .find(|s| s.first().is_some_and(|f| f.0 == "busy"))
        .unwrap_or_else(|| panic!("{label}: no thread in busy: {d}"));
    assert_eq!(main[0].1, file, "{label}");
    assert!(
        (line("busy") - 1..=line("busy")).contains(&main[0].2),
        "{label}: busy at line {}: {d}",
        main[0].2
    );
    let names: Vec<&str> = main.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, ["busy", "main", "<module>"], "{label}");

    // The sleeper: threading's wait ← nap, at its line.
    let sleeper = stacks
        .iter()
        .find(|s| s.iter().any(|f| f.0 == "nap"))
        .unwrap_or_else(|| panic!("{label}: no thread in nap: {d}"));
    let at = sleeper.iter().position(|f| f.0 == "nap").expect("nap");
    assert!(at >= 1, "{label}: nap is the leaf: {d}");
    assert!(
        sleeper[0].0.ends_with("wait"),
        "{label}: leaf {:?}",
        sleeper[0]
    );
    assert_eq!((sleeper[at].1.as_str(), sleeper[at].2), (file, line("nap")));

    // The reader: in_c_call is the leaf (os.read is C), at its line.
    let reader = stacks
        .iter()
        .find(|s| s.first().is_some_and(|f| f.0 == "in_c_call"))
        .unwrap_or_else(|| panic!("{label}: no thread in in_c_call: {d}"));
    assert_eq!(
        (reader[0].1.as_str(), reader[0].2),
        (file, line("in_c_call"))
    );

    // Each thread carries its threading name and native id.
    for (func, first) in [("busy", true), ("nap", false), ("in_c_call", true)] {
        let t = threads
            .iter()
            .find(|t| {
                let s = frames(t);
                match first {
                    true => s.first().is_some_and(|f| f.0 == func),
                    false => s.iter().any(|f| f.0 == func),
                }
            })
            .unwrap_or_else(|| panic!("{label}: no thread in {func}: {d}"));
        let want = &truth["names"][func];
        assert_eq!(t["thread_name"], want[0], "{label}: {func}: {d}");
        assert_eq!(t["native_id"], want[1], "{label}: {func}: {d}");
    }
    assert_eq!(truth["names"]["busy"][0], "MainThread");

    // Every frame named, with a line, but the `<native>` markers.
    for s in &stacks {
        for f in s {
            assert!(
                f.0 == "<native>" || (!f.1.is_empty() && f.2 > 0),
                "{label}: {f:?}"
            );
        }
    }

    // The text form says the same.
    let out = run_binary(&["dump", "--pid", &w.pid().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with(&format!("Process {}: ", w.pid()))
            && text.contains(&format!("    in_c_call ({file}:{})", line("in_c_call"))),
        "{text}"
    );
    // Threads read `Thread 0x… "name" (tid N)`.
    for (name, tid) in ["busy", "nap", "in_c_call"].map(|f| {
        let n = &truth["names"][f];
        (n[0].as_str().unwrap_or(""), n[1].as_u64().unwrap_or(0))
    }) {
        assert!(
            text.lines()
                .any(|l| l.starts_with("Thread 0x")
                    && l.contains(&format!(" \"{name}\" (tid {tid})"))),
            "{label}: {name}: {text}"
        );
    }
}

/// On every interpreter of the matrix.
mod every_interpreter {
    use super::*;
    tachyon_e2e::for_every_interpreter!(dump_for);
}

/// Something that is not Python is an error with the reason.
#[test]
fn dumping_a_process_that_is_not_python_fails() {
    if !require_profiler() {
        return;
    }
    let mut sleep = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .expect("sleep");
    let out = run_binary(&["dump", "--pid", &sleep.id().to_string()]);
    let _ = sleep.kill();
    let _ = sleep.wait();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Python process"));
}
