//! Issue #2, check 1: a 60/30/10 workload under every interpreter, profiled
//! by pid for 3 s at 1 kHz: shares within 3 pp, names, files and hot lines exact.

use std::collections::BTreeMap;

use tachyon_e2e::*;

fn shares_for(label: &'static str) {
    let Some(p) = profile_workload(
        label,
        "cpu_split.py",
        &["30"],
        &["--duration", "3", "--mode", "cpu"],
    ) else {
        return;
    };
    let truth: serde_json::Value =
        serde_json::from_str(&p.workload.first_line).expect("truth json");
    let (pid, stacks) = (&p.pid, &p.stacks);
    let file = truth["file"].as_str().expect("file");

    // Samples per leaf function, and per (function, line).
    let mut per_fn: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_line: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut total = 0;
    for s in stacks {
        assert!(
            s.frames[0].contains(&format!("(pid {pid})")),
            "stack not rooted at the process frame: {:?}",
            s.frames
        );
        let Some(leaf) = s.frames.last().and_then(|f| parse_frame(f)) else {
            continue;
        };
        if ["sixty", "thirty", "ten"].contains(&leaf.name.as_str()) {
            assert_eq!(leaf.file, file, "file of {}", leaf.name);
            *per_fn.entry(leaf.name.clone()).or_default() += s.count;
            *per_line.entry((leaf.name.clone(), leaf.line)).or_default() += s.count;
            total += s.count;
            // The caller chain is main → <module>.
            let callers: Vec<String> = s.frames[1..s.frames.len() - 1]
                .iter()
                .filter_map(|f| parse_frame(f).map(|l| l.name))
                .collect();
            assert_eq!(
                callers,
                vec!["<module>", "main"],
                "callers of {}",
                leaf.name
            );
        }
    }
    assert!(
        total >= 1000,
        "{label}: too few samples in the three functions: {total}\n{}",
        p.stderr
    );
    let summary = parse_summary(&p.stderr);
    assert!(summary["samples"] >= total as f64, "{}", p.stderr);
    assert_eq!(summary["samples lost"], 0.0, "{}", p.stderr);
    for (name, spec) in truth["functions"].as_object().expect("functions") {
        let want = spec["share"].as_f64().expect("share");
        let got = *per_fn.get(name).unwrap_or(&0) as f64 / total as f64;
        assert!(
            (got - want).abs() <= 0.03,
            "{label}: share of {name} is {got:.3}, truth {want} (±0.03); {per_fn:?}"
        );
        // The hot loop's line carries (nearly) all of the function's samples.
        let hot = spec["line"].as_u64().expect("line") as u32;
        let on_hot = *per_line.get(&(name.clone(), hot)).unwrap_or(&0) as f64;
        let all = *per_fn.get(name).unwrap_or(&0) as f64;
        assert!(
            on_hot / all >= 0.95,
            "{label}: only {on_hot}/{all} samples of {name} on its hot line {hot}: {per_line:?}"
        );
    }
}

#[test]
fn shares_3_8() {
    shares_for("3.8");
}
#[test]
fn shares_3_9() {
    shares_for("3.9");
}
#[test]
fn shares_3_10() {
    shares_for("3.10");
}
#[test]
fn shares_3_11() {
    shares_for("3.11");
}
#[test]
fn shares_3_11_debian_static() {
    shares_for("3.11-debian");
}
#[test]
fn shares_3_12() {
    shares_for("3.12");
}
#[test]
fn shares_3_13() {
    shares_for("3.13");
}
#[test]
fn shares_3_14() {
    shares_for("3.14");
}
#[test]
fn shares_3_15() {
    shares_for("3.15");
}
