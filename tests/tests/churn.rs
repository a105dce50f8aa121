//! Issue #2, check 5: code-object churn never attributes a sample to a wrong
//! function (the previous iteration's function has the other parity).

use tachyon_e2e::*;

fn churn_for(label: &'static str) {
    let Some(p) = profile_workload(
        label,
        "churn.py",
        &["30"],
        &["--duration", "3", "--mode", "cpu"],
    ) else {
        return;
    };
    let stacks = &p.stacks;
    let mut checked = 0;
    for s in stacks {
        let names: Vec<String> = s
            .frames
            .iter()
            .filter_map(|f| parse_frame(f))
            .map(|f| f.name)
            .collect();
        let Some(pos) = names.iter().position(|n| n.starts_with("churn_")) else {
            continue;
        };
        let k: u64 = names[pos]["churn_".len()..].parse().expect("churn number");
        let runner = names.get(pos.wrapping_sub(1)).map(String::as_str);
        let want = if k % 2 == 1 {
            "odd_runner"
        } else {
            "even_runner"
        };
        assert_eq!(
            runner,
            Some(want),
            "{label}: wrong function for its runner: {:?}",
            s.frames
        );
        checked += s.count;
    }
    assert!(
        checked >= 200,
        "{label}: only {checked} churn samples\n{}",
        p.stderr
    );
}

#[test]
fn churn_3_8() {
    churn_for("3.8");
}
#[test]
fn churn_3_10() {
    churn_for("3.10");
}
#[test]
fn churn_3_11() {
    churn_for("3.11");
}
#[test]
fn churn_3_12() {
    churn_for("3.12");
}
#[test]
fn churn_3_14() {
    churn_for("3.14");
}
