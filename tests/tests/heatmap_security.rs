//! The heatmap reads source files with the rights of the profiled process,
//! never the profiler's (root's): an unprivileged process that names a
//! root-only file (`exec(compile(src, "/root/secret.txt", "exec"))`) must not
//! get its text copied into any output; its own readable files are shown.
//! A replayed recording reads no source at all.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tachyon_e2e::*;

const NOBODY: &str = "65534";

/// `setpriv` arguments that run a command as uid/gid 65534 with no
/// supplementary groups.
const AS_NOBODY: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/// Two threads each run a busy loop compiled under a file name it is given
/// (the text comes from here, not from the file: the process cannot read
/// the secret one). The main thread prints `ready` and waits.
const WORKLOAD: &str = r#"
import sys, threading
SRC = "x0 = 0\nwhile True: x0 += 1\n"
def run(path):
    exec(compile(SRC, path, "exec"), {})
for path in sys.argv[1:]:
    threading.Thread(target=run, args=(path,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// Killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn random_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// A covered interpreter that uid 65534 can run: pyenv's 3.12 lives under
/// `/root` (usually mode 0700), then the system's 3.11 is used.
fn interpreter_for_nobody() -> Option<Interpreter> {
    for label in ["3.12", "3.11-debian"] {
        let py = interpreter(label);
        if !py.path.exists() {
            continue;
        }
        let runs = Command::new("setpriv")
            .args(AS_NOBODY)
            .arg(&py.path)
            .args(["-c", "import threading"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if runs {
            return Some(py);
        }
        eprintln!(
            "{} cannot be run by uid {NOBODY}; trying the next interpreter",
            py.path.display()
        );
    }
    require(
        false,
        "setpriv and an interpreter (3.12 or 3.11-debian) that uid 65534 can run",
    );
    None
}

/// Runs `tachyon-bpf args… -o <out>` and returns what it wrote.
fn run_to(args: &[&str], out: &Path) -> Vec<u8> {
    let output = Command::new(binary())
        .args(args)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("run tachyon-bpf");
    assert!(
        output.status.success(),
        "tachyon-bpf {args:?} -o {} failed: {}",
        out.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
}

fn gunzip(path: &Path) -> Vec<u8> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("run gzip");
    assert!(out.status.success(), "gzip -dc {}", path.display());
    out.stdout
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write source file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Starts [`WORKLOAD`] as uid 65534 with these file names and waits for
/// its `ready`; returns it (killed on drop) and its pid.
fn start_as_nobody(py: &Interpreter, paths: &[&str]) -> (Guard, String) {
    let mut child = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(&py.path)
        .args(["-c", WORKLOAD])
        .args(paths)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the workload with setpriv");
    let stdout = child.stdout.take().expect("piped stdout");
    let workload = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("workload prints ready");
    assert_eq!(line.trim(), "ready", "workload did not start");
    let pid = workload.0.id().to_string();
    (workload, pid)
}

#[test]
fn root_only_sources_never_reach_the_outputs() {
    if !require_profiler() {
        return;
    }
    let Some(py) = interpreter_for_nobody() else {
        return;
    };
    let dir = TempDir::new("heatmap-security");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let token = random_token();
    let secret_word = format!("TOP_SECRET_{token}");
    let visible_word = format!("VISIBLE_{token}");
    let secret: PathBuf = dir.0.join("secret.py");
    let visible: PathBuf = dir.0.join("visible.py");
    // Line 2 is the one sampled; line 1 shows as its context when readable.
    write_mode(
        &secret,
        &format!("{secret_word} = 0\nwhile True: {secret_word} += 1\n"),
        0o600,
    );
    write_mode(
        &visible,
        &format!("{visible_word} = 0\nwhile True: {visible_word} += 1\n"),
        0o644,
    );
    let (secret_s, visible_s) = (secret.to_str().unwrap(), visible.to_str().unwrap());

    // The premise: uid 65534 cannot read the secret file, can read the other.
    let reads = |path: &str| {
        Command::new("setpriv")
            .args(AS_NOBODY)
            .args(["cat", path])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(!reads(secret_s), "uid {NOBODY} can read {secret_s}");
    assert!(reads(visible_s), "uid {NOBODY} cannot read {visible_s}");

    let (workload, pid) = start_as_nobody(&py, &[secret_s, visible_s]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(ids, [NOBODY; 4], "{field} of the workload: {status}");
    }
    eprintln!("workload: {} as uid {NOBODY}, pid {pid}", py.label);

    let out = TempDir::new("heatmap-security-out");
    let live = ["--pid", pid.as_str(), "--duration", "3"];

    // The heatmap: names both files, shows the readable one's text only.
    let html = run_to(&live, &out.0.join("x.html"));
    let html = String::from_utf8(html).expect("UTF-8 HTML");
    assert!(!html.contains("TOP_SECRET_"), "secret leaked: {html}");
    assert!(html.contains(secret_s), "secret.py is not named: {html}");
    assert!(
        html.contains("source not shown: not readable by the profiled process"),
        "no reason given for secret.py: {html}"
    );
    assert!(
        html.contains(&visible_word),
        "visible.py's text is not shown: {html}"
    );

    // Nothing else reads source files, but check every output anyway.
    for name in ["x.collapsed", "x.speedscope.json", "x.jsonl"] {
        let bytes = run_to(&live, &out.0.join(name));
        assert!(!bytes.is_empty(), "{name} is empty");
        assert!(
            !contains(&bytes, "TOP_SECRET_"),
            "secret leaked into {name}"
        );
        assert!(
            contains(&bytes, secret_s),
            "{name} has no sample of secret.py"
        );
    }
    let pprof = out.0.join("x.pb.gz");
    run_to(&live, &pprof);
    let bytes = gunzip(&pprof);
    assert!(!contains(&bytes, "TOP_SECRET_"), "secret leaked into pprof");
    assert!(
        contains(&bytes, secret_s),
        "pprof has no sample of secret.py"
    );

    // A recording keeps no source text; its replay reads none, not even
    // the readable file (and never from /proc of a pid it stores).
    let tbr = out.0.join("x.tbr");
    let recording = run_to(&live, &tbr);
    assert!(!contains(&recording, "TOP_SECRET_"));
    assert!(!contains(&recording, &visible_word));
    let tbr_s = tbr.to_str().unwrap();
    let replayed = run_to(&["replay", tbr_s], &out.0.join("replayed.html"));
    let replayed = String::from_utf8(replayed).expect("UTF-8 HTML");
    assert!(
        !replayed.contains("TOP_SECRET_"),
        "secret leaked: {replayed}"
    );
    assert!(
        !replayed.contains(&visible_word),
        "replay read a source file: {replayed}"
    );
    assert!(
        replayed.contains(secret_s) && replayed.contains(visible_s),
        "the replay names the files: {replayed}"
    );
    assert!(
        replayed.contains("source not shown: source text is not kept in recordings"),
        "no reason given in the replay: {replayed}"
    );
    drop(workload);
}

/// Code compiled under the name of a FIFO (no writer: opening it to read
/// would block forever) and of a character device (made here with the
/// numbers of /dev/zero: reading it never ends): the heatmap finishes in
/// time, says why there is no text, and opens neither.
#[test]
fn fifos_and_devices_named_as_sources_are_never_opened() {
    if !require_profiler() {
        return;
    }
    let Some(py) = interpreter_for_nobody() else {
        return;
    };
    let dir = TempDir::new("heatmap-special-files");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let fifo = dir.0.join("fifo.py");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    let device = dir.0.join("zero.py");
    nix::sys::stat::mknod(
        &device,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .expect("mknod");
    let (fifo_s, device_s) = (fifo.to_str().unwrap(), device.to_str().unwrap());
    let (workload, pid) = start_as_nobody(&py, &[fifo_s, device_s]);
    let out = TempDir::new("heatmap-special-out");
    let started = std::time::Instant::now();
    let html = run_to(
        &["--pid", pid.as_str(), "--duration", "2"],
        &out.0.join("x.html"),
    );
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "2 s of sampling took {took:?}"
    );
    let html = String::from_utf8(html).expect("UTF-8 HTML");
    for name in [fifo_s, device_s] {
        assert!(html.contains(name), "{name} is not named: {html}");
    }
    assert!(
        html.matches("source not shown: not a regular file").count() >= 2,
        "no reason given: {html}"
    );
    // Had the FIFO been opened to read, a writer could now get in: none
    // is waiting (a non-blocking open for writing fails without a reader).
    let writer = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    );
    assert!(writer.is_err(), "something holds the FIFO open for reading");
    drop(workload);
}
