//! The names `threading` gives a process's threads (`MainThread`,
//! `Thread-3 (worker)`, whatever a program chose), read from its memory:
//! each interpreter's `sys.modules` → the module `threading` →
//! `threading._active` (ident → `Thread`) → each `Thread`'s `_name`,
//! `_ident` and `_native_id` (the kernel's thread id).
//!
//! Where `sys.modules` lives is a per-version fact
//! ([`super::dict_layout`]; 3.13+ state it in `_Py_DebugOffsets`). The
//! dict of `_active` is remembered per interpreter once found, so a later
//! read costs a few reads per thread. Everything is bounded: interpreters
//! walked, threads read, name length.

use tachyon_common::MAX_INTERPRETERS_WALK;

use super::debug_offsets::DebugTable;
use super::dict_layout::{dict_layout_for, DictLayout, MD_DICT, OB_TYPE};
use super::dicts::{dict_items, find_str_key, instance_items, read_uint, DictError};
use super::layout::{Layout, ObjectLayout};
use super::memory::{MemoryError, RemoteMemory};
use super::objects::read_str;

/// Threads read per interpreter.
pub const MAX_THREADS: usize = 4096;
/// Longest name kept (characters).
pub const MAX_NAME_CHARS: usize = 1024;

/// Why names could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ThreadNameError {
    #[error("no dict layout for Python 3.{0}")]
    NoLayout(u32),
    #[error("where sys.modules is: {0}")]
    DebugOffsets(String),
    #[error(transparent)]
    Dict(#[from] DictError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("threading has no _active dict")]
    NoActive,
}

/// One thread as `threading` knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedThread {
    pub name: String,
    /// `Thread.native_id`: the kernel's thread id, as the process's pid
    /// namespace numbers it.
    pub native_id: Option<u32>,
    /// `Thread.ident` (`pthread_self()`, the thread state's `thread_id`).
    pub ident: Option<u64>,
}

/// What one read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadNames {
    pub threads: Vec<NamedThread>,
    /// Some interpreter has imported `threading`.
    pub threading_loaded: bool,
    /// Threads whose entry could not be read.
    pub unreadable: usize,
}

/// Reads the thread names of one process.
#[derive(Clone, Debug)]
pub struct ThreadNameReader {
    dicts: &'static DictLayout,
    objects: ObjectLayout,
    runtime: u64,
    interp_head: u32,
    interp_next: u32,
    /// `sys.modules` in the interpreter state.
    modules: u32,
    /// `threading._active` of each interpreter (by its address), once found.
    active: Vec<(u64, u64)>,
    /// The type of `dict`, as `sys.modules` has it.
    dict_type: u64,
}

impl ThreadNameReader {
    /// A reader for the process whose `_PyRuntime` is at `runtime`, read
    /// with `layout`; 3.13+ read where `sys.modules` is from the
    /// process's `_Py_DebugOffsets`.
    pub fn new(
        mem: &dyn RemoteMemory,
        layout: &Layout,
        runtime: u64,
    ) -> Result<Self, ThreadNameError> {
        let dicts = dict_layout_for(layout.minor).ok_or(ThreadNameError::NoLayout(layout.minor))?;
        let modules = match (dicts.interp_modules, layout.debug_offsets) {
            (Some(at), _) => at,
            (None, Some(pos)) => DebugTable::read(mem, runtime)
                .and_then(|t| t.interp_modules(&pos))
                .map_err(ThreadNameError::DebugOffsets)?,
            (None, None) => {
                return Err(ThreadNameError::DebugOffsets(
                    "no _Py_DebugOffsets arrangement for this version".into(),
                ))
            }
        };
        Ok(Self {
            dicts,
            objects: layout.objects,
            runtime,
            interp_head: layout.kernel.runtime_interp_head,
            interp_next: layout.kernel.interp_next,
            modules,
            active: Vec::new(),
            dict_type: 0,
        })
    }

    fn ob_type(mem: &dyn RemoteMemory, obj: u64) -> Result<u64, MemoryError> {
        mem.read_u64(obj.wrapping_add(OB_TYPE as u64))
    }

    /// `threading._active` of the interpreter at `interp`; `None` when it
    /// has not imported `threading` (yet).
    fn active_of(
        &mut self,
        mem: &dyn RemoteMemory,
        interp: u64,
    ) -> Result<Option<u64>, ThreadNameError> {
        if let Some(&(_, d)) = self.active.iter().find(|(i, _)| *i == interp) {
            if Self::ob_type(mem, d).ok() == Some(self.dict_type) {
                return Ok(Some(d));
            }
            self.active.retain(|(i, _)| *i != interp);
        }
        let modules = mem.read_u64(interp.wrapping_add(self.modules as u64))?;
        if modules == 0 {
            return Ok(None);
        }
        let dict_type = Self::ob_type(mem, modules)?;
        let items = dict_items(mem, self.dicts, modules)?;
        let Some(threading) = find_str_key(mem, &self.objects, &items, "threading") else {
            return Ok(None);
        };
        let md_dict = mem.read_u64(threading.wrapping_add(MD_DICT as u64))?;
        if Self::ob_type(mem, md_dict)? != dict_type {
            return Err(ThreadNameError::NoActive);
        }
        let globals = dict_items(mem, self.dicts, md_dict)?;
        let active = find_str_key(mem, &self.objects, &globals, "_active")
            .filter(|&a| Self::ob_type(mem, a).ok() == Some(dict_type))
            .ok_or(ThreadNameError::NoActive)?;
        self.dict_type = dict_type;
        if self.active.len() < MAX_INTERPRETERS_WALK as usize {
            self.active.push((interp, active));
        }
        Ok(Some(active))
    }

    /// One `Thread`: its `_name`, `_native_id` and `_ident` (ints only:
    /// `None` before the thread started).
    fn thread(
        &self,
        mem: &dyn RemoteMemory,
        obj: u64,
        int_type: u64,
    ) -> Result<NamedThread, ThreadNameError> {
        let attrs = instance_items(mem, self.dicts, obj)?;
        let name =
            find_str_key(mem, &self.objects, &attrs, "_name").ok_or(DictError::Malformed {
                what: "Thread without _name",
                addr: obj,
            })?;
        let name: String = read_str(mem, &self.objects, name)
            .map_err(|_| DictError::Malformed {
                what: "Thread._name",
                addr: name,
            })?
            .chars()
            .take(MAX_NAME_CHARS)
            .collect();
        let int = |key: &str| {
            find_str_key(mem, &self.objects, &attrs, key)
                .filter(|&v| Self::ob_type(mem, v).ok() == Some(int_type))
                .and_then(|v| read_uint(mem, self.dicts, v).ok())
        };
        Ok(NamedThread {
            name,
            native_id: int("_native_id").and_then(|v| u32::try_from(v).ok()),
            ident: int("_ident"),
        })
    }

    /// Every thread `threading` knows now, in every interpreter.
    pub fn read(&mut self, mem: &dyn RemoteMemory) -> Result<ThreadNames, ThreadNameError> {
        let mut out = ThreadNames::default();
        let mut interp = mem.read_u64(self.runtime.wrapping_add(self.interp_head as u64))?;
        for _ in 0..MAX_INTERPRETERS_WALK {
            if interp == 0 {
                break;
            }
            if let Some(active) = self.active_of(mem, interp)? {
                out.threading_loaded = true;
                let items = dict_items(mem, self.dicts, active)?;
                for &(ident, thread) in items.iter().take(MAX_THREADS) {
                    // The keys of `_active` are ints: their type tells an
                    // int attribute from `None`.
                    let int_type = Self::ob_type(mem, ident).unwrap_or(0);
                    match self.thread(mem, thread, int_type) {
                        Ok(t) => out.threads.push(t),
                        Err(e) => {
                            log::debug!("thread object at {thread:#x}: {e}");
                            out.unreadable += 1;
                        }
                    }
                }
            }
            interp = mem.read_u64(interp.wrapping_add(self.interp_next as u64))?;
        }
        Ok(out)
    }
}
