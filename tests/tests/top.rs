//! Issue #12: `tachyon-bpf top` and `run --live`, driven for real in a
//! detached tmux session of a fixed size (send-keys, capture-pane): the
//! hot function of the workload is the first row within 3 s of the first
//! frame, a key changes the sort order, `q` ends the run with status 0 and
//! the profile written, and `run --live` keeps the command's output in a
//! log and passes its exit status through.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tachyon_e2e::*;

/// The pane's size: wide enough for the header's counters line.
const WIDTH: &str = "160";
const HEIGHT: &str = "40";

/// A detached tmux session on a server of its own, killed when dropped.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Runs `command` (through sh) in a new detached session; None (the
    /// test is skipped locally, fails in CI) without tmux.
    fn start(tag: &str, command: &str) -> Option<Tmux> {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !require(found, "tmux (scripts/install-tmux.sh)") {
            return None;
        }
        let t = Tmux {
            socket: format!("tachyon-e2e-{}-{tag}", std::process::id()),
            session: tag.to_string(),
        };
        let ok = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                &t.session,
                "-x",
                WIDTH,
                "-y",
                HEIGHT,
                command,
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// The pane's text now, one string per line.
    fn capture(&self) -> Vec<String> {
        let out = self.cmd(&["capture-pane", "-p", "-t", &self.session]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Types `text` as it is (no key names).
    fn type_text(&self, text: &str) {
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, "-l", text])
            .status
            .success();
        assert!(ok, "tmux send-keys -l {text} failed");
    }

    fn send(&self, keys: &str) {
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, keys])
            .status
            .success();
        assert!(ok, "tmux send-keys {keys} failed");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The live view's rows on a captured screen: (function, own, total).
fn rows(screen: &[String]) -> Vec<(String, u64, u64)> {
    screen
        .iter()
        .skip_while(|l| !l.contains("FUNCTION"))
        .skip(1)
        .map_while(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            match cols.as_slice() {
                [own, _, total, _, name, ..] => {
                    Some((name.to_string(), own.parse().ok()?, total.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

fn screen_text(screen: &[String]) -> String {
    screen.join("\n")
}

/// `sh -c` text running `args` with stderr to `err` and the exit status to
/// `status` once it ends.
fn shell_line(args: &[String], err: &Path, status: &Path) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "{} 2>'{}'; echo $? > '{}'",
        quoted.join(" "),
        err.display(),
        status.display()
    )
}

/// The exit status the shell wrote, once it is there.
fn wait_status(status: &Path, timeout: Duration) -> Option<i32> {
    let mut code = None;
    wait_for(timeout, || {
        code = std::fs::read_to_string(status)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        code.is_some()
    });
    code
}

/// Polls the pane until `f` holds; the last screen either way.
fn wait_screen(
    t: &Tmux,
    timeout: Duration,
    mut f: impl FnMut(&[String]) -> bool,
) -> (bool, Vec<String>) {
    let mut last = Vec::new();
    let ok = wait_for(timeout, || {
        last = t.capture();
        f(&last)
    });
    (ok, last)
}

struct Setup {
    _dir: TempDir,
    err: PathBuf,
    status: PathBuf,
    profile: PathBuf,
}

fn setup(tag: &str) -> Setup {
    let dir = TempDir::new(tag);
    Setup {
        err: dir.0.join("stderr"),
        status: dir.0.join("status"),
        profile: dir.0.join("p.collapsed"),
        _dir: dir,
    }
}

/// `top --pid P --mode cpu` on cpu_split (60/30/10): `sixty` is the first
/// row within 3 s of the first frame drawn; `5` sorts by name, and the
/// rows follow.
#[test]
fn the_hot_function_leads_within_3_s_and_a_key_changes_the_order() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["60"]);
    let s = setup("top-sort");
    let args: Vec<String> = [
        binary().to_string_lossy().as_ref(),
        "top",
        "--pid",
        &w.pid().to_string(),
        "--mode",
        "cpu",
        "--rate",
        "1000",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let Some(t) = Tmux::start("sort", &shell_line(&args, &s.err, &s.status)) else {
        return;
    };
    let (drawn, screen) = wait_screen(&t, Duration::from_secs(20), |s| {
        s.first().is_some_and(|l| l.starts_with("tachyon-bpf top:"))
    });
    let err = || std::fs::read_to_string(&s.err).unwrap_or_default();
    assert!(
        drawn,
        "no frame drawn:\n{}\n{}",
        screen_text(&screen),
        err()
    );
    let first_frame = Instant::now();
    let (led, screen) = wait_screen(&t, Duration::from_secs(10), |s| {
        rows(s).first().is_some_and(|r| r.0 == "sixty")
    });
    let after = first_frame.elapsed();
    assert!(led, "sixty never led:\n{}", screen_text(&screen));
    eprintln!("sixty led {after:?} after the first frame");
    assert!(
        after <= Duration::from_secs(3),
        "sixty led {after:?} after the first frame:\n{}",
        screen_text(&screen)
    );
    // Wait for the three to show, then check the order by own samples.
    let (all, screen) = wait_screen(&t, Duration::from_secs(10), |s| {
        let r = rows(s);
        ["sixty", "thirty", "ten"]
            .iter()
            .all(|f| r.iter().any(|(n, _, _)| n == f))
    });
    assert!(all, "not all three functions:\n{}", screen_text(&screen));
    let by_own = rows(&screen);
    assert!(
        by_own.windows(2).all(|w| w[0].1 >= w[1].1),
        "not sorted by own:\n{}",
        screen_text(&screen)
    );
    let pos = |r: &[(String, u64, u64)], f: &str| r.iter().position(|(n, _, _)| n == f);
    assert!(pos(&by_own, "sixty") < pos(&by_own, "thirty"));
    assert!(pos(&by_own, "thirty") < pos(&by_own, "ten"));
    assert!(screen[2].contains("sort own"), "{}", screen[2]);

    t.send("5");
    let (sorted, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s.get(2).is_some_and(|l| l.contains("sort name"))
    });
    assert!(sorted, "the key did nothing:\n{}", screen_text(&screen));
    let by_name: Vec<String> = rows(&screen).into_iter().map(|r| r.0).collect();
    let mut want = by_name.clone();
    want.sort();
    assert_eq!(by_name, want, "{}", screen_text(&screen));
    assert_ne!(
        by_name,
        by_own.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "the order changed"
    );
    assert!(pos(&rows(&screen), "ten") < pos(&rows(&screen), "thirty"));

    t.send("q");
    assert_eq!(
        wait_status(&s.status, Duration::from_secs(20)),
        Some(0),
        "{}",
        err()
    );
    let summary = parse_summary(&err());
    assert!(summary["samples"] > 0.0, "{}", err());
    assert_eq!(summary["samples lost"], 0.0, "{}", err());
    // What the refreshes cost, and our own messages shown after the screen.
    let err = err();
    let refreshes: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("tachyon-bpf: live view: "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no refresh line:\n{err}"));
    // At least the refresh that showed the hot function first.
    assert!(refreshes >= 1, "{err}");
    assert!(
        err.contains("tachyon-bpf: sampling 1 Python process"),
        "{err}"
    );
}

/// The other keys on the same view (window, filter, pause), then `q`:
/// status 0 and the profile written to -o.
#[test]
fn keys_filter_pause_and_quit_writes_the_profile() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let w = Workload::start(&py.path, "cpu_split.py", &["60"]);
    let pid = w.pid().to_string();
    let s = setup("top-keys");
    let args: Vec<String> = [
        binary().to_string_lossy().as_ref(),
        "top",
        "--pid",
        &pid,
        "-m",
        "cpu",
        "--rate",
        "1000",
        "-o",
        &s.profile.to_string_lossy(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let Some(t) = Tmux::start("keys", &shell_line(&args, &s.err, &s.status)) else {
        return;
    };
    let err = || std::fs::read_to_string(&s.err).unwrap_or_default();
    let (led, screen) = wait_screen(&t, Duration::from_secs(20), |s| {
        rows(s).first().is_some_and(|r| r.0 == "sixty")
    });
    assert!(led, "sixty never led:\n{}\n{}", screen_text(&screen), err());
    assert!(screen[1].contains("1 process, 1 thread"), "{}", screen[1]);

    // The last 10 s instead of everything.
    t.send("t");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s[2].starts_with("view last 10 s")
    });
    assert!(ok, "{}", screen_text(&screen));
    assert_eq!(rows(&screen).first().map(|r| r.0.as_str()), Some("sixty"));

    // A filter that matches no process empties the table; Esc clears it.
    t.send("/");
    t.type_text("p:nothing");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s.last().is_some_and(|l| l.contains(": p:nothing_"))
    });
    assert!(ok, "no prompt:\n{}", screen_text(&screen));
    t.send("Enter");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s[2].contains("filter p:nothing,") && rows(s).is_empty()
    });
    assert!(
        ok,
        "the filter did not empty the table:\n{}",
        screen_text(&screen)
    );
    t.send("Escape");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s[2].contains("filter -,") && !rows(s).is_empty()
    });
    assert!(ok, "{}", screen_text(&screen));
    // The filter by this pid keeps it.
    t.send("/");
    t.type_text(&format!("p:{pid}"));
    t.send("Enter");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        s[2].contains(&format!("filter p:{pid},"))
            && rows(s).first().is_some_and(|r| r.0 == "sixty")
    });
    assert!(ok, "{}", screen_text(&screen));

    // Paused, the screen stops changing.
    t.send("p");
    let (ok, paused) = wait_screen(&t, Duration::from_secs(5), |s| s[0].ends_with("[PAUSED]"));
    assert!(ok, "{}", screen_text(&paused));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(t.capture()[..3], paused[..3], "a paused screen changed");
    t.send("p");
    let (ok, screen) = wait_screen(&t, Duration::from_secs(5), |s| {
        !s[0].ends_with("[PAUSED]") && s[1] != paused[1]
    });
    assert!(ok, "{}", screen_text(&screen));

    t.send("q");
    assert_eq!(
        wait_status(&s.status, Duration::from_secs(20)),
        Some(0),
        "{}",
        err()
    );
    let stacks = parse_collapsed(&std::fs::read_to_string(&s.profile).unwrap_or_default());
    let sixty: u64 = stacks
        .iter()
        .filter(|s| s.frames.last().is_some_and(|f| f.starts_with("sixty ")))
        .map(|s| s.count)
        .sum();
    let all: u64 = stacks.iter().map(|s| s.count).sum();
    assert!(
        all > 0 && sixty * 2 > all,
        "sixty {sixty} of {all}:\n{}",
        err()
    );
    assert!(err().contains("wrote collapsed profile to"), "{}", err());
}

/// `run --live -- python cpu_split.py 4 3`: the screen shows the command's
/// functions, its output goes to the log named at the end, and its exit
/// status (3) is tachyon-bpf's.
#[test]
fn run_live_keeps_the_output_in_a_log_and_passes_the_status() {
    let py = interpreter("3.11-debian");
    if !require_profiler() || !py.require() {
        return;
    }
    let s = setup("run-live");
    let script = root().join("tests/workloads/cpu_split.py");
    let args: Vec<String> = [
        binary().to_string_lossy().as_ref(),
        "run",
        "--live",
        "--mode",
        "cpu",
        "--rate",
        "1000",
        "--",
        &py.path.to_string_lossy(),
        &script.to_string_lossy(),
        "4",
        "3",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let Some(t) = Tmux::start("run", &shell_line(&args, &s.err, &s.status)) else {
        return;
    };
    let err = || std::fs::read_to_string(&s.err).unwrap_or_default();
    let (led, screen) = wait_screen(&t, Duration::from_secs(20), |s| {
        rows(s).first().is_some_and(|r| r.0 == "sixty")
    });
    assert!(led, "sixty never led:\n{}\n{}", screen_text(&screen), err());
    assert!(
        !screen_text(&screen).contains("\"functions\""),
        "the command wrote over the screen:\n{}",
        screen_text(&screen)
    );
    assert_eq!(
        wait_status(&s.status, Duration::from_secs(30)),
        Some(3),
        "{}",
        err()
    );
    let err = err();
    let log = err
        .lines()
        .find_map(|l| l.strip_prefix("tachyon-bpf: the command's output is in "))
        .unwrap_or_else(|| panic!("no log named:\n{err}"));
    assert!(log.contains("tachyon-bpf-run-"), "{log}");
    let text = std::fs::read_to_string(log).expect("the log");
    let _ = std::fs::remove_file(log);
    // The command's output alone: our own messages come after the screen.
    let truth = text.lines().next().unwrap_or_default();
    assert!(
        truth.contains("\"startup\": \"warm_up\""),
        "the command's output is not in the log:\n{text}"
    );
    assert!(!text.contains("tachyon-bpf"), "{text}");
    assert!(
        err.contains("tachyon-bpf: following 1 process"),
        "our messages are not on stderr:\n{err}"
    );
    let summary = parse_summary(&err);
    assert!(summary["samples"] > 0.0, "{err}");
    assert_eq!(summary["samples lost"], 0.0, "{err}");
}

/// Without a terminal, `top` and `--live` are refused before sampling.
#[test]
fn without_a_terminal_top_and_live_are_refused() {
    if !require_profiler() {
        return;
    }
    for args in [
        &["top", "--all-python"][..],
        &["--all-python", "--live"][..],
        &["run", "--live", "--", "true"][..],
    ] {
        let out = Command::new(binary())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tachyon-bpf");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("the live view needs a terminal: standard output is not one"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("sampling"), "{args:?} started: {err}");
    }
}
