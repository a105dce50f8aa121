//! Issue #2, check 1: a 60/30/10 workload under every interpreter, profiled
//! by pid for 3 s at 1 kHz: shares within 3 pp, names, files and hot lines exact.

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
    assert_cpu_split(
        label,
        &p.workload.first_line,
        &p.pid,
        &p.stacks,
        &p.stderr,
        true,
    );
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
#[test]
fn shares_3_13_debug_build() {
    shares_for("3.13-dbg");
}
#[test]
fn shares_3_14_debug_build() {
    shares_for("3.14-dbg");
}
#[test]
fn shares_3_15_debug_build() {
    shares_for("3.15-dbg");
}
