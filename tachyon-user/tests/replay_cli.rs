//! `tachyon-bpf replay` end to end (no eBPF needed): the golden recording of
//! the fixture profile replays to the golden file of every format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn tachyon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tachyon-bpf"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("tachyon-replay-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("tachyon-bpf: error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn replays_to_every_golden_file() {
    let rec = golden("fixture.tbr");
    let rec = rec.to_str().unwrap();
    let dir = Scratch::new("golden");

    // On standard output, as for a run, the default is the text table.
    let out = tachyon(&["replay", rec]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, std::fs::read(golden("fixture.txt")).unwrap());
    let out = tachyon(&["replay", rec, "--threads", "-f", "collapsed"]);
    assert_eq!(
        out.stdout,
        std::fs::read(golden("fixture.threads.collapsed")).unwrap()
    );

    for (file, golden_name, extra) in [
        ("p.svg", "fixture.svg", None),
        ("p.pb.gz", "fixture.pb.gz", None),
        ("p.pprof", "fixture.pb.gz", None),
        ("p.tbr", "fixture.tbr", None),
        ("p.bin", "fixture.tbr", Some("binary")),
    ] {
        let path = dir.path(file);
        let mut args = vec!["replay", rec, "-o", &path];
        if let Some(f) = extra {
            args.extend(["--format", f]);
        }
        let out = tachyon(&args);
        assert!(out.status.success(), "{file}: {out:?}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(golden(golden_name)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn damaged_recordings_fail_cleanly() {
    let dir = Scratch::new("damaged");
    let bytes = std::fs::read(golden("fixture.tbr")).unwrap();
    let cut = dir.path("cut.tbr");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    assert_one_line_error(&tachyon(&["replay", &cut]), "the recording is truncated");

    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let bad = dir.path("bad.tbr");
    std::fs::write(&bad, flipped).unwrap();
    assert_one_line_error(&tachyon(&["replay", &bad]), "the recording is corrupt");

    let text = golden("fixture.collapsed");
    assert_one_line_error(
        &tachyon(&["replay", text.to_str().unwrap()]),
        "not a tachyon-bpf recording",
    );
    assert_one_line_error(
        &tachyon(&["replay", &dir.path("missing.tbr")]),
        "No such file",
    );
}

#[test]
fn diff_baseline() {
    let rec = golden("fixture.tbr");
    let rec = rec.to_str().unwrap();
    let dir = Scratch::new("diff");

    // Against itself (as a collapsed file, or as a recording) nothing changed.
    let collapsed = golden("fixture.collapsed");
    for base in [collapsed.to_str().unwrap(), rec] {
        let out = tachyon(&["replay", rec, "-f", "flamegraph", "--diff-baseline", base]);
        assert!(out.status.success(), "{out:?}");
        let svg = String::from_utf8(out.stdout).unwrap();
        assert!(
            svg.contains("<title>all (44 samples, 100%)</title>"),
            "{base}"
        );
        assert!(svg.contains("(15 samples, 34.09%; 0.00%)"), "{base}");
        assert!(!svg.contains("%; +") && !svg.contains("%; -"), "{base}");
    }

    // A baseline where one stack had more samples: it shrank.
    let text = std::fs::read_to_string(&collapsed).unwrap();
    let first = text.lines().next().unwrap();
    let (stack, n) = first.rsplit_once(' ').unwrap();
    let more = text.replacen(
        first,
        &format!("{stack} {}", n.parse::<u64>().unwrap() + 44),
        1,
    );
    let base = dir.path("base.collapsed");
    std::fs::write(&base, more).unwrap();
    let out = tachyon(&["replay", rec, "-f", "flamegraph", "--diff-baseline", &base]);
    let svg = String::from_utf8(out.stdout).unwrap();
    assert!(svg.contains("%; -"), "no shrinking frame");

    assert_one_line_error(
        &tachyon(&["replay", rec, "-f", "pprof", "--diff-baseline", &base]),
        "--diff-baseline applies to flamegraph output only, not pprof",
    );
    let junk = dir.path("junk.txt");
    std::fs::write(&junk, "not folded\n").unwrap();
    assert_one_line_error(
        &tachyon(&[
            "replay",
            rec,
            "-o",
            &dir.path("x.svg"),
            "--diff-baseline",
            &junk,
        ]),
        "line 1 is not a folded stack",
    );
    // A live run checks the baseline before it profiles anything.
    assert_one_line_error(
        &tachyon(&["--pid", "1", "-o", "x.pb.gz", "--diff-baseline", &base]),
        "--diff-baseline applies to flamegraph output only",
    );
}
