//! Recognising a Python process and locating its interpreter state.
//!
//! The interpreter binary (`libpython3.X.so` or a static `python3.X`) is found
//! in `/proc/PID/maps` and opened through `/proc/PID/map_files/…`, never by
//! following a path inside the process's root, so containers work and a
//! container cannot point us at a file of its choosing.

use std::fs::File;

use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};

use super::layout::{layout_for, Layout, MAX_MINOR, MIN_MINOR};
use super::memory::{le_u64, ProcessMemory, RemoteMemory};
use crate::filecache::FileCache;
use crate::procfs::{self, Mapping};

/// Why a process cannot be profiled.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("no process with pid {0}")]
    NoProcess(u32),
    #[error("process {0} has already exited")]
    Exited(u32),
    #[error("process {pid} ({comm}) is not a Python process: no libpython or python executable is mapped")]
    NotPython { pid: u32, comm: String },
    #[error("process {pid} ({comm}) runs Python {version}, which tachyon-bpf does not support (supported: 3.{MIN_MINOR} to 3.{MAX_MINOR})")]
    Unsupported {
        pid: u32,
        comm: String,
        version: String,
    },
    #[error("process {pid}: cannot read interpreter binary {path}: {reason}")]
    Binary {
        pid: u32,
        path: String,
        reason: String,
    },
    #[error("process {pid}: {path} has no _PyRuntime symbol or .PyRuntime section")]
    NoRuntime { pid: u32, path: String },
    #[error("process {pid}: {path} is named for Python 3.{named} but the binary itself is {found}; not profiled (its layout would be misread)")]
    VersionMismatch {
        pid: u32,
        path: String,
        named: u32,
        found: String,
    },
    #[error("process {pid}: {path} is named for Python 3.{named}, but no Py_Version and no version string in its read-only data confirms it; not profiled")]
    VersionUnconfirmed { pid: u32, path: String, named: u32 },
    #[error("process {pid}: {path} is a debug build of Python (Py_DEBUG: it has _Py_NegativeRefcount), whose objects have another layout; not supported")]
    DebugBuild { pid: u32, path: String },
    #[error("process {pid}: _Py_DebugOffsets do not match Python 3.{minor} ({reason})")]
    DebugOffsets {
        pid: u32,
        minor: u32,
        reason: String,
    },
    #[error("process {pid}: {source}")]
    Io {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// A Python process ready to be profiled.
#[derive(Clone, Debug)]
pub struct PythonProcess {
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// e.g. `3.12.1` (micro may be missing on 3.8–3.10: `3.9`).
    pub version: String,
    pub layout: &'static Layout,
    /// Address of `_PyRuntime` in the process.
    pub runtime_addr: u64,
    /// Address of `PyCode_Type` in the process (0 if not exported).
    pub code_type: u64,
    /// Address of `_Py_NoneStruct` in the process (0 if not exported).
    pub none_addr: u64,
    /// Path of the interpreter binary as the process sees it.
    pub binary: String,
}

/// Facts about one interpreter binary, cached by (device, inode).
#[derive(Clone, Debug)]
pub struct ElfFacts {
    pub runtime: Option<u64>,
    pub code_type: Option<u64>,
    pub none: Option<u64>,
    /// `Py_Version` (3.11+): PY_VERSION_HEX.
    pub py_version: Option<u32>,
    /// Vaddr of the segment mapped from file offset 0, page aligned.
    pub first_load: u64,
    /// Minor versions named by version strings (`3.X.Y`, also as the tail
    /// of a longer string: compilers merge the `PY_VERSION` literal into
    /// one that ends the same) in `.rodata`; read only without `Py_Version`.
    pub rodata_minors: Vec<u32>,
    /// A `Py_DEBUG` build (`_Py_NegativeRefcount` is defined).
    pub debug_build: bool,
}

/// Most of `.rodata` scanned for version strings.
const RODATA_SCAN: u64 = 32 << 20;

/// The minor versions of the `3.X.Y` strings in `data` (NUL-separated
/// strings, matched at their end after a start, `/`, `-`, space or `v`):
/// `3.9.18`, `/opt/python/3.9.18`, `Python-3.10.13`, `3.13.0rc1`, `3.12.1+`.
pub fn version_minors_in(data: &[u8]) -> Vec<u32> {
    let mut minors = Vec::new();
    for s in data.split(|&b| b == 0) {
        if let Some(m) = tail_version_minor(s) {
            if !minors.contains(&m) {
                minors.push(m);
                if minors.len() > 8 {
                    break;
                }
            }
        }
    }
    minors
}

fn tail_version_minor(s: &[u8]) -> Option<u32> {
    // The tail: digits and dots, then maybe a pre-release tag and number
    // (`rc1`, `a2`, `b3`) and a `+`.
    let s = s.strip_suffix(b"+").unwrap_or(s);
    let digits_start = s.len() - s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let before = &s[..digits_start];
    let mut core = s;
    if digits_start < s.len() {
        for tag in [&b"rc"[..], b"a", b"b"] {
            if let Some(c) = before.strip_suffix(tag) {
                core = c;
                break;
            }
        }
    }
    // core ends with 3.X.Y; find where it starts.
    let start = core
        .iter()
        .rposition(|b| !(b.is_ascii_digit() || *b == b'.'))
        .map_or(0, |i| i + 1);
    if start > 0 && !matches!(core[start - 1], b'/' | b'-' | b' ' | b'v') {
        return None;
    }
    let text = std::str::from_utf8(&core[start..]).ok()?;
    let mut parts = text.split('.');
    let (major, minor, micro) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || major != "3" || minor.is_empty() || minor.len() > 2 {
        return None;
    }
    if micro.is_empty() || micro.len() > 2 || !micro.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    minor.parse().ok()
}

/// Inspects processes, caching what it learned of each binary.
pub struct Inspector {
    elf_cache: FileCache<ElfFacts>,
}

/// Interpreter binaries whose facts are kept.
const ELF_CACHE: usize = 256;

impl Default for Inspector {
    fn default() -> Self {
        Self {
            elf_cache: FileCache::new(ELF_CACHE),
        }
    }
}

/// `libpython3.12.so.1.0` → 12, `python3.11` → 11, `libpython3.13t.so` → 13.
fn minor_from_name(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("libpython3.")
        .or_else(|| name.strip_prefix("python3."))?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let tail = &rest[digits.len()..];
    let ok_tail = tail.is_empty()
        || tail.starts_with(".so")
        || tail == "t"
        || tail.starts_with("t.so")
        || tail.starts_with("d.so")
        || tail == "d";
    if digits.is_empty() || !ok_tail {
        return None;
    }
    digits.parse().ok()
}

/// The interpreter mapping: libpython when mapped, else a `python3.X` executable.
fn interpreter_mapping(maps: &[Mapping]) -> Option<(&Mapping, u32)> {
    let find = |lib: bool| {
        maps.iter().find_map(|m| {
            let b = m.file_name();
            if b.starts_with("libpython") != lib || m.offset != 0 {
                return None;
            }
            minor_from_name(b).map(|minor| (m, minor))
        })
    };
    find(true).or_else(|| find(false))
}

fn elf_facts(file: File) -> Result<ElfFacts, String> {
    elf_facts_in(&ReadCache::new(file))
}

/// What an interpreter binary says of itself, from its bytes however they
/// are read (a file through a read cache, a buffer when fuzzing). Any input
/// gives facts or an error.
pub fn elf_facts_in<'a, R: object::ReadRef<'a>>(data: R) -> Result<ElfFacts, String> {
    let obj = object::File::parse(data).map_err(|e| e.to_string())?;
    let mut runtime = None;
    let mut code_type = None;
    let mut none = None;
    let mut py_version_addr = None;
    let mut debug_build = false;
    for sym in obj.dynamic_symbols().chain(obj.symbols()) {
        match sym.name() {
            Ok("_Py_NegativeRefcount") => debug_build = true,
            Ok("_PyRuntime") if runtime.is_none() => runtime = Some(sym.address()),
            Ok("PyCode_Type") if code_type.is_none() => code_type = Some(sym.address()),
            Ok("_Py_NoneStruct") if none.is_none() => none = Some(sym.address()),
            Ok("Py_Version") if py_version_addr.is_none() => py_version_addr = Some(sym.address()),
            _ => {}
        }
    }
    if runtime.is_none() {
        runtime = obj.section_by_name(".PyRuntime").map(|s| s.address());
    }
    let py_version = py_version_addr.and_then(|addr| {
        obj.sections().find_map(|s| {
            let data = s.data_range(addr, 4).ok()??;
            Some(u32::from_le_bytes(data.try_into().ok()?))
        })
    });
    // The segment mapped from file offset 0 (what the maps line with offset 0
    // shows); patchelf'd binaries can have a lower segment elsewhere.
    let first_load = obj
        .segments()
        .find(|s| s.file_range().0 & !0xfff == 0)
        .map(|s| s.address())
        .or_else(|| obj.segments().map(|s| s.address()).min())
        .unwrap_or(0)
        & !0xfff;
    let rodata_minors = match py_version {
        Some(_) => Vec::new(),
        None => obj
            .section_by_name(".rodata")
            .filter(|s| s.size() <= RODATA_SCAN)
            .and_then(|s| s.data().ok())
            .map(version_minors_in)
            .unwrap_or_default(),
    };
    Ok(ElfFacts {
        runtime,
        code_type,
        none,
        py_version,
        first_load,
        rodata_minors,
        debug_build,
    })
}

/// `PY_VERSION_HEX` → `3.12.1`.
fn version_string(hex: u32) -> String {
    format!("{}.{}.{}", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
}

impl Inspector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binaries dropped from the cache to stay within its bound.
    pub fn evictions(&self) -> u64 {
        self.elf_cache.evictions
    }

    /// Decides whether `pid` is a supported Python process and where its
    /// interpreter state is.
    pub fn inspect(&mut self, pid: u32) -> Result<PythonProcess, InspectError> {
        let maps = procfs::maps(pid).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                InspectError::NoProcess(pid)
            } else {
                InspectError::Io { pid, source: e }
            }
        })?;
        let comm = procfs::comm(pid);
        if maps.is_empty() && procfs::stat(pid).is_some_and(|s| s.state == 'Z') {
            return Err(InspectError::Exited(pid));
        }
        let Some((map, minor)) = interpreter_mapping(&maps) else {
            return Err(InspectError::NotPython { pid, comm });
        };
        let path = map.path.clone();
        let file_path = map.map_file(pid);
        let binary_err = |reason: String| InspectError::Binary {
            pid,
            path: path.clone(),
            reason,
        };
        let file = File::open(&file_path).map_err(|e| binary_err(e.to_string()))?;
        let facts = self.elf_cache.get_or_parse(
            file,
            |f| elf_facts(f).map_err(binary_err),
            |e| binary_err(e.to_string()),
        )?;
        if layout_for(minor).is_none() {
            let version = match facts.py_version {
                Some(hex) if hex >> 24 == 3 => version_string(hex),
                _ => format!("3.{minor}"),
            };
            return Err(InspectError::Unsupported { pid, comm, version });
        }
        // Before the version: right after an exec, the `python3.X` launcher
        // may be mapped before its libpython is; it has no runtime, and that
        // error is the one the tracker retries.
        let runtime = facts.runtime.ok_or_else(|| InspectError::NoRuntime {
            pid,
            path: path.clone(),
        })?;
        // The version is the binary's, checked against the file name.
        if facts.debug_build {
            return Err(InspectError::DebugBuild { pid, path });
        }
        let version = match facts.py_version {
            Some(hex) if hex >> 24 == 3 && (hex >> 16) & 0xff == minor => version_string(hex),
            Some(hex) => {
                return Err(InspectError::VersionMismatch {
                    pid,
                    path,
                    named: minor,
                    found: format!("Python {} (Py_Version)", version_string(hex)),
                })
            }
            None if facts.rodata_minors.contains(&minor) => format!("3.{minor}"),
            None if facts.rodata_minors.is_empty() => {
                return Err(InspectError::VersionUnconfirmed {
                    pid,
                    path,
                    named: minor,
                })
            }
            None => {
                let found: Vec<String> = facts
                    .rodata_minors
                    .iter()
                    .map(|m| format!("3.{m}"))
                    .collect();
                return Err(InspectError::VersionMismatch {
                    pid,
                    path,
                    named: minor,
                    found: format!("Python {} (version strings)", found.join(" or ")),
                });
            }
        };
        let Some(layout) = layout_for(minor) else {
            return Err(InspectError::Unsupported { pid, comm, version });
        };
        let bias = map.start.wrapping_sub(facts.first_load);
        let runtime_addr = runtime.wrapping_add(bias);
        let mut proc = PythonProcess {
            pid,
            comm,
            version,
            layout,
            runtime_addr,
            code_type: facts.code_type.map(|a| a.wrapping_add(bias)).unwrap_or(0),
            none_addr: facts.none.map(|a| a.wrapping_add(bias)).unwrap_or(0),
            binary: path,
        };
        if layout.debug_offsets.is_some() {
            let hex = check_debug_offsets(&ProcessMemory::new(pid), &proc)?;
            proc.version = version_string(hex);
        }
        Ok(proc)
    }
}

/// Checks the `_Py_DebugOffsets` (3.13+) at the start of `_PyRuntime`: the
/// cookie, the version, and every offset the layout row relies on. Returns
/// the live `PY_VERSION_HEX`.
fn check_debug_offsets(mem: &dyn RemoteMemory, proc: &PythonProcess) -> Result<u32, InspectError> {
    let err = |reason: String| InspectError::DebugOffsets {
        pid: proc.pid,
        minor: proc.layout.minor,
        reason,
    };
    let Some(pos) = proc.layout.debug_offsets else {
        return Err(err("no debug offset positions for this version".into()));
    };
    let table = mem
        .read_vec(proc.runtime_addr, pos.read_size())
        .map_err(|e| err(e.to_string()))?;
    if table.get(..8) != Some(b"xdebugpy".as_slice()) {
        return Err(err("no xdebugpy cookie".into()));
    }
    let hex = le_u64(&table, 8).unwrap_or(0) as u32;
    if hex >> 24 != 3 || (hex >> 16) & 0xff != proc.layout.minor {
        return Err(err(format!("live version is {}", version_string(hex))));
    }
    if le_u64(&table, 16).unwrap_or(0) != 0 {
        return Err(err("free-threaded builds are not supported yet".into()));
    }
    for (what, at, want) in pos.expectations(proc.layout) {
        let got = le_u64(&table, at).unwrap_or(u64::MAX);
        if got != want {
            return Err(err(format!("{what} is {got}, the table says {want}")));
        }
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_versions_from_file_names() {
        assert_eq!(minor_from_name("libpython3.12.so.1.0"), Some(12));
        assert_eq!(minor_from_name("libpython3.13t.so.1.0"), Some(13));
        assert_eq!(minor_from_name("python3.11"), Some(11));
        assert_eq!(minor_from_name("python3.8"), Some(8));
        assert_eq!(minor_from_name("python3.11-config"), None);
        assert_eq!(minor_from_name("python3"), None);
        assert_eq!(minor_from_name("libpython3.so"), None);
    }

    #[test]
    fn version_strings_in_read_only_data() {
        let data = b"\0C_ALL\0pymalloc\x003.11.2\0s\0";
        assert_eq!(version_minors_in(data), [11]);
        // Merged into the tail of a path (pyenv builds), or a source dir.
        assert_eq!(version_minors_in(b"x\0/root/.pyenv/versions/3.9.18\0"), [9]);
        assert_eq!(version_minors_in(b"/b/Python-3.10.13\0"), [10]);
        assert_eq!(version_minors_in(b"3.13.0rc1\0x\x003.12.1+\0"), [13, 12]);
        assert_eq!(version_minors_in(b"3.15.0a2\0"), [15]);
        // Not versions: other majors, four parts, glued to letters, no micro.
        for not in [
            &b"2.7.18\0"[..],
            b"3.9.18.1\0",
            b"libfoo3.9.18\0",
            b"3.9\0",
            b"GLIBC_2.3.4\0",
            b"3.9.\0",
            b"\0\0",
            b"",
        ] {
            assert!(version_minors_in(not).is_empty(), "{not:?}");
        }
    }

    #[test]
    fn version_hex_formats() {
        assert_eq!(version_string(0x030c01f0), "3.12.1");
    }

    #[test]
    fn this_test_binary_is_not_python() {
        let mut i = Inspector::new();
        let err = i.inspect(std::process::id()).expect_err("not python");
        assert!(matches!(err, InspectError::NotPython { .. }), "{err}");
    }
}

#[cfg(test)]
mod debug_offsets_tests {
    //! `_Py_DebugOffsets` as each interpreter lays it out (cookie, version,
    //! free_threaded, then its sections), written by hand: (field, position
    //! in the table, value a live process of that version reports).

    use super::*;
    use crate::python::memory::FakeMemory;

    const RUNTIME: u64 = 0x7f00_1234_0000;

    type Table = &'static [(&'static str, u32, u64)];

    const TABLE_313: Table = &[
        ("runtime_state.interpreters_head", 40, 632),
        ("interpreter_state.next", 64, 7264),
        ("interpreter_state.threads_head", 72, 7344),
        ("thread_state.current_frame", 184, 72),
        ("thread_state.thread_id", 192, 152),
        ("interpreter_frame.previous", 232, 8),
        ("interpreter_frame.executable", 240, 0),
        ("interpreter_frame.instr_ptr", 248, 56),
        ("interpreter_frame.owner", 264, 70),
        ("code_object.filename", 280, 112),
        ("code_object.name", 288, 120),
        ("code_object.qualname", 296, 128),
        ("code_object.linetable", 304, 136),
        ("code_object.firstlineno", 312, 68),
        ("code_object.co_code_adaptive", 344, 200),
    ];

    const TABLE_314: Table = &[
        ("runtime_state.interpreters_head", 40, 808),
        ("interpreter_state.next", 64, 7272),
        ("interpreter_state.threads_head", 72, 7344),
        ("thread_state.current_frame", 208, 72),
        ("thread_state.thread_id", 216, 152),
        ("interpreter_frame.previous", 256, 8),
        ("interpreter_frame.executable", 264, 0),
        ("interpreter_frame.instr_ptr", 272, 56),
        ("interpreter_frame.owner", 288, 74),
        ("code_object.filename", 320, 112),
        ("code_object.name", 328, 120),
        ("code_object.qualname", 336, 128),
        ("code_object.linetable", 344, 136),
        ("code_object.firstlineno", 352, 68),
        ("code_object.co_code_adaptive", 384, 208),
    ];

    const TABLE_315: Table = &[
        ("runtime_state.interpreters_head", 40, 936),
        ("interpreter_state.next", 64, 7264),
        ("interpreter_state.threads_head", 72, 7336),
        ("thread_state.current_frame", 208, 72),
        ("thread_state.thread_id", 240, 176),
        ("interpreter_frame.previous", 320, 8),
        ("interpreter_frame.executable", 328, 0),
        ("interpreter_frame.instr_ptr", 336, 56),
        ("interpreter_frame.owner", 352, 74),
        ("code_object.filename", 384, 112),
        ("code_object.name", 392, 120),
        ("code_object.qualname", 400, 128),
        ("code_object.linetable", 408, 136),
        ("code_object.firstlineno", 416, 68),
        ("code_object.co_code_adaptive", 448, 208),
    ];

    /// (minor, PY_VERSION_HEX of a live process, its table).
    const VERSIONS: &[(u32, u32, Table)] = &[
        (13, 0x030d_03f0, TABLE_313),
        (14, 0x030e_00f0, TABLE_314),
        (15, 0x030f_00a1, TABLE_315),
    ];

    fn process(minor: u32) -> PythonProcess {
        PythonProcess {
            pid: 4242,
            comm: "python3".into(),
            version: format!("3.{minor}"),
            layout: layout_for(minor).expect("supported version"),
            runtime_addr: RUNTIME,
            code_type: 0,
            none_addr: 0,
            binary: format!("/usr/lib/libpython3.{minor}.so.1.0"),
        }
    }

    /// `_PyRuntime` starting with the debug offsets; every byte not written
    /// is filler, so a check reading the wrong place fails.
    fn runtime(hex: u32, table: Table) -> FakeMemory {
        let mut mem = FakeMemory::new().with(RUNTIME, &[0xa5; 1024]);
        mem.put(RUNTIME, b"xdebugpy")
            .put_u64(RUNTIME + 8, hex as u64)
            .put_u64(RUNTIME + 16, 0);
        for &(_, at, value) in table {
            mem.put_u64(RUNTIME + at as u64, value);
        }
        mem
    }

    fn reason(r: Result<u32, InspectError>) -> String {
        match r {
            Err(InspectError::DebugOffsets {
                pid: 4242, reason, ..
            }) => reason,
            other => panic!("expected a DebugOffsets error, got {other:?}"),
        }
    }

    #[test]
    fn matching_debug_offsets_pass() {
        for &(minor, hex, table) in VERSIONS {
            let mem = runtime(hex, table);
            let got = check_debug_offsets(&mem, &process(minor));
            assert_eq!(got.ok(), Some(hex), "3.{minor}");
        }
    }

    #[test]
    fn any_one_field_off_fails_naming_it() {
        for &(minor, hex, table) in VERSIONS {
            for &(what, at, value) in table {
                let mut mem = runtime(hex, table);
                mem.put_u64(RUNTIME + at as u64, value + 8);
                let r = reason(check_debug_offsets(&mem, &process(minor)));
                assert!(
                    r.contains(&format!("{what} is {}", value + 8)),
                    "3.{minor} {what}: {r}"
                );
            }
        }
    }

    #[test]
    fn bad_cookie_version_or_build_fails() {
        for &(minor, hex, table) in VERSIONS {
            let proc = process(minor);
            let mut mem = runtime(hex, table);
            mem.put(RUNTIME, b"xdebugpz");
            assert!(reason(check_debug_offsets(&mem, &proc)).contains("cookie"));

            // Another minor version (the next one), and Python 2.
            let mut mem = runtime(hex, table);
            mem.put_u64(RUNTIME + 8, (hex + 0x0001_0000) as u64);
            let next = format!("live version is 3.{}.", minor + 1);
            assert!(reason(check_debug_offsets(&mem, &proc)).contains(&next));
            mem.put_u64(RUNTIME + 8, 0x0207_12f0);
            assert!(reason(check_debug_offsets(&mem, &proc)).contains("live version is 2.7.18"));

            // A free-threaded build.
            let mut mem = runtime(hex, table);
            mem.put_u64(RUNTIME + 16, 1);
            assert!(reason(check_debug_offsets(&mem, &proc)).contains("free-threaded"));
        }
    }

    #[test]
    fn unreadable_debug_offsets_fail() {
        for &(minor, hex, table) in VERSIONS {
            // Mapped only up to the last field checked, minus one byte.
            let last = table.iter().map(|&(_, at, _)| at).max().unwrap_or(0) as usize;
            let full = runtime(hex, table)
                .read_vec(RUNTIME, last + 8)
                .expect("mapped");
            let whole = FakeMemory::new().with(RUNTIME, &full);
            assert_eq!(check_debug_offsets(&whole, &process(minor)).ok(), Some(hex));
            let short = FakeMemory::new().with(RUNTIME, &full[..last + 7]);
            assert!(reason(check_debug_offsets(&short, &process(minor))).contains("cannot read"));
        }
    }

    #[test]
    fn versions_without_debug_offsets_are_refused() {
        let mem = runtime(0x030c_01f0, &[]);
        assert!(reason(check_debug_offsets(&mem, &process(12))).contains("no debug offset"));
    }
}
