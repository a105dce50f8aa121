//! Helpers for the end-to-end tests: real interpreters, real workloads, the
//! real `tachyon-bpf` binary loading real eBPF.
//!
//! Tests need root. Outside CI a missing prerequisite (root, an interpreter)
//! skips the test with a message; in CI (`CI=true`) it fails the test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The checkout root.
pub fn root() -> PathBuf {
    let root = std::env::var_os("TACHYON_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    // Workloads compare their own (normalized) __file__ with the profile.
    root.canonicalize().unwrap_or(root)
}

/// The `tachyon-bpf` binary under test (built by `cargo xtask test`).
pub fn binary() -> PathBuf {
    std::env::var_os("TACHYON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/tachyon-bpf"))
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skips (locally) or fails (CI) a test whose prerequisite is missing.
/// Returns true when the test should go on.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("prerequisite missing in CI: {what}");
    }
    eprintln!("SKIPPED: {what}");
    false
}

/// Root and the binary are there.
pub fn require_profiler() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    require(root_user, "end-to-end tests need root (they load eBPF)")
        && require(
            binary().exists(),
            &format!("{} (run `cargo xtask build`)", binary().display()),
        )
}

/// One of the interpreters the tests cover.
#[derive(Clone, Debug)]
pub struct Interpreter {
    /// Short label, e.g. `3.12` or `3.11-debian`.
    pub label: &'static str,
    pub minor: u32,
    pub path: PathBuf,
}

fn pyenv_root() -> PathBuf {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".pyenv")
        })
}

/// The interpreter for `label`: `3.8` … `3.13` (pyenv), `3.11-debian`
/// (/usr/bin/python3.11), `3.14`, `3.15`, and the debug (`Py_DEBUG`) builds
/// `3.13-dbg`, `3.14-dbg`, `3.15-dbg` (sid) and `3.11-dbg` (Debian 12),
/// provisioned into `.cache/pythons`.
pub fn interpreter(label: &'static str) -> Interpreter {
    let pyenv =
        |v: &str, minor: u32| pyenv_root().join(format!("versions/{v}/bin/python3.{minor}"));
    let cache =
        |minor: u32| root().join(format!(".cache/pythons/3.{minor}/usr/bin/python3.{minor}"));
    let debug = |minor: u32| {
        root().join(format!(
            ".cache/pythons/3.{minor}-dbg/usr/bin/python3.{minor}d"
        ))
    };
    let (minor, path) = match label {
        "3.8" => (8, pyenv("3.8.18", 8)),
        "3.9" => (9, pyenv("3.9.18", 9)),
        "3.10" => (10, pyenv("3.10.13", 10)),
        "3.11" => (11, pyenv("3.11.7", 11)),
        "3.12" => (12, pyenv("3.12.1", 12)),
        "3.13" => (13, pyenv("3.13.0", 13)),
        "3.11-debian" => (11, PathBuf::from("/usr/bin/python3.11")),
        "3.14" => (14, cache(14)),
        "3.15" => (15, cache(15)),
        "3.11-dbg" => (11, debug(11)),
        "3.13-dbg" => (13, debug(13)),
        "3.14-dbg" => (14, debug(14)),
        "3.15-dbg" => (15, debug(15)),
        other => panic!("unknown interpreter label {other}"),
    };
    Interpreter { label, minor, path }
}

/// Every interpreter label the tests cover.
pub const ALL_INTERPRETERS: &[&str] = &[
    "3.8",
    "3.9",
    "3.10",
    "3.11",
    "3.12",
    "3.13",
    "3.11-debian",
    "3.14",
    "3.15",
    "3.13-dbg",
    "3.14-dbg",
    "3.15-dbg",
];

/// One `#[test]` per interpreter of [`ALL_INTERPRETERS`], each calling
/// `$f(label)`, named `python_3_8` … `python_3_15_dbg`; put it in a module
/// of its own (`mod every_interpreter { use super::*; for_every_interpreter!(f); }`).
#[macro_export]
macro_rules! for_every_interpreter {
    ($f:ident) => {
        #[test]
        fn python_3_8() {
            $f("3.8")
        }
        #[test]
        fn python_3_9() {
            $f("3.9")
        }
        #[test]
        fn python_3_10() {
            $f("3.10")
        }
        #[test]
        fn python_3_11() {
            $f("3.11")
        }
        #[test]
        fn python_3_12() {
            $f("3.12")
        }
        #[test]
        fn python_3_13() {
            $f("3.13")
        }
        #[test]
        fn python_3_11_debian() {
            $f("3.11-debian")
        }
        #[test]
        fn python_3_14() {
            $f("3.14")
        }
        #[test]
        fn python_3_15() {
            $f("3.15")
        }
        #[test]
        fn python_3_13_dbg() {
            $f("3.13-dbg")
        }
        #[test]
        fn python_3_14_dbg() {
            $f("3.14-dbg")
        }
        #[test]
        fn python_3_15_dbg() {
            $f("3.15-dbg")
        }
    };
}

impl Interpreter {
    /// The interpreter exists (skips locally, fails in CI otherwise).
    pub fn require(&self) -> bool {
        require(
            self.path.exists(),
            &format!(
                "interpreter {} at {} (run `cargo xtask provision`)",
                self.label,
                self.path.display()
            ),
        )
    }
}

/// A running workload; killed when dropped.
pub struct Workload {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    /// The first line the workload printed (its JSON truth or pid).
    pub first_line: String,
}

impl Workload {
    /// Starts `tests/workloads/<script>` and waits for its first line.
    pub fn start(python: &Path, script: &str, args: &[&str]) -> Workload {
        Self::start_with_env(python, script, args, &[])
    }

    /// [`Workload::start`] with more environment variables.
    pub fn start_with_env(
        python: &Path,
        script: &str,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> Workload {
        let path = root().join("tests/workloads").join(script);
        let mut child = Command::new(python)
            .arg(&path)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut first_line = String::new();
        stdout
            .read_line(&mut first_line)
            .expect("workload prints a first line");
        assert!(!first_line.is_empty(), "workload {script} printed nothing");
        Workload {
            child,
            stdout,
            first_line,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the next line the workload prints.
    pub fn next_line(&mut self) -> String {
        let mut s = String::new();
        let _ = self.stdout.read_line(&mut s);
        s
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Result of one profiler run.
pub struct Run {
    pub output: Output,
    pub stderr: String,
    /// The profile file, if one was asked for.
    pub profile: Option<String>,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tachyon-e2e-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ rand_u64()
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

fn rand_u64() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `tachyon-bpf args… -o <tmp>/profile.<ext>` and returns its output
/// and the profile text.
pub fn profile(args: &[&str], ext: &str) -> Run {
    let dir = TempDir::new("run");
    let out = dir.0.join(format!("profile.{ext}"));
    let output = Command::new(binary())
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run tachyon-bpf");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let profile = std::fs::read_to_string(&out).ok();
    Run {
        output,
        stderr,
        profile,
    }
}

/// `tachyon-bpf TARGET… --duration 3 --rate 1000 --mode cpu` into a
/// collapsed file, which must succeed: (stacks, stderr).
pub fn cpu_profile(label: &str, target: &[&str]) -> (Vec<Stack>, String) {
    let mut args = target.to_vec();
    args.extend(["--duration", "3", "--rate", "1000", "--mode", "cpu"]);
    let run = profile(&args, "collapsed");
    assert!(run.output.status.success(), "{label}: {}", run.stderr);
    let stacks = parse_collapsed(run.profile.as_deref().unwrap_or(""));
    (stacks, run.stderr)
}

/// Runs the binary with `args` only.
pub fn run_binary(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("run tachyon-bpf")
}

/// One line of collapsed stacks: frames root first, and the count.
#[derive(Clone, Debug)]
pub struct Stack {
    pub frames: Vec<String>,
    pub count: u64,
}

/// Parses collapsed (folded) stacks.
pub fn parse_collapsed(text: &str) -> Vec<Stack> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (stack, count) = l.rsplit_once(' ').expect("stack and count");
            Stack {
                frames: stack.split(';').map(str::to_string).collect(),
                count: count.parse().expect("count"),
            }
        })
        .collect()
}

/// A frame label `name (file:line)` split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLabel {
    pub name: String,
    pub file: String,
    pub line: u32,
}

/// Parses `name (file:line)`; `None` for process/thread/marker frames.
pub fn parse_frame(label: &str) -> Option<FrameLabel> {
    let (name, rest) = label.split_once(" (")?;
    let inner = rest.strip_suffix(')')?;
    let (file, line) = inner.rsplit_once(':')?;
    Some(FrameLabel {
        name: name.to_string(),
        file: file.to_string(),
        line: line.parse().ok()?,
    })
}

/// Parses the summary the binary prints on stderr: `key: value` pairs.
pub fn parse_summary(stderr: &str) -> BTreeMap<String, f64> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with("tachyon-bpf summary"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            let v = v.split_whitespace().next()?.parse().ok()?;
            Some((k.trim().to_string(), v))
        })
        .collect()
}

/// Waits until `f` holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Extracts a JSON number field `"key": N` from a one-line JSON text
/// (the workloads print flat, simple JSON).
pub fn json_u64(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\": ");
    let start = json.find(&pat)? + pat.len();
    json[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

/// A workload profiled by pid: what the profiler wrote and printed.
pub struct Profiled {
    /// Still running (killed on drop).
    pub workload: Workload,
    pub pid: String,
    pub stacks: Vec<Stack>,
    pub stderr: String,
}

/// Starts `script` (with `workload_args`) under interpreter `label`, runs
/// `tachyon-bpf --pid PID --rate 1000 <profiler_args>` into a collapsed file
/// and checks it succeeded. `None` when a prerequisite is missing outside CI.
pub fn profile_workload(
    label: &'static str,
    script: &str,
    workload_args: &[&str],
    profiler_args: &[&str],
) -> Option<Profiled> {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return None;
    }
    let workload = Workload::start(&py.path, script, workload_args);
    let pid = workload.pid().to_string();
    let mut args = vec!["--pid", &pid, "--rate", "1000"];
    args.extend_from_slice(profiler_args);
    let run = profile(&args, "collapsed");
    assert!(
        run.output.status.success(),
        "{label}: profiler failed: {}",
        run.stderr
    );
    let stacks = parse_collapsed(&run.profile.expect("profile written"));
    Some(Profiled {
        workload,
        pid,
        stacks,
        stderr: run.stderr,
    })
}

/// Checks a profile of `cpu_split.py` (its truth line `truth`) for process
/// `pid`: shares within 3 pp, names, files and hot lines exact, callers
/// `<module>` → `main`, nothing lost. With `by_pid` every stack must be
/// the process's; else (an `--all-python` run) others are ignored.
pub fn assert_cpu_split(
    label: &str,
    truth: &str,
    pid: &str,
    all: &[Stack],
    stderr: &str,
    by_pid: bool,
) {
    let truth: serde_json::Value = serde_json::from_str(truth).expect("truth json");
    let root = format!("(pid {pid})");
    let stacks: Vec<&Stack> = all
        .iter()
        .filter(|s| s.frames.first().is_some_and(|f| f.contains(&root)))
        .collect();
    if by_pid {
        assert_eq!(
            stacks.len(),
            all.len(),
            "{label}: stacks not rooted at the process frame"
        );
    }
    let file = truth["file"].as_str().expect("file");

    // Samples per leaf function, and per (function, line).
    let mut per_fn: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_line: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut total = 0;
    for s in stacks {
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
        stderr
    );
    let summary = parse_summary(stderr);
    assert!(summary["samples"] >= total as f64, "{}", stderr);
    assert_eq!(summary["samples lost"], 0.0, "{}", stderr);
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

// ------------------------------------------------------------------ Docker

/// Docker provisioned by `scripts/provision-docker.sh`, which runs once per
/// test process: the daemon answers and the images `tachyon-test-py:3.14`
/// and `tachyon-test-py:3.15` (sid interpreters, workloads in `/w/`) exist.
#[derive(Clone, Debug)]
pub struct Docker {
    /// The client the script found talking to the daemon.
    pub client: PathBuf,
}

static DOCKER: std::sync::OnceLock<Result<Docker, String>> = std::sync::OnceLock::new();

/// Containers started by this test process (for unique names).
static CONTAINERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Docker {
    /// Provisions Docker (once per test process). `None` when it cannot be
    /// provisioned outside CI (the test skips); in CI that fails the test.
    pub fn require() -> Option<Docker> {
        let provisioned = DOCKER.get_or_init(|| {
            let script = root().join("scripts/provision-docker.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "Docker and the test images ({} failed with {}):\n{}",
                    script.display(),
                    out.status,
                    tail.join("\n")
                ));
            }
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
            let client = std::fs::read_to_string(root().join(".cache/docker-client"))
                .map(|s| PathBuf::from(s.trim()))
                .unwrap_or_else(|_| PathBuf::from("docker"));
            Ok(Docker { client })
        });
        match provisioned {
            Ok(d) => Some(d.clone()),
            Err(e) => {
                require(false, e);
                None
            }
        }
    }

    /// `docker args…`; panics with what it printed when it fails. Returns
    /// its standard output, trimmed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.client)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.client.display()));
        assert!(
            out.status.success(),
            "docker {args:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts `/usr/bin/python<version> /w/<script> args…` in a new
    /// container of image `tachyon-test-py:<version>` (`version`: `3.14` or
    /// `3.15`), named `tachyon-e2e-<test pid>-<n>-<tag>`, and waits until the
    /// workload printed its first line. Removed (`docker rm -f`) on drop.
    pub fn start(&self, version: &str, tag: &str, script: &str, args: &[&str]) -> Container {
        let minor: u32 = version
            .strip_prefix("3.")
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("no image for Python {version}"));
        let name = format!(
            "tachyon-e2e-{}-{}-{tag}",
            std::process::id(),
            CONTAINERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let image = format!("tachyon-test-py:{version}");
        let python = format!("/usr/bin/python{version}");
        let script = format!("/w/{script}");
        let mut run = vec![
            "run", "-d", "--rm", "--name", &name, &image, &python, &script,
        ];
        run.extend_from_slice(args);
        self.run(&run);
        // From here on the guard removes it, whatever happens.
        let mut c = Container {
            name,
            id: String::new(),
            pid: 0,
            minor,
            first_line: String::new(),
            client: self.client.clone(),
        };
        let started = wait_for(Duration::from_secs(30), || {
            c.first_line = c.logs().lines().next().unwrap_or("").to_string();
            !c.first_line.is_empty()
        });
        assert!(
            started,
            "container {} ({image} {python} {script}) printed nothing in 30 s: {}",
            c.name,
            c.logs()
        );
        let inspect = self.run(&["inspect", "-f", "{{.Id}} {{.State.Pid}}", &c.name]);
        let (id, pid) = inspect
            .split_once(' ')
            .unwrap_or_else(|| panic!("docker inspect {}: {inspect}", c.name));
        c.id = id.to_string();
        c.pid = pid
            .parse()
            .unwrap_or_else(|_| panic!("docker inspect {}: {inspect}", c.name));
        assert!(
            c.id.len() == 64 && c.pid > 0,
            "docker inspect {}: {inspect}",
            c.name
        );
        c
    }
}

/// A running container; removed (`docker rm -f`) when dropped.
pub struct Container {
    pub name: String,
    /// The full (64 hex digits) container id.
    pub id: String,
    /// The host pid of its main process (the workload).
    pub pid: u32,
    /// Python 3.<minor> runs in it.
    pub minor: u32,
    /// The first line the workload printed.
    pub first_line: String,
    client: PathBuf,
}

impl Container {
    /// The 12-digit short id `docker ps` shows.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The container frame above its processes in folded stacks:
    /// `container <name> (<short id>)`.
    pub fn frame(&self) -> String {
        format!("container {} ({})", self.name, self.short_id())
    }

    /// The process frame of its main process: `python3.X (pid <host pid>)`.
    pub fn process_frame(&self) -> String {
        format!("python3.{} (pid {})", self.minor, self.pid)
    }

    /// What it printed so far (`docker logs`).
    pub fn logs(&self) -> String {
        Command::new(&self.client)
            .args(["logs", &self.name])
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(&self.client)
            .args(["rm", "-f", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The Python of the consumers' venv (`scripts/install-consumers-py.sh`:
/// protobuf, opentelemetry-proto, prometheus_client). `None`: skipped, or a
/// failure in CI.
pub fn consumers_python() -> Option<PathBuf> {
    let python = root().join(".cache/consumers-venv/bin/python");
    require(
        python.exists(),
        "the consumers' venv (cargo xtask provision)",
    )
    .then_some(python)
}

/// Runs `tests/consumers/<script> <arg>` under `python` and returns the
/// JSON it prints; panics with its stderr when it fails.
pub fn run_consumer(
    python: &Path,
    script: &str,
    arg: impl AsRef<std::ffi::OsStr>,
) -> serde_json::Value {
    let arg = arg.as_ref();
    let out = Command::new(python)
        .arg(root().join("tests/consumers").join(script))
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {}: {}",
        arg.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} prints JSON: {e}"))
}
