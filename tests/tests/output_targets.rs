//! `-o` is checked before a run starts, never replaces what is not a
//! regular file, and a write that fails at the end loses nothing.

use std::os::unix::fs::FileTypeExt;
use std::process::Command;
use std::time::{Duration, Instant};

use tachyon_e2e::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn bad_output_paths_fail_before_sampling() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let pid = w.pid().to_string();
    let dir = TempDir::new("targets");
    for (path, format, needle) in [
        (
            dir.0.join("no/such/dir/x.svg"),
            "flamegraph",
            "does not exist",
        ),
        (dir.0.join("x.json"), "", "-f FORMAT"),
        (dir.0.clone(), "flamegraph", "it is a folder"),
    ] {
        let started = Instant::now();
        let mut cmd = Command::new(binary());
        cmd.args(["--pid", &pid, "--duration", "30"]);
        if !format.is_empty() {
            cmd.args(["-f", format]);
        }
        let out = cmd.arg("-o").arg(&path).output().expect("run");
        let err = stderr_of(&out);
        assert!(!out.status.success(), "{}: {err}", path.display());
        assert!(err.contains(needle), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} failed only after sampling",
            path.display()
        );
    }
}

#[test]
fn fifos_and_character_devices_are_written_into_not_replaced() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let pid = w.pid().to_string();
    let dir = TempDir::new("targets-special");
    // A FIFO with a reader.
    let fifo = dir.0.join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the fifo"))
    };
    let out = Command::new(binary())
        .args(["--pid", &pid, "--duration", "2", "-f", "collapsed", "-o"])
        .arg(&fifo)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = reader.join().expect("reader");
    assert!(text.contains("sixty ("), "{text}");
    assert!(std::fs::metadata(&fifo)
        .expect("fifo")
        .file_type()
        .is_fifo());
    // A character device with the numbers of /dev/null, made here (never
    // the real /dev/null).
    let dev = dir.0.join("null");
    nix::sys::stat::mknod(
        &dev,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod");
    let out = Command::new(binary())
        .args(["--pid", &pid, "--duration", "1", "-f", "flamegraph", "-o"])
        .arg(&dev)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::metadata(&dev)
        .expect("dev")
        .file_type()
        .is_char_device());
}

#[test]
fn a_write_that_fails_at_the_end_saves_the_run_as_a_recording() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["30"]);
    let dir = TempDir::new("targets-late");
    let sub = dir.0.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let out_path = sub.join("x.collapsed");
    let child = Command::new(binary())
        .args(["--pid", &w.pid().to_string(), "--duration", "3", "-o"])
        .arg(&out_path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // The folder goes away while sampling.
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::remove_dir(&sub).expect("rmdir");
    let out = child.wait_with_output().expect("wait");
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{err}");
    let saved = err
        .split_whitespace()
        .find(|w| w.ends_with(".tbr"))
        .unwrap_or_else(|| panic!("no saved recording named in: {err}"));
    let replay = Command::new(binary())
        .args(["replay", saved, "-f", "collapsed"])
        .output()
        .expect("replay");
    assert!(replay.status.success(), "{}", stderr_of(&replay));
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(text.contains("sixty ("), "{text}");
    let _ = std::fs::remove_file(saved);
}
