//! Test helpers shared by the writers: a fixture profile exercising the
//! awkward cases, golden-file comparison and a scratch directory.

use std::fs;
use std::path::{Path, PathBuf};

use crate::profile::{FrameInfo, Instr, Profile, ProfileMeta, StackKey, TimedSample};

/// Sampling period of the fixtures: 10 ms (100 Hz).
const PERIOD_NS: u64 = 10_000_000;

/// `(pid, name, version, [(tid, thread name)])` of one fixture process.
type ProcessSpec<'a> = (u32, &'a str, &'a str, &'a [(u32, &'a str)]);

/// Builds a profile from `(pid, tid, frames root first, samples)` rows, each
/// sample weighing `weight_ns`, at increasing times.
fn build(
    meta: ProfileMeta,
    processes: &[ProcessSpec<'_>],
    rows: &[(u32, u32, Vec<FrameInfo>, u64)],
    weight_ns: u64,
) -> Profile {
    let mut p = Profile::new(meta);
    p.keep_timeline();
    for &(pid, name, version, threads) in processes {
        for &(tid, tname) in threads {
            p.note_thread(pid, tid, || tname.to_string());
        }
        if let Some(info) = p.processes.get_mut(&pid) {
            info.name = name.to_string();
            info.version = version.to_string();
            info.cmdline = format!("{name} app.py");
        }
    }
    let mut time_ns = 0;
    for (pid, tid, frames, samples) in rows {
        let ids: Vec<_> = frames.iter().map(|f| p.intern_frame(f.clone())).collect();
        let stack = p.intern_stack(&ids);
        for _ in 0..*samples {
            p.add_sample(TimedSample {
                time_ns,
                key: StackKey {
                    pid: *pid,
                    tid: *tid,
                    stack,
                },
                weight_ns,
                flags: 0,
                cpu: (time_ns / PERIOD_NS % 2) as u32,
            });
            time_ns += PERIOD_NS;
        }
    }
    p
}

fn py(name: &str, file: &str, line: u32, first_line: u32) -> FrameInfo {
    FrameInfo::python(name, file, line, first_line)
}

/// The shared fixture: a `cpu` profile of two processes (python3.12 pid 100,
/// python3.8 pid 200) with several threads each, unicode names, `<module>`,
/// `<lambda>`, a nested qualified name, a 60-frame recursive stack, an
/// `<unknown>` marker, a file path with spaces, a stdlib frame, a name
/// containing `;`, and identical stacks on two threads of one process.
pub(crate) fn fixture_profile() -> Profile {
    let meta = ProfileMeta {
        rate_hz: 100,
        duration_ns: 2_000_000_000,
        start_unix_ns: 1_700_000_000_000_000_000,
        mode: "cpu".to_string(),
    };
    let processes: &[ProcessSpec<'_>] = &[
        (
            100,
            "python3.12",
            "3.12.1",
            &[(100, "python3.12"), (101, "worker-1"), (102, "")],
        ),
        (
            200,
            "python3.8",
            "3.8.18",
            &[(200, "python3.8"), (201, "工作者")],
        ),
    ];

    let app = "/srv/my app/main.py";
    let module = py("<module>", app, 40, 1);
    let main = py("main", app, 35, 30);
    let worker = py("worker", app, 22, 20);
    let lambda = py("<lambda>", app, 23, 23);
    let method = py("Outer.Inner.method", "/srv/my app/models.py", 12, 10);
    let groesse = py("größe", "/srv/my app/größe.py", 7, 5);
    let nihongo = py("日本語", "/srv/my app/日本語.py", 3, 1);
    let stdlib = py("Thread.run", "/usr/lib/python3.12/threading.py", 1010, 990);
    let semicolon = py("weird;name", "gen.py", 0, 0);
    let unknown = FrameInfo::marker("<unknown>");

    let mut recursive = vec![py("<module>", "fib.py", 9, 1), py("main", "fib.py", 7, 6)];
    for _ in 0..59 {
        recursive.push(py("fib", "fib.py", 4, 1));
    }
    recursive.push(py("fib", "fib.py", 2, 1));
    assert_eq!(recursive.len(), 62);

    let rows = vec![
        // pid 100: the main thread and a worker run the same stack.
        (100, 100, vec![module.clone(), main.clone()], 5),
        (
            100,
            100,
            vec![module.clone(), main.clone(), method.clone()],
            7,
        ),
        (
            100,
            101,
            vec![module.clone(), main.clone(), method.clone()],
            3,
        ),
        (
            100,
            101,
            vec![stdlib.clone(), worker.clone(), lambda.clone()],
            4,
        ),
        (100, 102, vec![stdlib.clone(), worker.clone(), groesse], 6),
        (100, 102, vec![unknown.clone()], 2),
        (100, 102, vec![unknown, nihongo.clone()], 1),
        // pid 200.
        (200, 200, recursive, 9),
        (200, 200, vec![], 1),
        (200, 201, vec![py("<module>", "job.py", 3, 1), nihongo], 4),
        (200, 201, vec![py("<module>", "job.py", 5, 1), semicolon], 2),
    ];
    build(meta, processes, &rows, PERIOD_NS)
}

/// A frame with the instruction it ran (`--opcodes`): `cols` on 3.11+.
fn op(f: FrameInfo, opcode: &str, family: &str, cols: Option<(u32, u32)>) -> FrameInfo {
    let line = f.line;
    f.with_instr(Instr {
        opcode: opcode.to_string(),
        family: family.to_string(),
        end_line: cols.map(|_| line),
        col: cols.map(|c| c.0),
        end_col: cols.map(|c| c.1),
    })
}

/// A `cpu` profile taken with `--opcodes`: pid 300 (python3.12) runs
/// `total = total + i` at line 5 (mostly `BINARY_OP_ADD_INT`, columns
/// 16–25, some `STORE_FAST` at 8–13) and a call whose bytecode could not be
/// read (no opcode, columns known); pid 400 (python3.9, no columns) runs
/// `BINARY_ADD` with a `<GC>` marker above it.
pub(crate) fn opcodes_profile() -> Profile {
    let meta = ProfileMeta {
        rate_hz: 100,
        duration_ns: 1_000_000_000,
        start_unix_ns: 1_700_000_000_000_000_000,
        mode: "cpu".to_string(),
    };
    let app = "/srv/loop.py";
    let module = op(py("<module>", app, 10, 1), "CALL", "CALL", Some((0, 6)));
    let main = op(
        py("main", app, 9, 7),
        "CALL_PY_EXACT_ARGS",
        "CALL",
        Some((8, 17)),
    );
    let add = op(
        py("hot", app, 5, 2),
        "BINARY_OP_ADD_INT",
        "BINARY_OP",
        Some((16, 25)),
    );
    let store = op(
        py("hot", app, 5, 2),
        "STORE_FAST",
        "STORE_FAST",
        Some((8, 13)),
    );
    let unread = op(py("hot", app, 4, 2), "", "", Some((13, 21)));
    let old_module = op(
        py("<module>", "old.py", 3, 1),
        "CALL_FUNCTION",
        "CALL_FUNCTION",
        None,
    );
    let old_add = op(py("work", "old.py", 2, 1), "BINARY_ADD", "BINARY_ADD", None);
    let rows = vec![
        (300, 300, vec![module.clone(), main.clone(), add], 17),
        (300, 300, vec![module.clone(), main.clone(), store], 2),
        (300, 300, vec![module, main, unread], 1),
        (400, 400, vec![old_module.clone(), old_add.clone()], 4),
        (
            400,
            400,
            vec![old_module, old_add, FrameInfo::marker("<GC>")],
            1,
        ),
    ];
    build(
        meta,
        &[
            (300, "python3.12", "3.12.1", &[(300, "python3.12")]),
            (400, "python3.9", "3.9.18", &[(400, "python3.9")]),
        ],
        &rows,
        PERIOD_NS,
    )
}

/// A tiny profile (`mode` is `cpu` or `wall`): pid 4242 `python3.12`, one
/// stack sampled twice on tid 4242 (unnamed) and once on tid 4243
/// (`worker`), each sample weighing 1.5 ms.
pub(crate) fn small_profile(mode: &str) -> Profile {
    let meta = ProfileMeta {
        rate_hz: 100,
        duration_ns: 30_000_000,
        start_unix_ns: 0,
        mode: mode.to_string(),
    };
    let frames = vec![py("main", "app.py", 10, 1), py("work", "app.py", 20, 15)];
    build(
        meta,
        &[(
            4242,
            "python3.12",
            "3.12.1",
            &[(4242, ""), (4243, "worker")],
        )],
        &[(4242, 4242, frames.clone(), 2), (4242, 4243, frames, 1)],
        1_500_000,
    )
}

/// Compares `actual` byte for byte with `tests/golden/NAME`; with
/// `TACHYON_BLESS=1` in the environment, (re)writes the golden file instead.
pub(crate) fn assert_golden(name: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name);
    if std::env::var_os("TACHYON_BLESS").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {}: {e} (run with TACHYON_BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let got = std::env::temp_dir().join(format!("tachyon-golden-{name}.actual"));
        let _ = fs::write(&got, actual);
        panic!(
            "output differs from golden file {} (got {} bytes, expected {}); actual output \
             written to {}; run with TACHYON_BLESS=1 to accept it",
            path.display(),
            actual.len(),
            expected.len(),
            got.display()
        );
    }
}

/// A scratch directory under the system temp dir, removed on drop.
pub(crate) struct TestDir(PathBuf);

impl TestDir {
    pub(crate) fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tachyon-test-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
