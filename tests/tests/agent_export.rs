//! The agent's network sinks against a receiver that follows Pyroscope's
//! documented `/ingest` API and OTLP/HTTP (`tests/consumers/sink_receiver.py`,
//! decoding with Google's `protobuf` and the `opentelemetry-proto` package),
//! its `--metrics` endpoint read by `prometheus_client`'s parser, and what
//! it does with bad sink options and with a sink that stays down.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tachyon_e2e::*;

/// The receiver, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    fn start(python: &Path, log: PathBuf, down: Option<(u32, u32)>) -> Receiver {
        let mut cmd = Command::new(python);
        cmd.arg(root().join("tests/consumers/sink_receiver.py"))
            .arg(&log);
        if let Some((after, during)) = down {
            cmd.args(["--down-after", &after.to_string()])
                .args(["--down-for", &during.to_string()]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start sink_receiver.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver's port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("receiver said {line:?}"));
        Receiver { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every line the receiver logged.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("receiver log line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free local port for --metrics.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The counters of `sink` in the agent's last line:
/// `export: dir 9 delivered, 0 failed attempts, 0 dropped, 0 rejected; …`.
fn export_counters(stderr: &str, sink: &str) -> [u64; 4] {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("export: "))
        .unwrap_or_else(|| panic!("no export line:\n{stderr}"));
    let part = line["export: ".len()..]
        .split("; ")
        .find(|p| p.starts_with(&format!("{sink} ")))
        .unwrap_or_else(|| panic!("no {sink} in {line}"));
    let numbers: Vec<u64> = part
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|_| panic!("four counters in {part:?}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Two containers (3.14, 3.15) and a host process; `agent` with both
/// network sinks and --output-dir in 2 s windows for 20 s, stopped with
/// SIGTERM; the receiver is down from 5 s to 11 s.
#[test]
fn agent_delivers_every_window_once_to_pyroscope_and_otlp() {
    let py = interpreter("3.12");
    let Some(python) = consumers_python() else {
        return;
    };
    if !require_profiler() || !py.require() {
        return;
    }
    let Some(docker) = Docker::require() else {
        return;
    };
    let a = docker.start("3.14", "export-a", "cpu_split.py", &["90"]);
    let b = docker.start("3.15", "export-b", "cpu_split.py", &["90"]);
    let host = Workload::start(&py.path, "cpu_split.py", &["90"]);
    let tmp = TempDir::new("agent-export");
    let receiver = Receiver::start(&python, tmp.0.join("received.jsonl"), Some((5, 6)));
    let dir = tmp.0.join("windows");
    let metrics_port = free_port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let started = Instant::now();
    let agent = Command::new(binary())
        .args(["agent", "--all-python", "--interval", "2s"])
        .args(["--pyroscope", &receiver.url(), "--otlp", &receiver.url()])
        .args(["--app-name", "e2e.python", "--label", "node=test-node"])
        .args(["--metrics", &format!("127.0.0.1:{metrics_port}")])
        .arg("--output-dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the agent");
    // While the receiver is back up, the counters already show the outage.
    std::thread::sleep(Duration::from_secs(16).saturating_sub(started.elapsed()));
    let during = run_consumer(&python, "read_metrics.py", &metrics_url);
    std::thread::sleep(Duration::from_secs(20).saturating_sub(started.elapsed()));
    // SIGTERM: the open window goes to every sink before exit.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let out = agent.wait_with_output().expect("agent output");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let summary = parse_summary(&stderr);
    assert_eq!(summary["samples lost"], 0.0, "{stderr}");
    let total = summary["samples"] as u64;

    // The windows, from --output-dir: contiguous, adding up to the run.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("windows dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let windows: Vec<Value> = files
        .iter()
        .map(|f| run_consumer(&python, "decode_pprof.py", f))
        .collect();
    assert!(windows.len() >= 10, "{} windows\n{stderr}", windows.len());
    let starts: Vec<i64> = windows
        .iter()
        .map(|w| w["time_nanos"].as_i64().expect("t"))
        .collect();
    for (i, w) in windows.iter().enumerate().skip(1) {
        let prev = &windows[i - 1];
        let end =
            prev["time_nanos"].as_i64().expect("t") + prev["duration_nanos"].as_i64().expect("d");
        assert_eq!(
            end,
            w["time_nanos"].as_i64().expect("t"),
            "gap or overlap before window {i}"
        );
    }
    let dir_total: u64 = windows
        .iter()
        .map(|w| w["total_samples"].as_u64().expect("n"))
        .sum();
    assert_eq!(dir_total, total, "{stderr}");

    let records = receiver.records();
    assert!(
        records.iter().all(|r| r.get("error").is_none()),
        "the receiver refused uploads: {records:?}"
    );
    assert!(
        records.iter().any(|r| str_of(r, "event") == "down")
            && records.iter().any(|r| str_of(r, "event") == "up"),
        "the receiver did not go down and up"
    );

    // OTLP: one request per window, each window once, same samples.
    let otlp: Vec<&Value> = records
        .iter()
        .filter(|r| str_of(r, "sink") == "otlp")
        .collect();
    let mut otlp_starts: Vec<i64> = otlp
        .iter()
        .map(|r| {
            r["resources"][0]["profiles"][0]["time_unix_nano"]
                .as_i64()
                .expect("time")
        })
        .collect();
    otlp_starts.sort();
    assert_eq!(otlp_starts, starts, "each window once at the OTLP receiver");
    let mut otlp_total = 0;
    let mut seen_a = false;
    let mut seen_host = false;
    for r in &otlp {
        for res in r["resources"].as_array().expect("resources") {
            let attrs = &res["attributes"];
            let profiles = res["profiles"].as_array().expect("profiles");
            assert_eq!(str_of(&profiles[0], "sample_type"), "samples/count");
            assert_eq!(str_of(&profiles[1], "sample_type"), "wall/nanoseconds");
            otlp_total += profiles[0]["total"].as_u64().expect("total");
            assert_eq!(str_of(attrs, "node"), "test-node");
            let pid = attrs["process.pid"].as_u64().expect("process.pid");
            if pid == u64::from(a.pid) {
                seen_a = true;
                assert_eq!(str_of(attrs, "container.id"), a.id);
                assert_eq!(str_of(attrs, "container.name"), a.name);
                assert_eq!(str_of(attrs, "process.executable.name"), "python3.14");
                assert_eq!(
                    str_of(attrs, "process.runtime.version").get(..4),
                    Some("3.14")
                );
                assert_eq!(attrs["process.ns_pid"].as_u64(), Some(1));
            }
            if pid == u64::from(host.pid()) {
                seen_host = true;
                assert!(attrs.get("container.id").is_none(), "{attrs}");
                let functions = &profiles[0]["functions"];
                assert!(functions.to_string().contains("\"sixty\""), "{functions}");
            }
        }
    }
    assert!(
        seen_a && seen_host,
        "container A and the host process in OTLP"
    );
    assert_eq!(otlp_total, total, "OTLP samples add up to the run");

    // Pyroscope: one upload per container and window, each once.
    let pyro: Vec<&Value> = records
        .iter()
        .filter(|r| str_of(r, "sink") == "pyroscope")
        .collect();
    let mut keys: Vec<(i64, String)> = pyro
        .iter()
        .map(|r| {
            (
                r["pprof"]["time_nanos"].as_i64().expect("time"),
                str_of(&r["labels"], "container_id").to_string(),
            )
        })
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "an upload arrived twice");
    let mut pyro_starts: Vec<i64> = keys.iter().map(|k| k.0).collect();
    pyro_starts.dedup();
    assert_eq!(pyro_starts, starts, "each window at Pyroscope");
    let pyro_total: u64 = pyro
        .iter()
        .map(|r| r["pprof"]["total_samples"].as_u64().expect("n"))
        .sum();
    assert_eq!(pyro_total, total, "Pyroscope samples add up to the run");
    for r in &pyro {
        assert_eq!(str_of(r, "app"), "e2e.python");
        assert_eq!(str_of(&r["labels"], "node"), "test-node");
        let from = r["from"].as_i64().expect("from");
        let until = r["until"].as_i64().expect("until");
        let t = r["pprof"]["time_nanos"].as_i64().expect("time");
        let end = t + r["pprof"]["duration_nanos"].as_i64().expect("duration");
        assert!(
            from * 1_000_000_000 <= t && end <= until * 1_000_000_000,
            "{r}"
        );
        let labels = &r["labels"];
        for c in [&a, &b] {
            if str_of(labels, "container_id") == c.id {
                assert_eq!(str_of(labels, "container_name"), c.name);
                let pids = &r["pprof"]["labels"]["pid"];
                assert_eq!(
                    pids,
                    &serde_json::json!([c.pid]),
                    "only {}'s process: {r}",
                    c.name
                );
                assert_eq!(
                    r["pprof"]["labels"]["container_id"],
                    serde_json::json!([c.id])
                );
            }
        }
    }
    for c in [&a, &b] {
        let n = pyro
            .iter()
            .filter(|r| str_of(&r["labels"], "container_id") == c.id)
            .count();
        assert!(
            n >= windows.len() - 1,
            "{}: {n} uploads for {} windows",
            c.name,
            windows.len()
        );
    }

    // The outage: retried, counted, nothing dropped.
    let n = windows.len() as u64;
    let [delivered, failed, dropped, rejected] = export_counters(&stderr, "pyroscope");
    assert_eq!((delivered, dropped, rejected), (n, 0, 0), "{stderr}");
    assert!(failed > 0, "the outage shows as failed attempts: {stderr}");
    let [delivered, failed, dropped, rejected] = export_counters(&stderr, "otlp");
    assert_eq!((delivered, dropped, rejected), (n, 0, 0), "{stderr}");
    assert!(failed > 0, "{stderr}");
    assert_eq!(export_counters(&stderr, "dir"), [n, 0, 0, 0], "{stderr}");
    assert!(stderr.contains("attempt 1 failed"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("window ")).count() as u64,
        n,
        "one line per window: {stderr}"
    );
    // And the metrics endpoint said so while it ran.
    assert!(
        during["tachyon_export_failures_total{sink=pyroscope}"].as_f64() > Some(0.0),
        "{during}"
    );
    assert!(
        during["tachyon_export_failures_total{sink=otlp}"].as_f64() > Some(0.0),
        "{during}"
    );
    assert!(
        during["tachyon_windows_total{}"].as_f64() >= Some(6.0),
        "{during}"
    );
    assert_eq!(
        during["tachyon_samples_lost_total{}"].as_f64(),
        Some(0.0),
        "{during}"
    );
    assert_eq!(
        during["tachyon_export_dropped_total{sink=otlp}"].as_f64(),
        Some(0.0)
    );
}

/// A sink that never answers: the queue keeps the newest windows, drops
/// (and counts) the oldest, and the agent still stops within the flush
/// timeout.
#[test]
fn a_sink_that_stays_down_costs_a_bounded_queue_and_a_bounded_stop() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    // Nothing listens there.
    let down = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = Command::new(binary())
        .args(["agent", "--pid", &w.pid().to_string()])
        .args(["--interval", "500ms", "--duration", "4", "--queue", "2"])
        .args(["--flush-timeout", "1s", "--otlp", &down])
        .output()
        .expect("run the agent");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "an unreachable sink is not fatal: {stderr}"
    );
    let windows = stderr.lines().filter(|l| l.starts_with("window ")).count() as u64;
    assert!(windows >= 7, "{stderr}");
    let [delivered, failed, dropped, _] = export_counters(&stderr, "otlp");
    assert_eq!(delivered, 0, "{stderr}");
    assert!(failed > 0, "{stderr}");
    assert_eq!(
        dropped,
        windows - 2,
        "all but the queue's 2 dropped: {stderr}"
    );
    assert!(
        stderr.contains("2 windows not delivered to otlp"),
        "{stderr}"
    );
    assert!(stderr.contains("queue full: window tachyon-"), "{stderr}");
    assert!(
        took < Duration::from_secs(9),
        "4 s of sampling and a 1 s flush took {took:?}"
    );
}

/// Bad sink options are errors before anything is sampled.
#[test]
fn bad_sink_options_fail_at_start() {
    if !require_profiler() {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    for (args, want) in [
        (
            vec!["--pyroscope", "pyroscope:4040"],
            "--pyroscope \"pyroscope:4040\"",
        ),
        (
            vec!["--otlp", "ftp://c"],
            "the scheme must be http or https",
        ),
        (vec!["--otlp", "http://c", "--label", "a b=c"], "--label"),
        (
            vec!["--otlp", "http://c", "--label", "pod_uid=x"],
            "the agent sets this key itself",
        ),
        (
            vec!["--otlp", "http://c", "--label", "a=1", "--label", "a=2"],
            "given twice",
        ),
        (
            vec!["--pyroscope", "http://p", "--app-name", "my app"],
            "--app-name",
        ),
        (
            vec!["--otlp", "http://c", "--metrics", &taken_addr],
            "--metrics",
        ),
        (
            vec!["--otlp", "http://c", "--metrics", "nowhere"],
            "--metrics nowhere",
        ),
        (vec![], "--output-dir"),
    ] {
        let started = Instant::now();
        let out = run_binary(&[&["agent", "--all-python"][..], &args[..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} was accepted: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {want:?} not in {stderr}");
        assert!(
            !stderr.contains("sampling"),
            "{args:?} started sampling: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
}
