//! Issue #2, check 3: recursion 1,000 deep; ≥99% of the samples in the leaf
//! have all 1,000 frames, in order.

use tachyon_e2e::*;

fn deep_for(label: &'static str) {
    let Some(p) = profile_workload(
        label,
        "recursion.py",
        &["30", "1000"],
        &["--duration", "3", "--mode", "cpu"],
    ) else {
        return;
    };
    let stacks = &p.stacks;
    let (mut leaf, mut complete) = (0u64, 0u64);
    for s in stacks {
        let frames: Vec<FrameLabel> = s.frames[1..]
            .iter()
            .filter_map(|f| parse_frame(f))
            .collect();
        if frames.last().map(|f| f.name.as_str()) != Some("leaf") {
            continue;
        }
        leaf += s.count;
        // <module>, main, then exactly 1000 recurse frames, then leaf.
        let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
        let want: Vec<&str> = ["<module>", "main"]
            .into_iter()
            .chain(std::iter::repeat_n("recurse", 1000))
            .chain(["leaf"])
            .collect();
        if names == want {
            complete += s.count;
        }
    }
    assert!(
        leaf >= 500,
        "{label}: too few leaf samples: {leaf}\n{}",
        p.stderr
    );
    let ratio = complete as f64 / leaf as f64;
    assert!(
        ratio >= 0.99,
        "{label}: only {complete}/{leaf} leaf samples complete"
    );
    let summary = parse_summary(&p.stderr);
    assert_eq!(summary["stacks truncated"], 0.0, "{}", p.stderr);
}

#[test]
fn recursion_1000_3_9() {
    deep_for("3.9");
}
#[test]
fn recursion_1000_3_11() {
    deep_for("3.11");
}
#[test]
fn recursion_1000_3_12() {
    deep_for("3.12");
}
#[test]
fn recursion_1000_3_13() {
    deep_for("3.13");
}
#[test]
fn recursion_1000_3_14() {
    deep_for("3.14");
}
#[test]
fn recursion_1000_3_15() {
    deep_for("3.15");
}
#[test]
fn recursion_1000_3_13_debug_build() {
    deep_for("3.13-dbg");
}
#[test]
fn recursion_1000_3_14_debug_build() {
    deep_for("3.14-dbg");
}
#[test]
fn recursion_1000_3_15_debug_build() {
    deep_for("3.15-dbg");
}
