//! Native (C) frames for `--native`: user return addresses from the kernel's
//! frame-pointer walk, resolved to ELF symbols of the process's mappings.
//!
//! Files are opened through `/proc/PID/map_files/…` (never by path inside the
//! process's root) and their symbol tables cached by (device, inode).

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object::read::ReadCache;
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::filecache::FileCache;
use crate::procfs;

/// The interpreter's eval loop (`_PyEval_EvalFrameDefault`): each run of
/// Python frames between two C boundaries executes in one invocation of it.
const EVAL_PREFIX: &str = "_PyEval_EvalFrame";

/// How often a process's mappings may be re-read on a miss (dlopen).
const MAPS_REFRESH: Duration = Duration::from_millis(500);

/// One resolved native frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeFrame {
    /// Symbol name, or `module+0xoffset` when the module has no symbol there.
    pub name: String,
    /// Base name of the module (`libcrypto.so.3`).
    pub module: String,
    /// The interpreter's eval loop: the native walk above a Python leaf stops here.
    pub is_eval: bool,
}

#[derive(Debug, Default)]
struct FileSymbols {
    /// (file offset, vaddr, size) of loadable segments.
    segments: Vec<(u64, u64, u64)>,
    /// (start vaddr, end vaddr, name), sorted.
    functions: Vec<(u64, u64, String)>,
}

impl FileSymbols {
    fn parse(file: File) -> Option<FileSymbols> {
        Self::parse_data(&ReadCache::new(file))
    }

    fn parse_data<'a, R: object::ReadRef<'a>>(data: R) -> Option<FileSymbols> {
        let obj = object::File::parse(data).ok()?;
        let segments = obj
            .segments()
            .map(|s| (s.file_range().0, s.address(), s.file_range().1))
            .collect();
        let mut functions: Vec<(u64, u64, String)> = obj
            .symbols()
            .chain(obj.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.address() != 0)
            // A bound on what one file can make us keep (libpython has
            // about 10,000 functions, the largest libraries a few 100,000).
            .take(MAX_FUNCTION_SYMBOLS)
            .filter_map(|s| {
                // A hostile symbol may end past the address space: skip it.
                let end = s.address().checked_add(s.size())?;
                Some((s.address(), end, s.name().ok()?.to_string()))
            })
            .collect();
        functions.sort();
        functions.dedup_by(|a, b| a.0 == b.0);
        Some(FileSymbols {
            segments,
            functions,
        })
    }

    fn vaddr_of(&self, file_offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(off, _, size)| file_offset >= *off && file_offset - off < *size)
            .and_then(|(off, vaddr, _)| vaddr.checked_add(file_offset - off))
    }

    fn function_at(&self, vaddr: u64) -> Option<&str> {
        let i = self
            .functions
            .partition_point(|(start, _, _)| *start <= vaddr);
        let (start, end, name) = self.functions.get(i.checked_sub(1)?)?;
        (vaddr >= *start && vaddr < *end).then_some(name.as_str())
    }
}

/// The function symbols of an ELF file given as bytes (for fuzzing the
/// parser): how many, or `None` when it is not one.
pub fn count_functions_in(data: &[u8]) -> Option<usize> {
    let syms = FileSymbols::parse_data(data)?;
    // Every lookup stays inside the table.
    for &(start, end, _) in syms.functions.iter().take(64) {
        let _ = syms.function_at(start);
        let _ = syms.function_at(end);
        let _ = syms.vaddr_of(start);
    }
    Some(syms.functions.len())
}

#[derive(Debug)]
struct ExecMapping {
    start: u64,
    end: u64,
    offset: u64,
    module: String,
    symbols: Option<Arc<FileSymbols>>,
}

#[derive(Debug)]
struct ProcessMaps {
    maps: Vec<ExecMapping>,
    read_at: Instant,
}

/// Native symbolization state for all processes.
pub struct NativeSymbols {
    files: FileCache<FileSymbols>,
    procs: HashMap<u32, ProcessMaps>,
}

/// Function symbols kept per file.
const MAX_FUNCTION_SYMBOLS: usize = 1 << 20;

/// Binaries whose symbol tables are kept.
const FILE_CACHE: usize = 256;

impl Default for NativeSymbols {
    fn default() -> Self {
        Self {
            files: FileCache::new(FILE_CACHE),
            procs: HashMap::new(),
        }
    }
}

impl NativeSymbols {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binaries dropped from the cache to stay within its bound.
    pub fn evictions(&self) -> u64 {
        self.files.evictions
    }

    fn load_maps(&mut self, pid: u32) -> ProcessMaps {
        let mut maps = Vec::new();
        for m in procfs::maps(pid).unwrap_or_default() {
            if !m.executable() || !m.is_file() {
                continue;
            }
            let symbols = File::open(m.map_file(pid)).ok().and_then(|f| {
                self.files
                    .get_or_parse(f, |f| FileSymbols::parse(f).ok_or(()), |_| ())
                    .ok()
            });
            maps.push(ExecMapping {
                start: m.start,
                end: m.end,
                offset: m.offset,
                module: m.file_name().to_string(),
                symbols,
            });
        }
        ProcessMaps {
            maps,
            read_at: Instant::now(),
        }
    }

    /// Resolves one return address of process `pid`; `None` when it lies in
    /// no executable mapping (a frame-pointer walk that went astray).
    pub fn resolve(&mut self, pid: u32, addr: u64) -> Option<NativeFrame> {
        let stale = match self.procs.get(&pid) {
            None => true,
            Some(p) => {
                !p.maps.iter().any(|m| addr >= m.start && addr < m.end)
                    && p.read_at.elapsed() >= MAPS_REFRESH
            }
        };
        if stale {
            let maps = self.load_maps(pid);
            self.procs.insert(pid, maps);
        }
        let m = self
            .procs
            .get(&pid)?
            .maps
            .iter()
            .find(|m| addr >= m.start && addr < m.end)?;
        let file_offset = addr - m.start + m.offset;
        let name = m
            .symbols
            .as_ref()
            .and_then(|s| s.function_at(s.vaddr_of(file_offset)?))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}+{:#x}", m.module, file_offset));
        Some(NativeFrame {
            is_eval: name.starts_with(EVAL_PREFIX),
            name,
            module: m.module.clone(),
        })
    }

    /// Forgets a process that exited.
    pub fn forget(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }
}

/// The native stack of a sample, resolved leaf first, cut into the runs of
/// C code between the interpreter's eval-loop frames: `segments[0]` is what
/// the Python leaf is running, `segments[k]` the C code that the Python
/// frame below the k-th C boundary (a `<native>` marker, counted from the
/// leaf) called. `complete` is false when the walk broke off (no frame
/// pointers somewhere): then the last segment is cut short.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NativeStack {
    pub segments: Vec<Vec<NativeFrame>>,
    /// Eval-loop frames seen.
    pub evals: usize,
    pub complete: bool,
}

impl NativeStack {
    /// The C frames that replace the k-th `<native>` marker from the leaf
    /// (k ≥ 1), when the walk saw that run of C code whole (bounded by eval
    /// frames on both sides).
    pub fn at_marker(&self, k: usize) -> Option<&[NativeFrame]> {
        if k >= 1 && k < self.evals {
            self.segments.get(k).map(Vec::as_slice)
        } else {
            None
        }
    }
}

/// Resolves a sample's native return addresses (leaf first).
pub fn native_stack(syms: &mut NativeSymbols, pid: u32, addrs: &[u64]) -> NativeStack {
    let mut st = NativeStack {
        segments: vec![Vec::new()],
        evals: 0,
        complete: true,
    };
    for &a in addrs {
        match syms.resolve(pid, a) {
            Some(f) if f.is_eval => {
                st.evals += 1;
                st.segments.push(Vec::new());
            }
            Some(f) => {
                if let Some(seg) = st.segments.last_mut() {
                    seg.push(f);
                }
            }
            None => {
                st.complete = false;
                return st;
            }
        }
    }
    // Frames ran out before the walk reached anything below the interpreter:
    // only complete if at least the leaf's run of C code was bounded.
    st.complete = st.evals > 0;
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `scripts/fuzz.sh` (target `elf`): a symbol whose address
    /// plus size passes 2^64 (an overflow panic in debug builds, a wrapped,
    /// never-matching range in release ones). Such symbols are skipped.
    #[test]
    fn symbols_ending_past_the_address_space_are_skipped() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fuzz/elf-symbol-end-overflows"
        );
        let bytes = std::fs::read(path).expect("the fuzz case");
        let syms = FileSymbols::parse_data(&bytes[..]).expect("still an ELF file");
        assert!(!syms.functions.is_empty());
        assert!(syms.functions.iter().all(|(start, end, _)| start < end));
        for (start, _, name) in &syms.functions {
            assert_eq!(syms.function_at(*start), Some(name.as_str()));
        }
        assert_eq!(syms.vaddr_of(u64::MAX), None);
    }

    #[inline(never)]
    fn a_function_of_this_test() -> u64 {
        a_function_of_this_test as *const () as u64
    }

    #[test]
    fn resolves_a_function_of_this_process() {
        let mut s = NativeSymbols::new();
        let addr = a_function_of_this_test() + 1;
        let f = s
            .resolve(std::process::id(), addr)
            .expect("in an executable mapping");
        assert!(f.name.contains("a_function_of_this_test"), "{f:?}");
        assert!(!f.is_eval);
        assert!(s.resolve(std::process::id(), 8).is_none());
    }

    #[test]
    fn a_broken_chain_is_incomplete() {
        let mut s = NativeSymbols::new();
        let here = a_function_of_this_test() + 1;
        let st = native_stack(&mut s, std::process::id(), &[here, 8]);
        assert_eq!(
            st.segments,
            vec![vec![s.resolve(std::process::id(), here).expect("resolves")]]
        );
        assert!(!st.complete);
        assert_eq!(st.at_marker(1), None);
    }

    #[test]
    fn segments_map_to_markers_only_when_bounded() {
        let f = |name: &str| NativeFrame {
            name: name.into(),
            module: "m".into(),
            is_eval: false,
        };
        let st = NativeStack {
            segments: vec![vec![f("leaf_c")], vec![f("sorted_c")], vec![f("main_c")]],
            evals: 2,
            complete: true,
        };
        assert_eq!(st.at_marker(1), Some(&[f("sorted_c")][..]));
        // Beyond the last eval frame the run is not bounded.
        assert_eq!(st.at_marker(2), None);
        assert_eq!(st.at_marker(0), None);
    }
}
