//! Python processes in real Docker containers (images built by
//! `scripts/provision-docker.sh` from the sid interpreters, no registry),
//! next to a host process: container frames and labels, `--container` and
//! `--cgroup` filters, a container started during the run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tachyon_e2e::*;

/// Containers A (3.14) and B (3.15) and a host process (3.12), each running
/// cpu_split.py for 60 s.
struct Setup {
    docker: Docker,
    a: Container,
    b: Container,
    host: Workload,
}

fn setup() -> Option<Setup> {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return None;
    }
    let docker = Docker::require()?;
    let a = docker.start("3.14", "a", "cpu_split.py", &["60"]);
    let b = docker.start("3.15", "b", "cpu_split.py", &["60"]);
    let host = Workload::start(&py.path, "cpu_split.py", &["60"]);
    Some(Setup { docker, a, b, host })
}

/// The stacks of host process `pid`: its process frame is the root or right
/// under a container frame.
fn of_pid(stacks: &[Stack], pid: u32) -> Vec<&Stack> {
    let tail = format!("(pid {pid})");
    stacks
        .iter()
        .filter(|s| s.frames.iter().take(2).any(|f| f.ends_with(&tail)))
        .collect()
}

/// Total value of the stacks that have a frame of function `name`.
fn with_function(stacks: &[&Stack], name: &str) -> u64 {
    stacks
        .iter()
        .filter(|s| {
            s.frames
                .iter()
                .any(|f| parse_frame(f).is_some_and(|p| p.name == name))
        })
        .map(|s| s.count)
        .sum()
}

fn show(stacks: &[&Stack]) -> String {
    stacks
        .iter()
        .take(8)
        .map(|s| format!("  {} {}", s.frames.join(";"), s.count))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every stack of container `c`'s process starts with its container frame
/// then its process frame, and it spent time in `sixty` (whose file is the
/// path inside the container). Returns its stacks.
fn check_container<'a>(stacks: &'a [Stack], c: &Container, stderr: &str) -> Vec<&'a Stack> {
    let mine = of_pid(stacks, c.pid);
    assert!(
        !mine.is_empty(),
        "no stacks of {} (pid {}, container {})\n{stderr}",
        c.process_frame(),
        c.pid,
        c.name
    );
    for s in &mine {
        assert!(
            s.frames.len() >= 2 && s.frames[0] == c.frame() && s.frames[1] == c.process_frame(),
            "stack of {}'s process does not start with `{};{}`: {}",
            c.name,
            c.frame(),
            c.process_frame(),
            s.frames.join(";")
        );
    }
    // Seen (rarely) for a container started during the run: a stack with
    // neither a frame nor a marker under the process frame.
    for s in mine.iter().filter(|s| s.frames.len() == 2) {
        eprintln!(
            "note: bare process stack of {}: {} {}",
            c.name,
            s.frames.join(";"),
            s.count
        );
    }
    // Nothing else under this container: it runs one process.
    for s in stacks.iter().filter(|s| s.frames[0] == c.frame()) {
        assert_eq!(
            s.frames.get(1),
            Some(&c.process_frame()),
            "another process under {}: {}",
            c.name,
            s.frames.join(";")
        );
    }
    assert!(
        with_function(&mine, "sixty") > 0,
        "no `sixty` frames in {}:\n{}",
        c.name,
        show(&mine)
    );
    let file = serde_json::from_str::<serde_json::Value>(&c.first_line).expect("truth json")
        ["file"]
        .as_str()
        .expect("file")
        .to_string();
    for s in &mine {
        for f in s.frames.iter().filter_map(|f| parse_frame(f)) {
            if f.name == "sixty" {
                assert_eq!(f.file, file, "{} in {}", f.name, c.name);
            }
        }
    }
    mine
}

/// The host process's stacks start with its process frame (no container
/// frame) and it spent time in `sixty`.
fn check_host(stacks: &[Stack], host: &Workload, stderr: &str) {
    let root = format!("python3.12 (pid {})", host.pid());
    let mine = of_pid(stacks, host.pid());
    assert!(
        !mine.is_empty(),
        "no stacks of the host process {root}\n{stderr}"
    );
    for s in &mine {
        assert_eq!(
            s.frames[0],
            root,
            "host process stack: {}",
            s.frames.join(";")
        );
    }
    assert!(
        with_function(&mine, "sixty") > 0,
        "no `sixty` frames in the host process:\n{}",
        show(&mine)
    );
}

#[test]
fn two_containers_and_a_host_process_are_told_apart() {
    let Some(s) = setup() else {
        return;
    };
    let run = profile(&["--all-python", "--duration", "4"], "collapsed");
    assert!(
        run.output.status.success(),
        "profiler failed: {}",
        run.stderr
    );
    let stacks = parse_collapsed(run.profile.as_deref().expect("profile written"));
    check_container(&stacks, &s.a, &run.stderr);
    check_container(&stacks, &s.b, &run.stderr);
    check_host(&stacks, &s.host, &run.stderr);
    let summary = parse_summary(&run.stderr);
    assert_eq!(
        summary.get("samples lost"),
        Some(&0.0),
        "samples lost\n{}",
        run.stderr
    );
}

/// Each sample's labels (key -> string or number), decoded by Google's
/// protobuf package through tests/consumers/decode_pprof.py's schema.
fn sample_labels(
    venv_python: &std::path::Path,
    file: &std::path::Path,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    const PER_SAMPLE: &str = r#"
import gzip, json, sys
sys.path.insert(0, sys.argv[1])
import decode_pprof
p = decode_pprof.profile_class()()
with open(sys.argv[2], "rb") as f:
    p.ParseFromString(gzip.decompress(f.read()))
st = list(p.string_table)
for s in p.sample:
    print(json.dumps({st[l.key]: (st[l.str] if l.str else l.num) for l in s.label}))
"#;
    let out = Command::new(venv_python)
        .arg("-c")
        .arg(PER_SAMPLE)
        .arg(root().join("tests/consumers"))
        .arg(file)
        .output()
        .expect("run the pprof decoder");
    assert!(
        out.status.success(),
        "decoding the samples failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("sample labels json"))
        .collect()
}

#[test]
fn pprof_labels_name_the_container() {
    let venv_python = root().join(".cache/consumers-venv/bin/python");
    if !require(
        venv_python.exists(),
        "the pprof decoder's venv (.cache/consumers-venv; run `cargo xtask provision`)",
    ) {
        return;
    }
    let Some(s) = setup() else {
        return;
    };
    let dir = TempDir::new("containers-pprof");
    let file = dir.0.join("x.pb.gz");
    let out = Command::new(binary())
        .args(["--all-python", "--duration", "4", "-o"])
        .arg(&file)
        .output()
        .expect("run tachyon-bpf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "profiler failed: {stderr}");

    // The decoder's own summary: every label value of the profile.
    let decoded = Command::new(&venv_python)
        .arg(root().join("tests/consumers/decode_pprof.py"))
        .arg(&file)
        .output()
        .expect("run decode_pprof.py");
    assert!(
        decoded.status.success(),
        "decode_pprof.py failed: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&decoded.stdout).expect("decode_pprof.py prints JSON");
    let labels = &summary["labels"];
    let has = |key: &str, v: serde_json::Value| {
        labels[key]
            .as_array()
            .is_some_and(|values| values.contains(&v))
    };
    for c in [&s.a, &s.b] {
        assert!(
            has("container_id", c.id.clone().into()),
            "container_id {} not among the labels: {labels}",
            c.id
        );
        assert!(
            has("container_name", c.name.clone().into()),
            "container_name {} not among the labels: {labels}",
            c.name
        );
        assert!(
            has("cgroup", format!("/docker/{}", c.id).into()),
            "cgroup /docker/{} not among the labels: {labels}",
            c.id
        );
    }
    assert!(
        has("ns_pid", 1.into()),
        "ns_pid 1 not among the labels: {labels}"
    );

    // Sample by sample: A's and B's carry their container, the host's none.
    let samples = sample_labels(&venv_python, &file);
    let of = |pid: u32| -> Vec<&serde_json::Map<String, serde_json::Value>> {
        samples
            .iter()
            .filter(|l| l.get("pid").and_then(|p| p.as_u64()) == Some(u64::from(pid)))
            .collect()
    };
    for c in [&s.a, &s.b] {
        let mine = of(c.pid);
        assert!(
            !mine.is_empty(),
            "no samples with pid {} ({})",
            c.pid,
            c.name
        );
        for l in mine {
            let want = [
                ("container_id", serde_json::Value::from(c.id.clone())),
                ("container_name", c.name.clone().into()),
                ("cgroup", format!("/docker/{}", c.id).into()),
                ("ns_pid", 1.into()),
            ];
            for (k, v) in want {
                assert_eq!(
                    l.get(k),
                    Some(&v),
                    "label {k} of a sample of {}: {l:?}",
                    c.name
                );
            }
        }
    }
    let host = of(s.host.pid());
    assert!(!host.is_empty(), "no samples of the host process");
    for l in host {
        // A host process has no container labels, and no ns_pid (it runs in
        // the profiler's own pid namespace); its cgroup, when it has one,
        // is not a container's.
        for k in ["container_id", "container_name", "ns_pid", "pod_uid"] {
            assert!(
                !l.contains_key(k),
                "host process sample has label {k}: {l:?}"
            );
        }
        if let Some(cg) = l.get("cgroup") {
            assert!(
                !cg.to_string().contains("/docker/"),
                "host process in a docker cgroup: {l:?}"
            );
        }
    }
}

#[test]
fn container_filter_selects_one_container_and_picks_up_a_late_one() {
    let Some(s) = setup() else {
        return;
    };

    // --container A: A's stacks only.
    let run = profile(&["--container", &s.a.name, "--duration", "6"], "collapsed");
    assert!(
        run.output.status.success(),
        "profiler failed: {}",
        run.stderr
    );
    let stacks = parse_collapsed(run.profile.as_deref().expect("profile written"));
    let a = check_container(&stacks, &s.a, &run.stderr);
    let others: Vec<&Stack> = stacks
        .iter()
        .filter(|st| !a.iter().any(|x| std::ptr::eq(*x, *st)))
        .collect();
    assert!(
        others.is_empty(),
        "--container {}: stacks of other processes:\n{}",
        s.a.name,
        show(&others)
    );

    // --cgroup /docker, and container C started 2 s into the run.
    let dir = TempDir::new("containers-late");
    let out = dir.0.join("x.collapsed");
    let mut prof = Command::new(binary())
        .args(["--cgroup", "/docker", "--duration", "6", "-o"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start profiler");
    let mut stderr = BufReader::new(prof.stderr.take().expect("stderr"));
    let mut head = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read") > 0 {
        head.push_str(&line);
        if line.contains("sampling") {
            break;
        }
        line.clear();
    }
    assert!(head.contains("sampling"), "profiler did not start: {head}");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let c = s.docker.start("3.14", "c", "cpu_split.py", &["60"]);
    let c_running = Instant::now();
    let mut rest = head;
    for l in stderr.lines() {
        rest.push_str(&l.unwrap_or_default());
        rest.push('\n');
    }
    let status = prof.wait().expect("wait");
    let c_window = c_running.elapsed();
    assert!(status.success(), "profiler failed: {rest}");
    let stacks = parse_collapsed(&std::fs::read_to_string(&out).expect("profile written"));
    for cont in [&s.a, &s.b, &c] {
        check_container(&stacks, cont, &rest);
    }
    assert!(
        of_pid(&stacks, s.host.pid()).is_empty(),
        "--cgroup /docker: the host process is in the profile"
    );
    for st in &stacks {
        assert!(
            st.frames[0].starts_with("container "),
            "--cgroup /docker: stack without a container frame: {}",
            st.frames.join(";")
        );
    }
    // Wall mode: values are microseconds of wall time. C ran for
    // `c_window` of the profile (it was up at most ~1 s before that); ask
    // for half of it, at least 1.5 s.
    let c_us: u64 = of_pid(&stacks, c.pid).iter().map(|st| st.count).sum();
    let want = (c_window.as_micros() as u64 / 2).max(1_500_000);
    eprintln!(
        "late container C: {c_us} µs of samples over the last {:.2} s of the profile",
        c_window.as_secs_f64()
    );
    assert!(
        c_us >= want,
        "late container C has {c_us} µs of samples, want >= {want} (it ran {:.2} s of the \
         profile; C started {:.2} s after the profiler)\n{rest}",
        c_window.as_secs_f64(),
        (c_running - started).as_secs_f64()
    );
}

#[test]
fn unknown_container_is_an_error_at_start() {
    if !require_profiler() || Docker::require().is_none() {
        return;
    }
    let out = run_binary(&["--container", "no-such-container", "--duration", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started without the container: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one error line, got:\n{stderr}");
    assert!(
        lines[0].contains("--container no-such-container") && lines[0].contains("--wait"),
        "error line does not name `--container no-such-container` and `--wait`: {}",
        lines[0]
    );

    let out = run_binary(&[
        "--container",
        "no-such-container",
        "--wait",
        "--duration",
        "1",
    ]);
    // It starts and samples for the whole second; with nothing to profile
    // the profile ends up empty, which is said and is exit status 2.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "--wait did not start: {stderr}");
    assert!(
        stderr.contains("tachyon-bpf summary") && stderr.contains("the profile is empty"),
        "{stderr}"
    );
}

/// speedscope (validated against the schema the speedscope npm package
/// ships) and the Firefox Profiler's gecko format name each container.
#[test]
fn speedscope_and_gecko_name_the_container() {
    let validator = root().join("tests/consumers/validate_speedscope.mjs");
    let node_ok = Command::new("node").arg("--version").output().is_ok()
        && root()
            .join("tests/consumers/node_modules/speedscope/package.json")
            .exists();
    if !require(
        node_ok,
        "node and tests/consumers/node_modules (scripts/install-consumers.sh)",
    ) {
        return;
    }
    let Some(s) = setup() else {
        return;
    };
    let dir = TempDir::new("containers-speedscope");
    for ext in ["speedscope.json", "gecko.json"] {
        let file = dir.0.join(format!("x.{ext}"));
        let out = Command::new(binary())
            .args(["--all-python", "--duration", "3", "-o"])
            .arg(&file)
            .output()
            .expect("run tachyon-bpf");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{ext}: {stderr}");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        let names: Vec<String> = if ext == "speedscope.json" {
            let check = Command::new("node")
                .arg(&validator)
                .arg(&file)
                .output()
                .expect("run node");
            assert!(
                check.status.success(),
                "the speedscope schema rejects the file: {}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
            v["profiles"]
                .as_array()
                .expect("profiles")
                .iter()
                .map(|p| p["name"].as_str().unwrap_or("").to_string())
                .collect()
        } else {
            v["threads"]
                .as_array()
                .expect("threads")
                .iter()
                .map(|t| {
                    format!(
                        "{} pid {}",
                        t["processName"].as_str().unwrap_or(""),
                        t["pid"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        for c in [&s.a, &s.b] {
            let want = format!("container {} ({})", c.name, c.short_id());
            assert!(
                names
                    .iter()
                    .any(|n| n.contains(&want) && n.contains(&c.pid.to_string())),
                "{ext}: no name with {want:?} in {names:?}"
            );
        }
        let host = s.host.pid().to_string();
        assert!(
            names
                .iter()
                .any(|n| n.contains(&host) && !n.contains("container ")),
            "{ext}: the host process {host} without a container in {names:?}"
        );
    }
}
