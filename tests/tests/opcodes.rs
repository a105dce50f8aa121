//! Issue #12, `--opcodes`: on a loop whose hot instruction is known
//! (`total = total + i` on a big int, `tests/workloads/opcodes.py`), that
//! instruction carries at least 80% of the line's samples on every
//! interpreter, and on 3.11+ the columns reported for every sampled
//! instruction of the loop are positions the interpreter's own
//! `co_positions()` gives (the add's exactly). Nothing lost, nothing
//! unsymbolized.

use std::collections::BTreeMap;

use serde_json::Value;
use tachyon_e2e::*;

/// The family of `a + b` on ints: `BINARY_ADD` until 3.10, `BINARY_OP`
/// (specialised as `BINARY_OP_ADD_INT` where the interpreter does so for
/// big ints) from 3.11.
fn add_family(minor: u32) -> &'static str {
    if minor <= 10 {
        "BINARY_ADD"
    } else {
        "BINARY_OP"
    }
}

/// `(line, end_line, col, end_col)` of an instruction, as `dis` or a jsonl
/// frame gives it.
fn position(v: &Value) -> (Option<u64>, Option<u64>, Option<u64>, Option<u64>) {
    (
        v["line"].as_u64(),
        v["end_line"].as_u64(),
        v["col"].as_u64(),
        v["end_col"].as_u64(),
    )
}

fn opcodes(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let workload = Workload::start(&py.path, "opcodes.py", &["30"]);
    let truth: Value = serde_json::from_str(&workload.first_line).expect("truth json");
    let hot_line = truth["line"].as_u64().expect("line");
    let file = truth["file"].as_str().expect("file");
    let pid = workload.pid().to_string();
    let run = profile(
        &[
            "--pid",
            &pid,
            "--rate",
            "1000",
            "--duration",
            "3",
            "--mode",
            "cpu",
            "--opcodes",
        ],
        "jsonl",
    );
    assert!(run.output.status.success(), "{label}: {}", run.stderr);
    let summary = parse_summary(&run.stderr);
    assert_eq!(summary["samples lost"], 0.0, "{label}: {}", run.stderr);
    assert_eq!(
        summary["frames unsymbolized"], 0.0,
        "{label}: {}",
        run.stderr
    );

    let want = add_family(py.minor);
    let add = truth["instructions"]
        .as_array()
        .expect("instructions")
        .iter()
        .find(|i| i["opname"] == want && i["line"].as_u64() == Some(hot_line))
        .unwrap_or_else(|| panic!("{label}: no {want} at line {hot_line}: {truth}"));
    let positions: Vec<_> = truth["instructions"]
        .as_array()
        .expect("instructions")
        .iter()
        .map(position)
        .collect();

    // Samples of the hot line by instruction family (and by name).
    let mut families: BTreeMap<String, u64> = BTreeMap::new();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    let mut checked = 0;
    for line in run.profile.expect("profile written").lines().skip(1) {
        let v: Value = serde_json::from_str(line).expect("a jsonl line");
        let samples = v["samples"].as_u64().expect("samples");
        let Some(leaf) = v["frames"].as_array().and_then(|f| f.last()) else {
            continue;
        };
        if leaf["function"] != "hot" || leaf["file"] != file {
            continue;
        }
        // A frame caught before its first instruction (3.11/3.12: the
        // instruction pointer is one unit before the code) has the
        // function's first line, no instruction and no columns.
        if leaf["line"] == leaf["first_line"] && leaf.get("col").is_none() {
            assert!(leaf.get("opcode").is_none(), "{label}: {leaf}");
            continue;
        }
        // Every other sampled instruction of `hot` is named (its bytecode
        // was read, or the kernel read it) ...
        let family = leaf["opcode_family"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: a frame without opcode: {leaf}"));
        // ... and on 3.11+ sits where co_positions() says an instruction is.
        if py.minor >= 11 {
            assert!(
                positions.contains(&position(leaf)),
                "{label}: {leaf} is at no position of co_positions(): {positions:?}"
            );
            // (`10 ** 20000` on the line above is a BINARY_OP too.)
            if family == want && leaf["line"].as_u64() == Some(hot_line) {
                assert_eq!(position(leaf), position(add), "{label}: columns of the add");
                checked += samples;
            }
        } else {
            assert!(leaf.get("col").is_none(), "{label}: a column before 3.11");
        }
        if leaf["line"].as_u64() == Some(hot_line) {
            *families.entry(family.to_string()).or_default() += samples;
            let name = leaf["opcode"].as_str().unwrap_or("?").to_string();
            *names.entry(name).or_default() += samples;
        }
    }
    let total: u64 = families.values().sum();
    assert!(
        total >= 100,
        "{label}: too few samples on line {hot_line}: {families:?}\n{}",
        run.stderr
    );
    let share = *families.get(want).unwrap_or(&0) as f64 / total as f64;
    assert!(
        share >= 0.80,
        "{label}: {want} has {share:.3} of line {hot_line}'s samples: {names:?}"
    );
    if py.minor >= 11 {
        assert!(checked > 0, "{label}: no add with columns");
    }
    eprintln!("{label}: line {hot_line}: {want} {share:.3} of {total}: {names:?}");
}

mod every_interpreter {
    use super::*;
    for_every_interpreter!(opcodes);
}

/// Without `--opcodes` nothing of this appears (and the kernel reads no
/// opcode): plain `name (file:line)` labels.
#[test]
fn without_the_flag_frames_are_unchanged() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let workload = Workload::start(&py.path, "opcodes.py", &["30"]);
    let pid = workload.pid().to_string();
    let (stacks, stderr) = cpu_profile("3.12", &["--pid", &pid]);
    assert!(!stacks.is_empty(), "{stderr}");
    for s in &stacks {
        for f in &s.frames {
            assert!(!f.contains(" ["), "an instruction without --opcodes: {f}");
        }
    }
    assert!(stacks.iter().any(|s| s
        .frames
        .last()
        .and_then(|f| parse_frame(f))
        .is_some_and(|f| f.name == "hot")));
}

/// One `--opcodes` run into a recording, replayed as collapsed stacks and
/// the text table: the add is `hot (file:line:col) [OPNAME]` in collapsed
/// stacks (no column before 3.11) and heads the text table's
/// instructions; the recording kept the instructions.
fn collapsed_and_text(label: &'static str, col: Option<u64>, add: &str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let workload = Workload::start(&py.path, "opcodes.py", &["30"]);
    let truth: Value = serde_json::from_str(&workload.first_line).expect("truth json");
    let hot_line = truth["line"].as_u64().expect("line");
    let file = truth["file"].as_str().expect("file");
    let pid = workload.pid().to_string();
    let dir = TempDir::new("opcodes");
    let tbr = dir.0.join("run.tbr");
    let tbr = tbr.to_str().expect("utf-8 path");
    let out = run_binary(&[
        "--pid",
        &pid,
        "--rate",
        "1000",
        "--duration",
        "3",
        "--mode",
        "cpu",
        "--opcodes",
        "-o",
        tbr,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{label}: {stderr}");
    let summary = parse_summary(&stderr);
    assert_eq!(summary["samples lost"], 0.0, "{label}: {stderr}");
    assert_eq!(summary["frames unsymbolized"], 0.0, "{label}: {stderr}");

    let replay = |format: &str| {
        let out = run_binary(&["replay", tbr, "-f", format, "-o", "-", "--limit", "0"]);
        assert!(
            out.status.success(),
            "{label}: replay {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let at = match col {
        Some(c) => format!("{file}:{hot_line}:{c}"),
        None => format!("{file}:{hot_line}"),
    };
    let want = format!("hot ({at}) [{add}]");
    let stacks = parse_collapsed(&replay("collapsed"));
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let on_add: u64 = stacks
        .iter()
        .filter(|s| s.frames.last() == Some(&want))
        .map(|s| s.count)
        .sum();
    assert!(
        on_add as f64 >= 0.5 * total as f64,
        "{label}: {on_add} of {total} samples end in `{want}`: {stacks:?}"
    );
    // Every other Python frame carries an instruction too.
    for s in &stacks {
        for f in s.frames.iter().filter(|f| f.contains(".py:")) {
            assert!(
                f.ends_with(']'),
                "{label}: a frame without instruction: {f}"
            );
        }
    }
    let text = replay("text");
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Instructions (--opcodes):"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let first = rows
        .first()
        .unwrap_or_else(|| panic!("{label}: no instructions: {text}"));
    assert!(
        first.ends_with(&format!("{at}(hot) {add}")),
        "{label}: the first instruction row is {first:?}\n{text}"
    );
}

#[test]
fn collapsed_and_text_on_3_12() {
    collapsed_and_text("3.12", Some(16), "BINARY_OP_ADD_INT");
}

#[test]
fn collapsed_and_text_on_3_9() {
    collapsed_and_text("3.9", None, "BINARY_ADD");
}
