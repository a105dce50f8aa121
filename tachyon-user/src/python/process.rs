//! Recognising a Python process and locating its interpreter state.
//!
//! The interpreter binary (`libpython3.X.so` or a static `python3.X`) is found
//! in `/proc/PID/maps` and opened through `/proc/PID/map_files/…`, never by
//! following a path inside the process's root, so containers work and a
//! container cannot point us at a file of its choosing.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};

use super::layout::{layout_for, Layout, MAX_MINOR, MIN_MINOR};
use super::memory::{le_u64, ProcessMemory, RemoteMemory};

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
struct ElfFacts {
    runtime: Option<u64>,
    code_type: Option<u64>,
    none: Option<u64>,
    /// `Py_Version` (3.11+): PY_VERSION_HEX.
    py_version: Option<u32>,
    /// Vaddr of the segment mapped from file offset 0, page aligned.
    first_load: u64,
}

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

/// Inspects processes, caching what it learned of each binary.
#[derive(Default)]
pub struct Inspector {
    elf_cache: HashMap<(u64, u64), Arc<ElfFacts>>,
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

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn read_maps(pid: u32) -> Result<Vec<Mapping>, InspectError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            InspectError::NoProcess(pid)
        } else {
            InspectError::Io { pid, source: e }
        }
    })?;
    Ok(text.lines().filter_map(parse_maps_line).collect())
}

fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut it = line.split_ascii_whitespace();
    let range = it.next()?;
    let _perms = it.next()?;
    let offset = u64::from_str_radix(it.next()?, 16).ok()?;
    let _dev = it.next()?;
    let _inode = it.next()?;
    let path = it.collect::<Vec<_>>().join(" ");
    let (s, e) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(s, 16).ok()?,
        end: u64::from_str_radix(e, 16).ok()?,
        offset,
        path,
    })
}

/// Reads `/proc/PID/comm` (empty if gone).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// Reads `/proc/PID/task/TID/comm` (empty if gone).
pub fn thread_comm(pid: u32, tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// The interpreter mapping: libpython when mapped, else a `python3.X` executable.
fn interpreter_mapping(maps: &[Mapping]) -> Option<(&Mapping, u32)> {
    let find = |lib: bool| {
        maps.iter().find_map(|m| {
            let b = basename(&m.path);
            if b.starts_with("libpython") != lib || m.offset != 0 {
                return None;
            }
            minor_from_name(b).map(|minor| (m, minor))
        })
    };
    find(true).or_else(|| find(false))
}

fn elf_facts(file: File) -> Result<ElfFacts, String> {
    let cache = ReadCache::new(file);
    let obj = object::File::parse(&cache).map_err(|e| e.to_string())?;
    let mut runtime = None;
    let mut code_type = None;
    let mut none = None;
    let mut py_version_addr = None;
    for sym in obj.dynamic_symbols().chain(obj.symbols()) {
        match sym.name() {
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
    Ok(ElfFacts {
        runtime,
        code_type,
        none,
        py_version,
        first_load,
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

    /// Decides whether `pid` is a supported Python process and where its
    /// interpreter state is.
    pub fn inspect(&mut self, pid: u32) -> Result<PythonProcess, InspectError> {
        let maps = read_maps(pid)?;
        let comm = comm(pid);
        if maps.is_empty() && is_zombie(pid) {
            return Err(InspectError::Exited(pid));
        }
        let Some((map, minor)) = interpreter_mapping(&maps) else {
            return Err(InspectError::NotPython { pid, comm });
        };
        let path = map.path.clone();
        let file_path = PathBuf::from(format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            map.start, map.end
        ));
        let binary_err = |reason: String| InspectError::Binary {
            pid,
            path: path.clone(),
            reason,
        };
        let file = File::open(&file_path).map_err(|e| binary_err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| binary_err(e.to_string()))?;
        let key = (meta.dev(), meta.ino());
        let facts = match self.elf_cache.get(&key) {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(elf_facts(file).map_err(binary_err)?);
                self.elf_cache.insert(key, f.clone());
                f
            }
        };
        let version = match facts.py_version {
            Some(hex) if hex >> 24 == 3 => version_string(hex),
            _ => format!("3.{minor}"),
        };
        let Some(layout) = layout_for(minor) else {
            return Err(InspectError::Unsupported { pid, comm, version });
        };
        let runtime = facts.runtime.ok_or_else(|| InspectError::NoRuntime {
            pid,
            path: path.clone(),
        })?;
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

/// Whether the process has exited but is not reaped yet.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Every pid in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The thread group id of a task (`Tgid:` in `/proc/TID/status`).
pub fn tgid_of(tid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
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
    fn maps_lines_parse() {
        let m = parse_maps_line(
            "7f0c1a000000-7f0c1a100000 r--p 00000000 08:01 1234 /usr/lib/libpython3.12.so.1.0",
        )
        .expect("parses");
        assert_eq!(m.start, 0x7f0c1a000000);
        assert_eq!(m.offset, 0);
        assert_eq!(m.path, "/usr/lib/libpython3.12.so.1.0");
        assert!(parse_maps_line("garbage").is_none());
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
