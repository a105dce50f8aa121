//! `tachyon-bpf dump`: every thread's current stack, once, running or
//! asleep, read from userspace ([`crate::python::walker`]) and named by the
//! same symbolizer as a profile.

use serde_json::{json, Value};

use crate::procfs;
use crate::profile::{FrameInfo, Profile};
use crate::python::memory::{MemoryError, ProcessMemory};
use crate::python::process::{InspectError, Inspector};
use crate::python::thread_names::{NamedThread, ThreadNameReader};
use crate::python::walker::walk_process;
use crate::symbolize::ProcessSymbols;

/// Why a process could not be dumped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error("process {pid}: cannot read its memory: {source}")]
    Memory {
        pid: u32,
        #[source]
        source: MemoryError,
    },
}

/// One process's threads.
#[derive(Clone, Debug)]
pub struct ProcessDump {
    pub pid: u32,
    pub comm: String,
    pub cmdline: String,
    pub version: String,
    pub binary: String,
    pub threads: Vec<ThreadDump>,
    /// Why `threading`'s thread names could not be read (`None`: they were).
    pub names_unread: Option<String>,
}

/// One thread's stack, innermost frame first.
#[derive(Clone, Debug)]
pub struct ThreadDump {
    pub thread_id: u64,
    /// Its `threading` name, where `threading` knows the thread.
    pub name: Option<String>,
    /// The kernel's id of the thread (`threading`'s `native_id`).
    pub native_id: Option<u32>,
    pub holds_gil: bool,
    pub frames: Vec<FrameInfo>,
    pub truncated: bool,
}

/// Reads every thread of `pid` now.
pub fn dump_process(inspector: &mut Inspector, pid: u32) -> Result<ProcessDump, DumpError> {
    let proc = inspector.inspect(pid)?;
    let mem = ProcessMemory::new(pid);
    let stacks = walk_process(&mem, &proc.layout, proc.runtime_addr)
        .map_err(|source| DumpError::Memory { pid, source })?;
    let (named, names_unread) = match ThreadNameReader::new(&mem, &proc.layout, proc.runtime_addr)
        .and_then(|mut r| r.read(&mem))
    {
        Ok(n) if !n.threading_loaded => (Vec::new(), Some("threading is not imported".into())),
        Ok(n) => (n.threads, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let by_ident = |id: u64| -> Option<&NamedThread> { named.iter().find(|n| n.ident == Some(id)) };
    let mut symbols = ProcessSymbols::new(proc.clone());
    let mut profile = Profile::default();
    let threads = stacks
        .into_iter()
        .map(|mut t| {
            // As in a profile: a `<native>` at the root end is the C entry
            // below the first Python frame, not a call into C.
            while t.frames.last().is_some_and(|f| f.code == 0) {
                t.frames.pop();
            }
            t
        })
        .map(|t| ThreadDump {
            thread_id: t.thread_id,
            name: by_ident(t.thread_id).map(|n| n.name.clone()),
            native_id: by_ident(t.thread_id).and_then(|n| n.native_id),
            holds_gil: t.holds_gil,
            frames: t
                .frames
                .iter()
                .filter_map(|f| {
                    let id = symbols.frame(f, &mut profile)?;
                    Some(profile.frames[id as usize].clone())
                })
                .collect(),
            truncated: t.truncated,
        })
        .collect();
    Ok(ProcessDump {
        pid,
        comm: proc.comm,
        cmdline: procfs::cmdline(pid),
        version: proc.version,
        binary: proc.binary,
        threads,
        names_unread,
    })
}

fn frame_text(f: &FrameInfo) -> String {
    match (f.file.is_empty(), f.line) {
        (true, _) => f.name.clone(),
        (false, 0) => format!("{} ({})", f.name, f.file),
        (false, line) => format!("{} ({}:{line})", f.name, f.file),
    }
}

/// The dump as text, like `py-spy dump`.
pub fn render_text(d: &ProcessDump) -> String {
    let mut s = format!(
        "Process {}: {}\nPython {} ({})\n",
        d.pid,
        if d.cmdline.is_empty() {
            &d.comm
        } else {
            &d.cmdline
        },
        d.version,
        d.binary
    );
    for t in &d.threads {
        s.push_str(&format!("\nThread {:#x}", t.thread_id));
        if let Some(name) = &t.name {
            s.push_str(&format!(" {name:?}"));
        }
        if let Some(tid) = t.native_id {
            s.push_str(&format!(" (tid {tid})"));
        }
        s.push_str(if t.holds_gil {
            " (holds the GIL)\n"
        } else {
            "\n"
        });
        if t.frames.is_empty() {
            s.push_str("    (no Python frame)\n");
        }
        for f in &t.frames {
            s.push_str(&format!("    {}\n", frame_text(f)));
        }
        if t.truncated {
            s.push_str("    ... (walk cut short)\n");
        }
    }
    s
}

/// The dump as JSON, for scripts.
pub fn render_json(d: &ProcessDump) -> Value {
    json!({
        "pid": d.pid,
        "name": d.comm,
        "cmdline": d.cmdline,
        "version": d.version,
        "binary": d.binary,
        "threads": d.threads.iter().map(|t| json!({
            "thread_id": format!("{:#x}", t.thread_id),
            "thread_name": t.name,
            "native_id": t.native_id,
            "holds_gil": t.holds_gil,
            "truncated": t.truncated,
            "frames": t.frames.iter().map(|f| json!({
                "name": f.name,
                "file": f.file,
                "line": f.line,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
