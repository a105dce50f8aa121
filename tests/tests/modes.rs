//! Issue #4: sampling modes (wall, cpu, gil, exception), the <GC> marker and
//! kernel stacks, on every interpreter.

use std::collections::BTreeMap;

use tachyon_e2e::*;

/// Sum of counts per thread id, from `--threads` collapsed output, for
/// stacks accepted by `pred`.
fn per_thread(stacks: &[Stack], pred: impl Fn(&Stack) -> bool) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for s in stacks.iter().filter(|s| pred(s)) {
        let tid = s.frames[1]
            .rsplit_once("(tid ")
            .and_then(|(_, t)| t.strip_suffix(')'))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no thread frame: {:?}", s.frames));
        *out.entry(tid).or_default() += s.count;
    }
    out
}

/// Whether a frame of function `name` is on the stack, with or without a
/// line: an instruction the compiler gives no line (3.12's PUSH_EXC_INFO at
/// the entry of an `except` block) shows as `name (file)`.
fn has_frame(s: &Stack, name: &str) -> bool {
    s.frames
        .iter()
        .filter_map(|f| f.split_once(" (").map(|(n, _)| n))
        .any(|n| n == name)
}

fn run_mode(
    label: &'static str,
    script: &str,
    args: &[&str],
) -> Option<(Workload, Vec<Stack>, String)> {
    let p = profile_workload(label, script, &["30"], args)?;
    Some((p.workload, p.stacks, p.stderr))
}

/// Wall mode: the sleeper's `nap` carries ≈75% of its thread's time (±5 pp
/// of what the workload itself measured); cpu mode: no off-CPU time at all
/// and nap (almost) absent.
fn wall_and_cpu(label: &'static str) {
    let Some(p) = profile_workload(
        label,
        "wall.py",
        &["30"],
        &["--duration", "4", "--threads", "--mode", "wall"],
    ) else {
        return;
    };
    let (mut w, stacks, err) = (p.workload, p.stacks, p.stderr);
    let truth: serde_json::Value = serde_json::from_str(&w.first_line).expect("truth");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(w.pid() as i32, libc::SIGUSR1) };
    let measured: serde_json::Value = serde_json::from_str(&w.next_line()).expect("nap share");
    let measured = measured["nap_share"].as_f64().expect("nap_share");
    assert!(
        (0.6..=0.8).contains(&measured),
        "{label}: workload slept {measured:.3} of its time"
    );
    let sleeper = truth["tids"]["sleeper"].as_u64().expect("sleeper tid") as u32;
    let spinner = truth["tids"]["spinner"].as_u64().expect("spinner tid") as u32;
    let total = per_thread(&stacks, |_| true);
    let nap = per_thread(&stacks, |s| has_frame(s, "nap"));
    let share = nap[&sleeper] as f64 / total[&sleeper] as f64;
    assert!(
        (share - measured).abs() <= 0.05 && (share - 0.75).abs() <= 0.1,
        "{label}: nap is {share:.3} of the sleeper's wall time (workload measured {measured:.3})\n{err}"
    );
    // Both threads account for about the whole run (wall time, in µs).
    for tid in [sleeper, spinner] {
        let secs = total[&tid] as f64 / 1e6;
        assert!(
            (3.0..=4.6).contains(&secs),
            "{label}: thread {tid} has {secs:.2} s of wall time"
        );
    }
    drop(w);

    let Some((w, stacks, err)) = run_mode(
        label,
        "wall.py",
        &["--duration", "3", "--threads", "--mode", "cpu"],
    ) else {
        return;
    };
    let truth: serde_json::Value = serde_json::from_str(&w.first_line).expect("truth");
    let sleeper = truth["tids"]["sleeper"].as_u64().expect("sleeper tid") as u32;
    assert!(
        !stacks
            .iter()
            .any(|s| s.frames.iter().any(|f| f.starts_with("<off-CPU"))),
        "{label}: off-CPU time in cpu mode"
    );
    let total = per_thread(&stacks, |_| true);
    let nap = per_thread(&stacks, |s| has_frame(s, "nap"));
    let share = *nap.get(&sleeper).unwrap_or(&0) as f64 / total[&sleeper] as f64;
    assert!(
        share <= 0.05,
        "{label}: nap has {share:.3} of the sleeper's CPU samples\n{err}"
    );
}

/// GIL mode shows only GIL holders: the thread hashing with the GIL released
/// disappears, though it is on CPU (cpu mode shows it).
fn gil(label: &'static str) {
    let Some((_w, stacks, err)) = run_mode(label, "gil.py", &["--duration", "2", "--mode", "gil"])
    else {
        return;
    };
    let sum = |name: &str| -> u64 {
        stacks
            .iter()
            .filter(|s| has_frame(s, name))
            .map(|s| s.count)
            .sum()
    };
    let (hasher, compete) = (sum("hash_worker"), sum("compete"));
    assert!(
        compete >= 300,
        "{label}: GIL holders missing: {compete}\n{err}"
    );
    assert!(
        (hasher as f64) <= 0.03 * (hasher + compete) as f64,
        "{label}: thread without the GIL shows in gil mode: {hasher} vs {compete}"
    );
    let Some((_w, stacks, _)) = run_mode(label, "gil.py", &["--duration", "2", "--mode", "cpu"])
    else {
        return;
    };
    let hasher: u64 = stacks
        .iter()
        .filter(|s| has_frame(s, "hash_worker"))
        .map(|s| s.count)
        .sum();
    let all: u64 = stacks.iter().map(|s| s.count).sum();
    assert!(
        hasher as f64 >= 0.2 * all as f64,
        "{label}: hasher only {hasher}/{all} in cpu mode"
    );
}

/// Exception mode shows only time inside the `except` block.
fn exception(label: &'static str) {
    let Some((_w, stacks, err)) = run_mode(
        label,
        "exceptions.py",
        &["--duration", "2", "--mode", "exception"],
    ) else {
        return;
    };
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    assert!(total > 0, "{label}: nothing in exception mode\n{err}");
    for s in &stacks {
        assert!(
            has_frame(s, "handler"),
            "{label}: outside an except block: {:?}",
            s.frames
        );
        assert!(!has_frame(s, "plain"), "{label}: plain() in exception mode");
    }
    let in_spin: u64 = stacks
        .iter()
        .filter(|s| has_frame(s, "spin"))
        .map(|s| s.count)
        .sum();
    assert!(
        in_spin as f64 >= 0.8 * total as f64,
        "{label}: {in_spin}/{total} in spin"
    );
}

/// `<GC>` shows while the collector runs; `--no-gc` hides it.
fn gc_marker(label: &'static str) {
    let Some((_w, stacks, err)) =
        run_mode(label, "gc_churn.py", &["--duration", "2", "--mode", "cpu"])
    else {
        return;
    };
    let gc: u64 = stacks
        .iter()
        .filter(|s| s.frames.last().map(String::as_str) == Some("<GC>"))
        .map(|s| s.count)
        .sum();
    assert!(gc >= 20, "{label}: <GC> seen {gc} times\n{err}");
    let under_collect = stacks
        .iter()
        .filter(|s| {
            s.frames.last().map(String::as_str) == Some("<GC>") && has_frame(s, "collect_cycles")
        })
        .count();
    assert!(under_collect > 0, "{label}: no <GC> under collect_cycles");
    let Some((_w, stacks, _)) = run_mode(
        label,
        "gc_churn.py",
        &["--duration", "1", "--mode", "cpu", "--no-gc"],
    ) else {
        return;
    };
    assert!(
        !stacks.iter().any(|s| s.frames.iter().any(|f| f == "<GC>")),
        "{label}: <GC> with --no-gc"
    );
}

/// `--kernel`: the write syscall's kernel frames sit under write_loop.
fn kernel_stacks(label: &'static str) {
    let Some((_w, stacks, err)) = run_mode(
        label,
        "syscalls.py",
        &["--duration", "2", "--mode", "cpu", "--kernel"],
    ) else {
        return;
    };
    let mut in_write = 0;
    for s in &stacks {
        let Some(pos) = s.frames.iter().position(|f| f.starts_with("write_loop ")) else {
            continue;
        };
        let kernel: Vec<&String> = s.frames[pos + 1..].iter().collect();
        if kernel
            .iter()
            .any(|f| f.starts_with("ksys_write_[k]") || f.starts_with("vfs_write_[k]"))
        {
            assert!(
                kernel
                    .iter()
                    .all(|f| f.ends_with("_[k]") || f.starts_with('<')),
                "{:?}",
                s.frames
            );
            in_write += s.count;
        }
    }
    assert!(
        in_write >= 100,
        "{label}: {in_write} samples in the write syscall under write_loop\n{err}"
    );
}

macro_rules! per_interpreter {
    ($f:ident: $($name:ident => $label:literal),* $(,)?) => {
        $( #[test] fn $name() { $f($label) } )*
    };
}

per_interpreter!(wall_and_cpu:
    wall_cpu_3_8 => "3.8", wall_cpu_3_9 => "3.9", wall_cpu_3_10 => "3.10", wall_cpu_3_11 => "3.11",
    wall_cpu_3_11_debian => "3.11-debian", wall_cpu_3_12 => "3.12", wall_cpu_3_13 => "3.13",
    wall_cpu_3_14 => "3.14", wall_cpu_3_15 => "3.15",
    wall_cpu_3_13_dbg => "3.13-dbg", wall_cpu_3_14_dbg => "3.14-dbg", wall_cpu_3_15_dbg => "3.15-dbg");
per_interpreter!(gil:
    gil_3_8 => "3.8", gil_3_9 => "3.9", gil_3_10 => "3.10", gil_3_11 => "3.11",
    gil_3_11_debian => "3.11-debian", gil_3_12 => "3.12", gil_3_13 => "3.13",
    gil_3_14 => "3.14", gil_3_15 => "3.15",
    gil_3_13_dbg => "3.13-dbg", gil_3_14_dbg => "3.14-dbg", gil_3_15_dbg => "3.15-dbg");
per_interpreter!(exception:
    exception_3_8 => "3.8", exception_3_9 => "3.9", exception_3_10 => "3.10", exception_3_11 => "3.11",
    exception_3_11_debian => "3.11-debian", exception_3_12 => "3.12", exception_3_13 => "3.13",
    exception_3_14 => "3.14", exception_3_15 => "3.15",
    exception_3_13_dbg => "3.13-dbg", exception_3_14_dbg => "3.14-dbg", exception_3_15_dbg => "3.15-dbg");
per_interpreter!(gc_marker:
    gc_3_8 => "3.8", gc_3_9 => "3.9", gc_3_10 => "3.10", gc_3_11 => "3.11",
    gc_3_11_debian => "3.11-debian", gc_3_12 => "3.12", gc_3_13 => "3.13",
    gc_3_14 => "3.14", gc_3_15 => "3.15",
    gc_3_13_dbg => "3.13-dbg", gc_3_14_dbg => "3.14-dbg", gc_3_15_dbg => "3.15-dbg");
per_interpreter!(kernel_stacks: kernel_3_9 => "3.9", kernel_3_12 => "3.12", kernel_3_15 => "3.15");

/// `<native>` sits where C (`sorted`) calls back into Python (`slow_key`).
/// 3.12+ only: there the interpreter leaves an entry frame to see.
fn native_marker(label: &'static str) {
    let Some((_w, stacks, err)) = run_mode(
        label,
        "native_calls.py",
        &["--duration", "2", "--mode", "cpu"],
    ) else {
        return;
    };
    let (mut total, mut marked) = (0, 0);
    for s in stacks.iter().filter(|s| has_frame(s, "slow_key")) {
        total += s.count;
        let pos = s
            .frames
            .iter()
            .position(|f| f.starts_with("slow_key "))
            .expect("slow_key");
        if s.frames[pos - 1] == "<native>" && s.frames[pos - 2].starts_with("main ") {
            marked += s.count;
        }
    }
    assert!(total >= 500, "{label}: {total} samples in slow_key\n{err}");
    assert!(
        marked as f64 >= 0.95 * total as f64,
        "{label}: only {marked}/{total} with main;<native>;slow_key"
    );
}

per_interpreter!(native_marker:
    native_3_12 => "3.12", native_3_13 => "3.13", native_3_14 => "3.14", native_3_15 => "3.15");

/// A wall-mode recording keeps every sample's flags: `replay --mode gil`
/// drops the thread hashing without the GIL, `replay --mode cpu` keeps it.
#[test]
fn replay_refilters_a_recording_by_mode() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "gil.py", &["30"]);
    let pid = w.pid().to_string();
    let dir = TempDir::new("replay-mode");
    let rec = dir.0.join("run.tbr");
    let rec_s = rec.to_str().expect("utf-8 path");
    let out = run_binary(&[
        "--pid",
        &pid,
        "--rate",
        "1000",
        "--duration",
        "2",
        "--mode",
        "wall",
        "-o",
        rec_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(w);
    let hasher_share = |mode: &str| -> f64 {
        let file = dir.0.join(format!("{mode}.collapsed"));
        let out = run_binary(&[
            "replay",
            rec_s,
            "--mode",
            mode,
            "-o",
            file.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stacks = parse_collapsed(&std::fs::read_to_string(&file).expect("replayed profile"));
        let all: u64 = stacks.iter().map(|s| s.count).sum();
        let hasher: u64 = stacks
            .iter()
            .filter(|s| has_frame(s, "hash_worker"))
            .map(|s| s.count)
            .sum();
        assert!(all > 0, "{mode}: empty replay");
        hasher as f64 / all as f64
    };
    let gil = hasher_share("gil");
    let cpu = hasher_share("cpu");
    assert!(gil <= 0.03, "hasher share in gil mode: {gil:.3}");
    assert!(cpu >= 0.2, "hasher share in cpu mode: {cpu:.3}");
}

/// `--native`: the C functions a Python frame is running (a library built
/// with frame pointers, called through ctypes) show above it, leaf last.
fn native_frames(label: &'static str) {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return;
    }
    let dir = TempDir::new("native");
    let lib = dir.0.join("libnative_test.so");
    let gcc = std::process::Command::new("gcc")
        .args(["-O1", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(root().join("tests/workloads/native_lib.c"))
        .status();
    if !require(
        gcc.map(|s| s.success()).unwrap_or(false),
        "gcc to build the test library",
    ) {
        return;
    }
    let lib = lib.to_str().expect("utf-8");
    let Some(p) = profile_workload(
        label,
        "native_ext.py",
        &["30", lib],
        &["--duration", "2", "--mode", "cpu", "--native"],
    ) else {
        return;
    };
    let (stacks, err) = (&p.stacks, &p.stderr);
    let (mut total, mut resolved) = (0, 0);
    for s in stacks.iter().filter(|s| has_frame(s, "call_c")) {
        total += s.count;
        let n = s.frames.len();
        if n >= 2
            && s.frames[n - 1] == "inner_c (libnative_test.so)"
            && s.frames[n - 2] == "outer_c (libnative_test.so)"
        {
            resolved += s.count;
        }
        // Native frames sit above the Python leaf; a cut-short walk says so
        // right above it.
        let leaf_py = s
            .frames
            .iter()
            .rposition(|f| f.starts_with("call_c "))
            .expect("call_c");
        for f in &s.frames[leaf_py + 1..] {
            assert!(
                !f.contains(".py:"),
                "{label}: Python frame above the native part: {:?}",
                s.frames
            );
        }
        if let Some(m) = s
            .frames
            .iter()
            .position(|f| f.starts_with("<native: unwinding stopped"))
        {
            assert_eq!(
                m,
                leaf_py + 1,
                "{label}: marker not right above the Python leaf"
            );
        }
    }
    assert!(total >= 500, "{label}: {total} samples in call_c\n{}", err);
    assert!(
        resolved as f64 >= 0.9 * total as f64,
        "{label}: {resolved}/{total} end in outer_c;inner_c"
    );
}

per_interpreter!(native_frames:
    native_frames_3_8 => "3.8", native_frames_3_12 => "3.12", native_frames_3_14 => "3.14");

/// `--native` on Debian's non-PIE, static `/usr/bin/python3.11`: the
/// interpreter's own C functions (named from its dynamic symbols, else
/// `python3.11+0xOFFSET`) show above the Python leaf. Its map_files entry
/// is named from the parsed numbers of /proc/PID/maps, which print the
/// non-PIE addresses zero-padded.
#[test]
fn native_interpreter_frames_on_debian_3_11() {
    let Some(p) = profile_workload(
        "3.11-debian",
        "cpu_split.py",
        &["30"],
        &["--duration", "2", "--mode", "cpu", "--native"],
    ) else {
        return;
    };
    let total: u64 = p.stacks.iter().map(|s| s.count).sum();
    let with_interpreter: u64 = p
        .stacks
        .iter()
        .filter(|s| {
            let leaf_py = s.frames.iter().rposition(|f| f.contains(".py:"));
            leaf_py.is_some_and(|i| {
                s.frames[i + 1..]
                    .iter()
                    .any(|f| f.ends_with(" (python3.11)"))
            })
        })
        .map(|s| s.count)
        .sum();
    let named = p
        .stacks
        .iter()
        .flat_map(|s| &s.frames)
        .any(|f| f.ends_with(" (python3.11)") && !f.starts_with("python3.11+0x"));
    assert!(total > 100, "{total} samples\n{}", p.stderr);
    assert!(
        with_interpreter as f64 >= 0.25 * total as f64,
        "{with_interpreter}/{total} samples show an interpreter frame\n{}",
        p.stderr
    );
    assert!(named, "no interpreter function named from its symbols");
}
