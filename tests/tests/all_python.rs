//! Issue #2, check 4: `--all-python` with 20 processes, 5 of them started
//! after the profiler (one living only 1 s): all 20 appear, correct stacks.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tachyon_e2e::*;

#[test]
fn twenty_processes_five_started_later() {
    let py = interpreter("3.12");
    let py8 = interpreter("3.8");
    if !require_profiler() || !py.require() || !py8.require() {
        return;
    }
    // 15 before: alternate interpreters so several versions run at once.
    let mut before = Vec::new();
    for i in 0..15 {
        let p = if i % 2 == 0 { &py } else { &py8 };
        let tag = format!("early{i}");
        before.push((
            Workload::start(&p.path, "short_lived.py", &["30", &tag]),
            tag,
        ));
    }
    let dir = TempDir::new("allpy");
    let out = dir.0.join("p.collapsed");
    let mut prof = Command::new(binary())
        .args([
            "--all-python",
            "--duration",
            "8",
            "--rate",
            "1000",
            "--mode",
            "cpu",
            "-o",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start profiler");
    let mut stderr = BufReader::new(prof.stderr.take().expect("stderr"));
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read") > 0 && !line.contains("sampling") {
        line.clear();
    }
    assert!(line.contains("sampling"), "profiler did not start: {line}");
    // 5 after, one living only 1 s.
    let mut after = Vec::new();
    for i in 0..5 {
        let p = if i % 2 == 0 { &py } else { &py8 };
        let tag = format!("late{i}");
        let secs = if i == 0 { "1" } else { "4" };
        after.push((
            Workload::start(&p.path, "short_lived.py", &[secs, &tag]),
            tag,
        ));
    }
    let mut rest = String::new();
    for l in stderr.lines() {
        rest.push_str(&l.unwrap_or_default());
        rest.push('\n');
    }
    let status = prof.wait().expect("wait");
    assert!(status.success(), "{rest}");
    let stacks = parse_collapsed(&std::fs::read_to_string(&out).expect("profile"));
    for (w, tag) in before.iter().chain(after.iter()) {
        let root = format!("(pid {})", w.pid());
        let func = format!("busy_{tag}");
        let n: u64 = stacks
            .iter()
            .filter(|s| s.frames[0].ends_with(&root))
            .filter(|s| {
                s.frames.last().and_then(|f| parse_frame(f)).map(|f| f.name) == Some(func.clone())
            })
            .map(|s| s.count)
            .sum();
        assert!(
            n >= 5,
            "process {} ({func}) has {n} samples in {func}\n{rest}",
            w.pid()
        );
        // Nothing of another workload under this process.
        for s in stacks.iter().filter(|s| s.frames[0].ends_with(&root)) {
            for f in s.frames.iter().filter_map(|f| parse_frame(f)) {
                assert!(
                    !f.name.starts_with("busy_") || f.name == func,
                    "{} under pid {}",
                    f.name,
                    w.pid()
                );
            }
        }
    }
    let summary = parse_summary(&rest);
    assert!(summary["processes"] >= 20.0, "{rest}");
}
