//! What `--async-aware` needs to know of a process (3.14+), as data:
//!
//! - asyncio's own statement of its task layout, `_Py_AsyncioModuleDebugOffsets`,
//!   in the `.AsyncioDebug` section of the `_asyncio` extension module (3.14:
//!   `lib-dynload/_asyncio.cpython-314-….so`, mapped once the program
//!   imports asyncio) or of the interpreter binary where `_asyncio` is built
//!   in (Debian's 3.15). The section is initialised data, so it is read
//!   from the file (through `/proc/PID/map_files`, like every ELF here).
//! - from the process's `_Py_DebugOffsets`: where a coroutine keeps its
//!   frame, where a frame's stack top is, a type's flags, and the fields of
//!   sets (a task awaited by several) and ints (an unnamed task's number).
//!
//! Everything is the process's own data: each offset is bounded by the
//! size its struct declares before it is used.

use std::fs::File;

use object::read::ReadCache;
use object::{Object, ObjectSection};

use super::debug_offsets::{version_string, DebugTable};
use super::memory::{le_u64, RemoteMemory};
use super::process::PythonProcess;
use crate::procfs::{self, Mapping};

/// The first minor version whose asyncio states its task layout.
pub const FIRST_ASYNCIO_MINOR: u32 = 14;
/// The ELF section holding `_Py_AsyncioModuleDebugOffsets`.
pub const SECTION: &str = ".AsyncioDebug";
/// Its size in 3.14 and 3.15: 13 `u64`s (three sections, each a size and
/// its offsets).
pub const SECTION_BYTES: usize = 13 * 8;

/// Largest struct the offsets may point into (a task, a generator, a set).
const MAX_OBJECT: u64 = 4096;
/// Largest thread state (`_PyThreadStateImpl`) and interpreter state.
const MAX_TSTATE: u64 = 1 << 16;
const MAX_INTERP: u64 = 1 << 24;

/// Why a process's asyncio layout cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AsyncioError {
    #[error("process {pid} runs Python {version}: --async-aware needs Python 3.14 or newer (asyncio states its task layout from 3.14 on)")]
    Unsupported { pid: u32, version: String },
    #[error("process {pid}: {path}: malformed {SECTION} section: {why}")]
    Malformed { pid: u32, path: String, why: String },
    #[error("process {pid}: _Py_DebugOffsets: {why}")]
    DebugOffsets { pid: u32, why: String },
    #[error("process {pid}: {source}")]
    Io {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// `_Py_AsyncioModuleDebugOffsets`: offsets inside `TaskObj`, the
/// interpreter state and the thread state (`_PyThreadStateImpl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncioOffsets {
    pub task_size: u32,
    /// `PyObject*`: a `str`, or an `int` N for a task named `Task-N`.
    pub task_name: u32,
    /// `PyObject*`: the task awaiting this one, or a set of them.
    pub task_awaited_by: u32,
    /// `char`: 1 for a task (a plain future has 0).
    pub task_is_task: u32,
    /// `char`: `task_awaited_by` is a set.
    pub task_awaited_by_is_set: u32,
    pub task_coro: u32,
    /// `struct llist_node` linking the tasks of a thread.
    pub task_node: u32,
    pub interp_tasks_head: u32,
    pub tstate_running_loop: u32,
    pub tstate_running_task: u32,
    pub tstate_tasks_head: u32,
}

impl AsyncioOffsets {
    /// Reads the section's bytes, checking each offset against the size
    /// of its struct.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < SECTION_BYTES {
            return Err(format!(
                "{} bytes, fewer than the {SECTION_BYTES} of 3.14's",
                bytes.len()
            ));
        }
        let w = |i: u32| le_u64(bytes, i * 8).unwrap_or(u64::MAX);
        let size = |what: &str, v: u64, max: u64| -> Result<u64, String> {
            if v == 0 || v > max {
                return Err(format!("{what} is {v} bytes"));
            }
            Ok(v)
        };
        let inside = |what: &str, off: u64, width: u64, size: u64| -> Result<u32, String> {
            if off.saturating_add(width) > size {
                return Err(format!(
                    "{what} is at {off}, past the {size} bytes of its struct"
                ));
            }
            Ok(off as u32)
        };
        let task = size("TaskObj", w(0), MAX_OBJECT)?;
        let interp = size("the interpreter state", w(7), MAX_INTERP)?;
        let tstate = size("the thread state", w(9), MAX_TSTATE)?;
        Ok(Self {
            task_size: task as u32,
            task_name: inside("task_name", w(1), 8, task)?,
            task_awaited_by: inside("task_awaited_by", w(2), 8, task)?,
            task_is_task: inside("task_is_task", w(3), 1, task)?,
            task_awaited_by_is_set: inside("task_awaited_by_is_set", w(4), 1, task)?,
            task_coro: inside("task_coro", w(5), 8, task)?,
            task_node: inside("task_node", w(6), 16, task)?,
            interp_tasks_head: inside("asyncio_tasks_head", w(8), 16, interp)?,
            tstate_running_loop: inside("asyncio_running_loop", w(10), 8, tstate)?,
            tstate_running_task: inside("asyncio_running_task", w(11), 8, tstate)?,
            tstate_tasks_head: inside("asyncio_tasks_head", w(12), 16, tstate)?,
        })
    }
}

/// Offsets of coroutines, frames, types, sets and ints, from
/// `_Py_DebugOffsets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoroutineOffsets {
    /// Coroutine + x → its embedded `_PyInterpreterFrame`.
    pub gen_iframe: u32,
    /// Frame + x → `stackpointer` (one past the top of its value stack).
    pub frame_stackpointer: u32,
    /// Type + x → `tp_flags` (an unsigned long).
    pub type_tp_flags: u32,
    pub set_used: u32,
    pub set_table: u32,
    pub set_mask: u32,
    pub long_lv_tag: u32,
    pub long_ob_digit: u32,
}

impl CoroutineOffsets {
    /// Reads them from the table with the positions its layout row (or
    /// arrangement) gives.
    pub fn from_table(
        table: &DebugTable,
        pos: &super::layout::CoroutinePositions,
    ) -> Result<Self, String> {
        let w = |at: u32| table.word(at);
        let bounded = |what: &str, off: u64, width: u64, size: u64| -> Result<u32, String> {
            if size == 0 || size > MAX_OBJECT || off.saturating_add(width) > size {
                return Err(format!(
                    "{what} is at {off}, past the {size} bytes of its struct"
                ));
            }
            Ok(off as u32)
        };
        let gen_size = w(pos.gen_size)?;
        let set_size = w(pos.set_size)?;
        Ok(Self {
            gen_iframe: bounded("gen_object.gi_iframe", w(pos.gen_iframe)?, 8, gen_size)?,
            frame_stackpointer: bounded(
                "interpreter_frame.stackpointer",
                w(pos.frame_stackpointer)?,
                8,
                MAX_OBJECT,
            )?,
            type_tp_flags: bounded("type_object.tp_flags", w(pos.type_tp_flags)?, 8, MAX_OBJECT)?,
            set_used: bounded("set_object.used", w(pos.set_used)?, 8, set_size)?,
            set_table: bounded("set_object.table", w(pos.set_table)?, 8, set_size)?,
            set_mask: bounded("set_object.mask", w(pos.set_mask)?, 8, set_size)?,
            long_lv_tag: bounded("long_object.lv_tag", w(pos.long_lv_tag)?, 8, MAX_OBJECT)?,
            long_ob_digit: bounded("long_object.ob_digit", w(pos.long_ob_digit)?, 4, MAX_OBJECT)?,
        })
    }
}

/// Everything the task reader needs of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncLayout {
    pub asyncio: AsyncioOffsets,
    pub coroutines: CoroutineOffsets,
}

/// The `.AsyncioDebug` section of the ELF object `m` maps, if it has one.
fn section_in(pid: u32, m: &Mapping) -> Result<Option<AsyncioOffsets>, AsyncioError> {
    let file = File::open(m.map_file(pid)).map_err(|source| AsyncioError::Io { pid, source })?;
    let cache = ReadCache::new(file);
    let malformed = |why: String| AsyncioError::Malformed {
        pid,
        path: m.path.clone(),
        why,
    };
    let obj = object::File::parse(&cache).map_err(|e| malformed(e.to_string()))?;
    let Some(section) = obj.section_by_name(SECTION) else {
        return Ok(None);
    };
    if section.size() > 4096 {
        return Err(malformed(format!("{} bytes", section.size())));
    }
    let data = section.data().map_err(|e| malformed(e.to_string()))?;
    AsyncioOffsets::parse(data).map(Some).map_err(malformed)
}

/// The asyncio layout of `proc`: `Ok(None)` while it has not loaded
/// asyncio's C module yet (3.14 maps it at `import asyncio`), an error on
/// a version before 3.14 or on a malformed statement.
pub fn locate(
    proc: &PythonProcess,
    mem: &dyn RemoteMemory,
) -> Result<Option<AsyncLayout>, AsyncioError> {
    let pid = proc.pid;
    if proc.layout.minor < FIRST_ASYNCIO_MINOR {
        return Err(AsyncioError::Unsupported {
            pid,
            version: proc.version.clone(),
        });
    }
    let debug_err = |why: String| AsyncioError::DebugOffsets { pid, why };
    let pos = proc
        .layout
        .debug_offsets
        .and_then(|p| p.coroutines)
        .ok_or_else(|| debug_err("no known position of the coroutine offsets".into()))?;
    let table = DebugTable::read(mem, proc.runtime_addr).map_err(debug_err)?;
    if table.minor() != proc.layout.minor {
        return Err(debug_err(format!(
            "live version is {}",
            version_string(table.hex)
        )));
    }
    let coroutines = CoroutineOffsets::from_table(&table, &pos).map_err(debug_err)?;
    let maps = procfs::maps(pid).map_err(|source| AsyncioError::Io { pid, source })?;
    // The module, or the interpreter binary when it is built in.
    let candidates = maps.iter().filter(|m| {
        m.offset == 0
            && m.is_file()
            && (m.file_name().starts_with("_asyncio.") || m.path == proc.binary)
    });
    for m in candidates {
        if let Some(asyncio) = section_in(pid, m)? {
            log::debug!(
                "pid {pid}: asyncio task layout from {}: {asyncio:?}",
                m.path
            );
            return Ok(Some(AsyncLayout {
                asyncio,
                coroutines,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::{POSITIONS_314, POSITIONS_315};

    fn section(words: [u64; 13]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// The sections of Debian sid's 3.14.10 `_asyncio` module and 3.15.2
    /// interpreter, as `readelf -x .AsyncioDebug` shows them.
    const SID_314: [u64; 13] = [
        168, 136, 96, 108, 109, 128, 152, 225864, 10880, 936, 864, 872, 880,
    ];
    const SID_315: [u64; 13] = [
        168, 136, 96, 108, 109, 128, 152, 226240, 10856, 1104, 1024, 1032, 1048,
    ];

    #[test]
    fn the_sections_of_3_14_and_3_15_parse() {
        let o = AsyncioOffsets::parse(&section(SID_314)).expect("3.14");
        assert_eq!(
            (o.task_name, o.task_awaited_by, o.task_is_task, o.task_coro),
            (136, 96, 108, 128)
        );
        assert_eq!((o.tstate_running_task, o.tstate_tasks_head), (872, 880));
        let o = AsyncioOffsets::parse(&section(SID_315)).expect("3.15");
        assert_eq!((o.tstate_running_loop, o.tstate_running_task), (1024, 1032));
        assert_eq!(o.interp_tasks_head, 10856);
    }

    #[test]
    fn offsets_past_their_struct_or_short_sections_are_refused() {
        let short = AsyncioOffsets::parse(&section(SID_314)[..SECTION_BYTES - 1]);
        assert!(short.expect_err("short").contains("fewer than"));
        let mut w = SID_314;
        w[5] = 200; // task_coro past a 168-byte TaskObj
        let e = AsyncioOffsets::parse(&section(w)).expect_err("coro");
        assert!(e.contains("task_coro is at 200"), "{e}");
        let mut w = SID_314;
        w[11] = 1 << 40; // running task far past the thread state
        assert!(AsyncioOffsets::parse(&section(w)).is_err());
        let mut w = SID_314;
        w[0] = 0;
        assert!(AsyncioOffsets::parse(&section(w))
            .expect_err("size")
            .contains("TaskObj is 0 bytes"));
        let mut w = SID_314;
        w[9] = u64::MAX;
        assert!(AsyncioOffsets::parse(&section(w)).is_err());
    }

    /// A `_Py_DebugOffsets` image with the values 3.14.10 and 3.15.2 state
    /// at the positions of their arrangements.
    fn table(
        hex: u64,
        pos: &crate::python::layout::CoroutinePositions,
        vals: [u64; 10],
    ) -> DebugTable {
        let mut b = vec![0u8; 1024];
        b[..8].copy_from_slice(b"xdebugpy");
        b[8..16].copy_from_slice(&hex.to_le_bytes());
        for (at, v) in pos.all().into_iter().zip(vals) {
            b[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
        }
        DebugTable::from_bytes(b).expect("table")
    }

    /// gen size, gi_iframe, stackpointer, tp_flags, set size, used, table,
    /// mask, lv_tag, ob_digit (the same in sid's 3.14.10 and 3.15.2).
    const SID_VALUES: [u64; 10] = [160, 72, 64, 168, 200, 24, 40, 32, 16, 24];

    #[test]
    fn coroutine_offsets_come_from_the_debug_table() {
        for (hex, pos) in [(0x030e_0af0, POSITIONS_314), (0x030f_02f0, POSITIONS_315)] {
            let pos = pos.coroutines.expect("3.14+");
            let c =
                CoroutineOffsets::from_table(&table(hex, &pos, SID_VALUES), &pos).expect("offsets");
            assert_eq!(
                (c.gen_iframe, c.frame_stackpointer, c.type_tp_flags),
                (72, 64, 168)
            );
            assert_eq!((c.set_used, c.set_table, c.set_mask), (24, 40, 32));
            assert_eq!((c.long_lv_tag, c.long_ob_digit), (16, 24));
            let mut bad = SID_VALUES;
            bad[1] = 160; // gi_iframe at the end of a 160-byte generator
            let e =
                CoroutineOffsets::from_table(&table(hex, &pos, bad), &pos).expect_err("outside");
            assert!(e.contains("gi_iframe is at 160"), "{e}");
        }
    }
}
