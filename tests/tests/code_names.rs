//! Issue #12, "frames that are not right" and "short-lived processes lose
//! their names": code objects that are freed right after they ran (module
//! bodies during imports) and processes that live 50 ms are named from the
//! kernel's code reports, not `<unknown>`; every frame has a line; no stack
//! is just its process; the 3.13+ `__init__` shim frame is hidden.

use std::collections::BTreeSet;
use std::process::Command;

use tachyon_e2e::*;

/// `<unknown>` may be in at most this share of the samples (0.1%).
const UNKNOWN_PER_MILLE: u64 = 1;

/// `tachyon-bpf run --rate 4000 --mode cpu [extra…] -- PYTHON -B SCRIPT
/// ARGS…`: (exit status, the workload's JSON line, stacks, stderr).
fn run_workload(
    label: &'static str,
    extra: &[&str],
    script: &str,
    args: &[&str],
) -> Option<(Option<i32>, serde_json::Value, Vec<Stack>, String)> {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return None;
    }
    let dir = TempDir::new("code-names");
    let out = dir.0.join("p.collapsed");
    let script = root().join("tests/workloads").join(script);
    let output = Command::new(binary())
        .arg("run")
        .arg("-o")
        .arg(&out)
        .args(["--rate", "4000", "--mode", "cpu"])
        .args(extra)
        .arg("--")
        .arg(&py.path)
        // No bytecode written into the interpreter's library.
        .arg("-B")
        .arg(&script)
        .args(args)
        .output()
        .expect("run tachyon-bpf");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let truth = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{label}: no JSON line from the workload: {stdout}\n{stderr}"));
    let stacks = parse_collapsed(&std::fs::read_to_string(&out).unwrap_or_default());
    Some((output.status.code(), truth, stacks, stderr))
}

/// What every profile of these workloads must hold: `<unknown>` in under
/// 0.1% of the samples (and as few unreadable stacks), a line on every
/// Python frame, no stack that is only its process, no `__init__` shim
/// frame, nothing lost, and code reports that named frames.
fn assert_names(label: &str, stacks: &[Stack], stderr: &str) {
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    assert!(total >= 200, "{label}: only {total} samples\n{stderr}");
    let with = |marker: &str| -> u64 {
        stacks
            .iter()
            .filter(|s| s.frames.iter().any(|f| f == marker))
            .map(|s| s.count)
            .sum()
    };
    let unknown = with("<unknown>");
    assert!(
        unknown * 1000 <= total * UNKNOWN_PER_MILLE,
        "{label}: <unknown> in {unknown} of {total} samples\n{stderr}"
    );
    let unreadable = with("<stack unreadable>");
    assert!(
        unreadable * 1000 <= total * UNKNOWN_PER_MILLE,
        "{label}: {unreadable} of {total} stacks unreadable\n{stderr}"
    );
    for s in stacks {
        assert!(
            s.frames.len() > 1,
            "{label}: a stack of only its process: {:?}",
            s.frames
        );
        // Frame 0 is the process; the rest are Python frames
        // (`name (file:line)`) or markers (`<native>`, `<GC>`).
        for f in &s.frames[1..] {
            if !f.contains(" (") {
                assert!(f.starts_with('<'), "{label}: odd frame {f:?}");
                continue;
            }
            let parsed = parse_frame(f);
            assert!(
                parsed.as_ref().is_some_and(|p| p.line > 0),
                "{label}: a frame without a line: {f:?} in {:?}",
                s.frames
            );
            // A code object named from a stale entry (one freed and
            // another made at its address) shows another file's lines.
            if let Some(p) = parsed.as_ref() {
                if let Some(n) = line_count(&p.file) {
                    assert!(
                        p.line <= n,
                        "{label}: line {} of {} ({n} lines): {:?}",
                        p.line,
                        p.file,
                        s.frames
                    );
                }
            }
            assert!(
                !(f.starts_with("__init__ (__init__")),
                "{label}: the interpreter's __init__ shim is shown: {:?}",
                s.frames
            );
        }
    }
    let summary = parse_summary(stderr);
    assert_eq!(summary["samples lost"], 0.0, "{label}: {stderr}");
    assert_eq!(summary["code reports lost"], 0.0, "{label}: {stderr}");
    assert!(summary["code reports"] > 0.0, "{label}: {stderr}");
    assert!(
        stderr.contains(" named from them)") && !stderr.contains("(0 named from them)"),
        "{label}: no frame was named from a code report\n{stderr}"
    );
    assert!(
        summary["frames unsymbolized"] * 1000.0 <= total as f64 * UNKNOWN_PER_MILLE as f64,
        "{label}: {stderr}"
    );
}

/// Lines in the source file at `path` (`None`: not a file on disk).
fn line_count(path: &str) -> Option<u32> {
    thread_local! {
        static COUNTS: std::cell::RefCell<std::collections::HashMap<String, Option<u32>>> =
            Default::default();
    }
    COUNTS.with(|c| {
        *c.borrow_mut().entry(path.to_string()).or_insert_with(|| {
            let text = std::fs::read(path).ok()?;
            Some(text.split(|&b| b == b'\n').count() as u32)
        })
    })
}

/// Samples whose leaf is the body of a module being imported (a code
/// object freed once its import is done).
fn module_bodies(stacks: &[Stack]) -> u64 {
    stacks
        .iter()
        .filter(|s| {
            s.frames.iter().skip(2).any(|f| {
                parse_frame(f)
                    .is_some_and(|p| p.name == "<module>" && !p.file.contains("import_heavy"))
            })
        })
        .map(|s| s.count)
        .sum()
}

/// About 300 standard-library modules imported at 4 kHz.
fn import_heavy(label: &'static str) {
    let Some((status, truth, stacks, stderr)) =
        run_workload(label, &[], "import_heavy.py", &["300"])
    else {
        return;
    };
    assert_eq!(status, Some(0), "{label}: {stderr}");
    let imported = truth["imported"].as_u64().unwrap_or(0);
    assert!(imported >= 250, "{label}: only {imported} modules imported");
    let bodies = module_bodies(&stacks);
    assert!(
        bodies >= 50,
        "{label}: only {bodies} samples in imported module bodies\n{stderr}"
    );
    assert_names(label, &stacks, &stderr);
}

/// The pids a profile has stacks of.
fn pids_in(stacks: &[Stack]) -> BTreeSet<u32> {
    stacks
        .iter()
        .filter_map(|s| {
            let f = &s.frames[0];
            let at = f.rfind("(pid ")?;
            f[at + 5..].trim_end_matches(')').parse().ok()
        })
        .collect()
}

/// A parent starting about 10 children a second for 4 s, each running
/// freshly compiled functions for 50 ms, followed with `--subprocesses`.
fn process_churn(label: &'static str) {
    let Some((status, truth, stacks, stderr)) =
        run_workload(label, &["--subprocesses"], "process_churn.py", &["4", "10"])
    else {
        return;
    };
    assert_eq!(status, Some(0), "{label}: {stderr}");
    let children = truth["children"].as_u64().unwrap_or(0);
    assert!(children >= 20, "{label}: only {children} children started");
    let pids = pids_in(&stacks);
    assert!(
        pids.len() as u64 > children * 3 / 4,
        "{label}: {} processes profiled of {children} children\n{stderr}",
        pids.len()
    );
    // The fresh functions of the children, and the `__init__` of their
    // fresh classes, are named (`Acc_K_I.__init__` from 3.11, which has
    // qualnames; `__init__` before).
    let fresh: u64 = stacks
        .iter()
        .filter(|s| s.frames.iter().any(|f| f.starts_with("fresh_")))
        .map(|s| s.count)
        .sum();
    assert!(
        fresh >= 50,
        "{label}: {fresh} samples in fresh functions\n{stderr}"
    );
    // On 3.13+ a (specialized) class call runs `__init__` under the shim
    // frame: hidden, the fresh function is the direct caller.
    let direct = stacks.iter().any(|s| {
        s.frames
            .windows(2)
            .any(|w| w[0].starts_with("fresh_") && w[1].contains("__init__ (<churn "))
    });
    let inits = stacks
        .iter()
        .any(|s| s.frames.iter().any(|f| f.contains("__init__ (<churn ")));
    assert!(inits, "{label}: no sample in a fresh __init__\n{stderr}");
    if interpreter(label).minor >= 13 {
        assert!(
            direct,
            "{label}: no fresh function calls its __init__ directly (shim hidden)\n{stderr}"
        );
    }
    assert_names(label, &stacks, &stderr);
}

mod import_heavy_on {
    use super::*;
    tachyon_e2e::for_every_interpreter!(import_heavy);
}

mod process_churn_on {
    use super::*;
    tachyon_e2e::for_every_interpreter!(process_churn);
}
