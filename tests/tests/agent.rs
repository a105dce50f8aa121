//! `tachyon-bpf agent`: windows written to a directory, contiguous, each
//! sample in exactly one, every file read back by an independent pprof
//! decoder (Python protobuf).

use std::process::Command;

use tachyon_e2e::*;

/// The window files in `dir`, oldest first.
fn window_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn agent_windows_are_contiguous_and_add_up_to_the_run() {
    let py = interpreter("3.12");
    let Some(venv_python) = consumers_python() else {
        return;
    };
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let dir = TempDir::new("agent");
    let windows = dir.0.join("windows");
    let out = Command::new(binary())
        .args(["agent", "--pid", &w.pid().to_string(), "--interval", "2s"])
        .args(["--duration", "7", "--keep", "10", "--output-dir"])
        .arg(&windows)
        .output()
        .expect("run the agent");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let summary = parse_summary(&stderr);
    assert_eq!(summary["samples lost"], 0.0, "{stderr}");

    let files = window_files(&windows);
    // 7 s in 2 s windows: three whole ones and the rest at the stop.
    assert_eq!(files.len(), 4, "{files:?}\n{stderr}");
    let lines = stderr.lines().filter(|l| l.starts_with("window ")).count();
    assert_eq!(lines, files.len(), "one line per window: {stderr}");

    let decoded: Vec<serde_json::Value> = files
        .iter()
        .map(|f| run_consumer(&venv_python, "decode_pprof.py", f))
        .collect();
    let mut total = 0u64;
    for (i, d) in decoded.iter().enumerate() {
        let samples = d["total_samples"].as_u64().expect("total_samples");
        assert!(samples > 0, "window {i} is empty: {d}");
        total += samples;
        let functions: Vec<&str> = d["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(functions.contains(&"sixty"), "window {i}: {functions:?}");
        if i + 1 < decoded.len() {
            let end = d["time_nanos"].as_i64().expect("time")
                + d["duration_nanos"].as_i64().expect("duration");
            let next = decoded[i + 1]["time_nanos"].as_i64().expect("time");
            assert_eq!(end, next, "window {i} ends where window {} starts", i + 1);
            let secs = d["duration_nanos"].as_i64().expect("duration") as f64 / 1e9;
            assert!((secs - 2.0).abs() < 0.2, "window {i} lasted {secs} s");
        }
    }
    assert_eq!(
        total as f64, summary["samples"],
        "every sample in one window: {stderr}"
    );
}

#[test]
fn agent_keeps_only_the_newest_windows() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let dir = TempDir::new("agent-keep");
    let out = Command::new(binary())
        .args([
            "agent",
            "--pid",
            &w.pid().to_string(),
            "--interval",
            "500ms",
        ])
        .args(["--duration", "3", "--keep", "2", "--output-dir"])
        .arg(&dir.0)
        .output()
        .expect("run the agent");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let windows = stderr.lines().filter(|l| l.starts_with("window ")).count();
    assert!(windows >= 5, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "export: dir {windows} delivered, 0 failed attempts"
        )),
        "{stderr}"
    );
    let left = std::fs::read_dir(&dir.0).expect("dir").count();
    assert_eq!(left, 2, "{stderr}");
}

/// With tiny frame tables the agent compacts them after every window; the
/// windows stay complete and correct.
#[test]
fn agent_windows_survive_frame_table_compaction() {
    let py = interpreter("3.12");
    let Some(venv_python) = consumers_python() else {
        return;
    };
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let dir = TempDir::new("agent-compact");
    let out = Command::new(binary())
        .args(["agent", "--pid", &w.pid().to_string(), "--interval", "1s"])
        .args(["--duration", "4", "--output-dir"])
        .arg(&dir.0)
        .env("TACHYON_INTERNED_LIMIT", "5")
        .output()
        .expect("run the agent");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let compactions = parse_summary(&stderr)["frame tables compacted"];
    assert!(compactions >= 3.0, "{stderr}");
    let files = window_files(&dir.0);
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        let d = run_consumer(&venv_python, "decode_pprof.py", f);
        total += d["total_samples"].as_u64().expect("samples");
        // The last window is what was left at the stop: it may be tiny.
        if i + 1 == files.len() {
            continue;
        }
        let functions: Vec<&str> = d["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(
            functions.contains(&"sixty"),
            "{}: {functions:?}",
            f.display()
        );
        let deepest: Vec<String> = d["deepest_stack"]
            .as_array()
            .expect("stack")
            .iter()
            .map(|fr| fr[0].as_str().unwrap_or("").to_string())
            .collect();
        assert!(deepest.contains(&"main".to_string()), "{deepest:?}");
    }
    assert!(files.len() >= 4, "{files:?}");
    assert_eq!(total as f64, parse_summary(&stderr)["samples"], "{stderr}");
}
