//! Recognising a Python process and locating its interpreter state.
//!
//! A process is Python when one of the ELF objects it maps holds CPython's
//! runtime (`_PyRuntime`, or the `.PyRuntime` section), whatever the file is
//! called: `libpython3.X.so`, a static `python3.X`, a renamed copy, or an
//! application that links CPython in. The version is the binary's own
//! (`Py_Version`, else its version strings); a file name is only a hint of
//! where to look first. Files are opened through `/proc/PID/map_files/…`,
//! never by following a path inside the process's root, so containers work
//! and a container cannot point us at a file of its choosing; what was
//! learned of each file is cached by its identity (device, inode), so a
//! file seen before costs no system call.

use std::fs::File;

use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};

use super::debug_offsets::{self, version_string, DebugTable};
use super::layout::{layout_for, Layout, FIRST_DEBUG_OFFSETS_MINOR, LAYOUTS, MAX_MINOR, MIN_MINOR};
use super::memory::{ProcessMemory, RemoteMemory};
use crate::filecache::FileCache;
use crate::procfs::{self, Mapping};

/// Why a process cannot be profiled.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("no process with pid {0}")]
    NoProcess(u32),
    #[error("process {0} has already exited")]
    Exited(u32),
    #[error("process {pid} ({comm}) is not a Python process: none of the files it maps holds a CPython runtime")]
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
    #[error("process {pid}: {path} runs Python, but no file it maps holds a CPython runtime yet")]
    NoRuntime { pid: u32, path: String },
    #[error("process {pid}: {path} holds a CPython runtime, but its version cannot be told ({why}); not profiled")]
    VersionUnknown { pid: u32, path: String, why: String },
    #[error("process {pid}: {path} is a debug build of Python 3.{minor} (Py_DEBUG: it has _Py_NegativeRefcount), whose structs have another layout; debug builds are profiled from 3.13 on, where the process states its own layout (_Py_DebugOffsets)")]
    DebugBuild { pid: u32, path: String, minor: u32 },
    #[error("process {pid}: {path} is a Py_TRACE_REFS build (it has _Py_PrintReferences): its objects carry a 32-byte header the layouts do not read; not supported")]
    TraceRefs { pid: u32, path: String },
    #[error("process {pid}: no layout fits Python {version}: neither a table row nor any known arrangement of its _Py_DebugOffsets ({why}); not profiled")]
    NoLayout {
        pid: u32,
        version: String,
        why: String,
    },
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
    pub layout: Layout,
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
    /// A `Py_TRACE_REFS` build (`_Py_PrintReferences` is defined): every
    /// object has two more pointers in its header.
    pub trace_refs: bool,
    /// Its dynamic strings name a libpython: a launcher (`python3.X`, or a
    /// renamed copy) whose interpreter is about to be mapped.
    pub needs_libpython: bool,
}

impl ElfFacts {
    /// The facts of a file that holds no interpreter.
    fn nothing() -> Self {
        Self {
            runtime: None,
            code_type: None,
            none: None,
            py_version: None,
            first_load: 0,
            rodata_minors: Vec::new(),
            debug_build: false,
            trace_refs: false,
            needs_libpython: false,
        }
    }
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

/// ELF objects whose facts are kept: every distinct file mapped by the
/// processes looked at (most are not Python; their facts are a few bytes).
const ELF_CACHE: usize = 8192;

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

/// Each ELF object the process maps, once (its mapping of file offset 0):
/// first a libpython, then an executable named like an interpreter (where
/// the runtime usually is, so one look is enough), then everything else.
fn elf_objects(maps: &[Mapping]) -> Vec<&Mapping> {
    // Only files with code mapped: data files (locale archives, caches,
    // fonts) cannot hold an interpreter.
    let with_code: std::collections::HashSet<(u64, u64)> = maps
        .iter()
        .filter(|m| m.executable() && m.is_file())
        .map(|m| (m.dev, m.inode))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut objects: Vec<&Mapping> = maps
        .iter()
        .filter(|m| {
            m.offset == 0
                && m.is_file()
                && with_code.contains(&(m.dev, m.inode))
                && seen.insert((m.dev, m.inode))
        })
        .collect();
    objects.sort_by_cached_key(|m| match minor_from_name(m.file_name()) {
        Some(_) if m.file_name().starts_with("lib") => 0,
        Some(_) => 1,
        None => 2,
    });
    objects
}

/// The symbols an interpreter binary is recognised and read by.
#[derive(Default)]
struct Symbols {
    runtime: Option<u64>,
    code_type: Option<u64>,
    none: Option<u64>,
    py_version_addr: Option<u64>,
    debug_build: bool,
    trace_refs: bool,
}

impl Symbols {
    fn see(&mut self, name: object::Result<&str>, addr: u64) {
        let slot = match name {
            Ok("_Py_NegativeRefcount") => {
                self.debug_build = true;
                return;
            }
            // Defined only under Py_TRACE_REFS, in every version.
            Ok("_Py_PrintReferences") => {
                self.trace_refs = true;
                return;
            }
            Ok("_PyRuntime") => &mut self.runtime,
            Ok("PyCode_Type") => &mut self.code_type,
            Ok("_Py_NoneStruct") => &mut self.none,
            Ok("Py_Version") => &mut self.py_version_addr,
            _ => return,
        };
        slot.get_or_insert(addr);
    }
}

fn elf_facts(file: File, symtab: bool) -> Result<ElfFacts, String> {
    elf_facts_in(&ReadCache::new(file), symtab)
}

/// What an ELF object says of itself, from its bytes however they are read
/// (a file through a read cache, a buffer when fuzzing). Any input gives
/// facts or an error. Objects without a runtime cost a look at their
/// symbols and section names only.
///
/// `symtab`: also look in `.symtab` when neither `.dynsym` nor the section
/// names the runtime (a 3.8/3.9 interpreter or embedder that exports
/// nothing). Only for files named like an interpreter: read through a
/// file, a large unstripped binary's symbol names cost a read each
/// (seconds for a Go binary such as dockerd).
pub fn elf_facts_in<'a, R: object::ReadRef<'a>>(data: R, symtab: bool) -> Result<ElfFacts, String> {
    let obj = object::File::parse(data).map_err(|e| e.to_string())?;
    // The dynamic string table, read in one go: whether a libpython is
    // needed, and whether `_PyRuntime` is exported at all, before any
    // symbol is looked at (through a file, each symbol name is a read).
    let dynstr = obj
        .section_by_name(".dynstr")
        .and_then(|s| s.data().ok())
        .unwrap_or(&[]);
    let has = |needle: &[u8]| dynstr.windows(needle.len()).any(|w| w == needle);
    let needs_libpython = has(b"libpython3.");
    let exports_runtime = has(b"\0_PyRuntime\0");
    let section_runtime = obj.section_by_name(".PyRuntime").map(|s| s.address());
    if !exports_runtime && section_runtime.is_none() && !symtab {
        return Ok(ElfFacts {
            needs_libpython,
            ..ElfFacts::nothing()
        });
    }
    let mut found = Symbols::default();
    for sym in obj.dynamic_symbols() {
        found.see(sym.name(), sym.address());
    }
    if symtab && found.runtime.is_none() && section_runtime.is_none() {
        // Only an object that links CPython in without exporting it (and
        // is not stripped) has it in `.symtab` alone.
        for sym in obj.symbols() {
            found.see(sym.name(), sym.address());
        }
    }
    let Symbols {
        runtime,
        code_type,
        none,
        py_version_addr,
        debug_build,
        trace_refs,
    } = found;
    let runtime = runtime.or(section_runtime);
    if runtime.is_none() {
        return Ok(ElfFacts {
            needs_libpython,
            ..ElfFacts::nothing()
        });
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
        trace_refs,
        needs_libpython,
    })
}

/// The minor version of a binary holding a runtime, from what it says of
/// itself: `Py_Version`, else its version strings (the file name only
/// chooses among several). `Err` says why it cannot be told.
fn binary_minor(facts: &ElfFacts, named: Option<u32>) -> Result<u32, String> {
    if let Some(hex) = facts.py_version {
        return match hex >> 24 {
            3 => Ok((hex >> 16) & 0xff),
            _ => Err(format!("Py_Version is {hex:#x}")),
        };
    }
    match (facts.rodata_minors.as_slice(), named) {
        ([one], _) => Ok(*one),
        (many, Some(n)) if many.contains(&n) => Ok(n),
        ([], _) => Err("no Py_Version and no version string in its read-only data".into()),
        (many, _) => {
            let found: Vec<String> = many.iter().map(|m| format!("3.{m}")).collect();
            Err(format!("its version strings name {}", found.join(" and ")))
        }
    }
}

impl Inspector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binaries dropped from the cache to stay within its bound.
    pub fn evictions(&self) -> u64 {
        self.elf_cache.evictions
    }

    /// ELF objects whose facts are cached.
    pub fn cached_objects(&self) -> usize {
        self.elf_cache.len()
    }

    /// The object of `maps` that holds the runtime, with its facts; or why
    /// there is none.
    fn find_runtime<'m>(
        &mut self,
        pid: u32,
        comm: &str,
        maps: &'m [Mapping],
    ) -> Result<(&'m Mapping, std::sync::Arc<ElfFacts>, u64), InspectError> {
        let mut launcher: Option<&Mapping> = None;
        for m in elf_objects(maps) {
            let named = minor_from_name(m.file_name()).is_some();
            let binary_err = |reason: String| InspectError::Binary {
                pid,
                path: m.path.clone(),
                reason,
            };
            // A file that is not an ELF object is remembered as holding
            // nothing, unless it is named like an interpreter.
            let parse = |f| {
                let began = std::time::Instant::now();
                let facts = match elf_facts(f, named) {
                    Err(e) if named => Err(binary_err(e)),
                    Err(_) => Ok(ElfFacts::nothing()),
                    Ok(facts) => Ok(facts),
                };
                log::trace!("{}: read in {:?}", m.path, began.elapsed());
                facts
            };
            let facts = match self.elf_cache.get_or_parse_keyed(
                (m.dev, m.inode),
                || File::open(m.map_file(pid)),
                parse,
                |e| binary_err(e.to_string()),
            ) {
                Ok(f) => f,
                // What is named like an interpreter and cannot be read is
                // an error worth retrying; any other file is just not it.
                Err(e) if named => return Err(e),
                Err(e) => {
                    log::debug!("pid {pid}: {e}");
                    continue;
                }
            };
            if let Some(runtime) = facts.runtime {
                return Ok((m, facts, runtime));
            }
            if named || facts.needs_libpython {
                launcher.get_or_insert(m);
            }
        }
        match launcher {
            // Right after an exec, the launcher is mapped before its
            // libpython is: the error the tracker retries.
            Some(m) => Err(InspectError::NoRuntime {
                pid,
                path: m.path.clone(),
            }),
            None => Err(InspectError::NotPython {
                pid,
                comm: comm.to_string(),
            }),
        }
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
        let (map, facts, runtime) = self.find_runtime(pid, &comm, &maps)?;
        let path = map.path.clone();
        let named = minor_from_name(map.file_name());
        let minor = binary_minor(&facts, named).map_err(|why| InspectError::VersionUnknown {
            pid,
            path: path.clone(),
            why,
        })?;
        if named.is_some_and(|n| n != minor) {
            log::debug!("pid {pid}: {path} is named for 3.{named:?} but is 3.{minor}: profiled as 3.{minor}");
        }
        let version = match facts.py_version {
            Some(hex) => version_string(hex),
            None => format!("3.{minor}"),
        };
        let bias = map.start.wrapping_sub(facts.first_load);
        let mut proc = PythonProcess {
            pid,
            comm,
            version,
            layout: LAYOUTS[0],
            runtime_addr: runtime.wrapping_add(bias),
            code_type: facts.code_type.map(|a| a.wrapping_add(bias)).unwrap_or(0),
            none_addr: facts.none.map(|a| a.wrapping_add(bias)).unwrap_or(0),
            binary: path,
        };
        if minor >= FIRST_DEBUG_OFFSETS_MINOR {
            // The process states its own layout; debug builds too.
            let mem = ProcessMemory::new(pid);
            let (layout, hex) = layout_from_process(&mem, &proc, minor)?;
            proc.layout = layout;
            proc.version = version_string(hex);
            return Ok(proc);
        }
        let Some(layout) = layout_for(minor) else {
            return Err(InspectError::Unsupported {
                pid,
                comm: proc.comm,
                version: proc.version,
            });
        };
        if facts.trace_refs {
            return Err(InspectError::TraceRefs {
                pid,
                path: proc.binary,
            });
        }
        if facts.debug_build {
            return Err(InspectError::DebugBuild {
                pid,
                path: proc.binary,
                minor,
            });
        }
        proc.layout = *layout;
        Ok(proc)
    }
}

/// Test-only: the environment variable that makes 3.13+ processes be read
/// with layouts built from their `_Py_DebugOffsets` alone, as if the table
/// had no row for them (the end-to-end tests compare both ways).
pub const NO_LAYOUT_ROWS_ENV: &str = "TACHYON_TEST_NO_LAYOUT_ROWS";

fn layout_rows_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os(NO_LAYOUT_ROWS_ENV).is_some_and(|v| v == "1"))
}

/// The layout of a 3.13+ process and its `PY_VERSION_HEX`: its table row
/// confirmed by its `_Py_DebugOffsets`, or, with no row, one built from
/// them and tried on the live process.
fn layout_from_process(
    mem: &dyn RemoteMemory,
    proc: &PythonProcess,
    minor: u32,
) -> Result<(Layout, u32), InspectError> {
    let err = |minor: u32, reason: String| InspectError::DebugOffsets {
        pid: proc.pid,
        minor,
        reason,
    };
    let table = DebugTable::read(mem, proc.runtime_addr).map_err(|r| err(minor, r))?;
    if table.minor() != minor {
        return Err(err(
            minor,
            format!("live version is {}", version_string(table.hex)),
        ));
    }
    let mut why = Vec::new();
    let row = layout_for(minor).filter(|_| !layout_rows_off());
    if let Some(row) = row {
        let pos = row
            .debug_offsets
            .ok_or_else(|| err(minor, "no debug offset positions for this version".into()))?;
        match table.check_row(&pos, row) {
            Ok(()) => return Ok((*row, table.hex)),
            // The process's word over the table's: a patch release that
            // moved a field is read as it says.
            Err(e) => why.push(format!("the 3.{minor} row: {e}")),
        }
    }
    // No row (or one the process contradicts): every known arrangement of
    // the struct, its own release line's first; the first whose values
    // hold together and fit the live process.
    let template = LAYOUTS
        .iter()
        .rev()
        .find(|l| l.debug_offsets.is_some())
        .ok_or_else(|| err(minor, "no 3.13+ row to lend what is not stated".into()))?;
    for pos in debug_offsets::arrangements_for(table.hex) {
        let tried = table.layout(pos, template).and_then(|layout| {
            match debug_offsets::probe(mem, &layout, proc.runtime_addr, proc.code_type)? {
                0 if proc.code_type != 0 => Err("no frame to confirm it yet".to_string()),
                _ => Ok(layout),
            }
        });
        match tried {
            Ok(layout) => {
                log::debug!(
                    "pid {}: Python {} read with a layout built from its _Py_DebugOffsets (arranged as 3.{})",
                    proc.pid,
                    version_string(table.hex),
                    pos.minor
                );
                return Ok((layout, table.hex));
            }
            Err(e) => why.push(format!("as 3.{}: {e}", pos.minor)),
        }
    }
    Err(InspectError::NoLayout {
        pid: proc.pid,
        version: version_string(table.hex),
        why: why.join("; "),
    })
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

    fn mapping(line: &str) -> Mapping {
        procfs::parse_maps_line(line).expect("maps line")
    }

    #[test]
    fn objects_are_looked_at_once_libpython_first_and_only_with_code() {
        let maps: Vec<Mapping> = [
            "00400000-00401000 r--p 00000000 fe:01 10 /opt/app/app-server",
            "00401000-00402000 r-xp 00001000 fe:01 10 /opt/app/app-server",
            "7f0000000000-7f0000001000 r--p 00000000 fe:01 20 /usr/lib/locale/locale-archive",
            "7f0000100000-7f0000101000 r--p 00000000 fe:01 30 /usr/lib/libc.so.6",
            "7f0000101000-7f0000102000 r-xp 00001000 fe:01 30 /usr/lib/libc.so.6",
            "7f0000200000-7f0000201000 r--p 00000000 fe:01 40 /usr/lib/libpython3.12.so.1.0",
            "7f0000201000-7f0000202000 r-xp 00001000 fe:01 40 /usr/lib/libpython3.12.so.1.0",
            "7f0000300000-7f0000301000 r--p 00000000 fe:02 10 /other/fs/same-inode.so",
            "7f0000301000-7f0000302000 r-xp 00001000 fe:02 10 /other/fs/same-inode.so",
            "7f0000400000-7f0000401000 r-xp 00000000 00:00 0 [vdso]",
        ]
        .iter()
        .map(|l| mapping(l))
        .collect();
        let names: Vec<&str> = elf_objects(&maps).iter().map(|m| m.file_name()).collect();
        assert_eq!(
            names,
            [
                "libpython3.12.so.1.0",
                "app-server",
                "libc.so.6",
                "same-inode.so"
            ]
        );
    }

    fn facts(py_version: Option<u32>, rodata_minors: &[u32]) -> ElfFacts {
        ElfFacts {
            runtime: Some(0x1000),
            py_version,
            rodata_minors: rodata_minors.to_vec(),
            ..ElfFacts::nothing()
        }
    }

    #[test]
    fn debug_and_trace_refs_builds_are_told_by_their_symbols() {
        let mut s = Symbols::default();
        s.see(Ok("_PyRuntime"), 0x1000);
        s.see(Ok("PyCode_Type"), 0x2000);
        assert!(!s.debug_build && !s.trace_refs);
        s.see(Ok("_Py_NegativeRefcount"), 0x3000);
        assert!(s.debug_build && !s.trace_refs);
        s.see(Ok("_Py_PrintReferences"), 0x4000);
        assert!(s.trace_refs);
        // The first address of a name is kept.
        s.see(Ok("_PyRuntime"), 0x9000);
        assert_eq!((s.runtime, s.code_type), (Some(0x1000), Some(0x2000)));
    }

    #[test]
    fn the_binary_says_its_version_not_its_name() {
        // Py_Version wins over the name.
        assert_eq!(
            binary_minor(&facts(Some(0x030b_02f0), &[]), Some(12)),
            Ok(11)
        );
        assert_eq!(binary_minor(&facts(Some(0x030e_0af0), &[]), None), Ok(14));
        assert!(binary_minor(&facts(Some(0x0207_12f0), &[]), None).is_err());
        // One version string is enough; the name chooses among several.
        assert_eq!(binary_minor(&facts(None, &[9]), None), Ok(9));
        assert_eq!(binary_minor(&facts(None, &[9]), Some(10)), Ok(9));
        assert_eq!(binary_minor(&facts(None, &[9, 10]), Some(10)), Ok(10));
        let e = binary_minor(&facts(None, &[9, 10]), None).expect_err("ambiguous");
        assert!(e.contains("3.9 and 3.10"), "{e}");
        let e = binary_minor(&facts(None, &[]), Some(10)).expect_err("no version");
        assert!(e.contains("no Py_Version"), "{e}");
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
