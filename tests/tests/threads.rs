//! Issue #2, check 2: every one of 8 Python threads is seen, with its stack.

use std::collections::{BTreeMap, BTreeSet};

use tachyon_e2e::*;

fn threads_for(label: &'static str) {
    let Some(p) = profile_workload(
        label,
        "threads.py",
        &["30", "8"],
        &["--duration", "3", "--threads", "--mode", "cpu"],
    ) else {
        return;
    };
    let truth: serde_json::Value =
        serde_json::from_str(&p.workload.first_line).expect("truth json");
    let stacks = &p.stacks;

    // tid → functions seen on that thread's stacks.
    let mut seen: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for s in stacks {
        let tid: u32 = s.frames[1]
            .rsplit_once("(tid ")
            .and_then(|(_, t)| t.strip_suffix(')'))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no thread frame in {:?}", s.frames));
        let names = s.frames[2..]
            .iter()
            .filter_map(|f| parse_frame(f))
            .map(|f| f.name);
        seen.entry(tid).or_default().extend(names);
    }
    for t in truth["threads"].as_array().expect("threads") {
        let tid = t["tid"].as_u64().expect("tid") as u32;
        let func = t["function"].as_str().expect("function");
        let names = seen
            .get(&tid)
            .unwrap_or_else(|| panic!("{label}: thread {tid} ({func}) never seen; seen {seen:?}"));
        assert!(
            names.contains(func) && names.contains("spin"),
            "{label}: thread {tid} should run {func} → spin, saw {names:?}"
        );
        // No other worker's function shows on this thread.
        for other in truth["threads"].as_array().expect("threads") {
            let f = other["function"].as_str().expect("function");
            if f != func {
                assert!(!names.contains(f), "{label}: {f} on thread of {func}");
            }
        }
    }
}

#[test]
fn eight_threads_3_8() {
    threads_for("3.8");
}
#[test]
fn eight_threads_3_11_debian_static() {
    threads_for("3.11-debian");
}
#[test]
fn eight_threads_3_12() {
    threads_for("3.12");
}
#[test]
fn eight_threads_3_13() {
    threads_for("3.13");
}
#[test]
fn eight_threads_3_14() {
    threads_for("3.14");
}
#[test]
fn eight_threads_3_15() {
    threads_for("3.15");
}
#[test]
fn eight_threads_3_13_debug_build() {
    threads_for("3.13-dbg");
}
#[test]
fn eight_threads_3_14_debug_build() {
    threads_for("3.14-dbg");
}
#[test]
fn eight_threads_3_15_debug_build() {
    threads_for("3.15-dbg");
}
