//! Turning kernel frames `(code, lasti, fingerprint)` into named frames.
//!
//! Code objects are read once per `(pid, code, fingerprint)`; the frame with
//! its line is cached per `(pid, code, fingerprint, lasti)`, so a steady
//! profile costs one hash lookup per frame. The fingerprint covers the name's
//! address and hash, so a code object freed and replaced at the same address
//! by a function of another name never hits a stale entry.
//!
//! Both caches are bounded (least recently used entries go first), by count
//! and, for code objects, by the bytes of their line tables: a process that
//! makes code without end, or huge line tables, cannot grow them for ever.
//!
//! The kernel reports each code object it has not reported lately
//! (`EVENT_CODE`, before the sample that holds it) with its names and line
//! table, copied while the process and the object still existed: a whole
//! report names the code object with no read at all, so code that is freed
//! (a module body after its import) or whose process is gone by the time
//! its samples are read is still named. A report cut short (a name or line
//! table longer than the kernel copies) is kept aside and used only when
//! reading the object from userspace fails.

use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;
use rustc_hash::FxBuildHasher;

use tachyon_common::{Frame, LEAF_OPCODE_READ};

use tachyon_common::{
    CODE_FILE_CUT, CODE_FILE_KIND_SHIFT, CODE_NAME_CUT, CODE_NAME_KIND_MASK, CODE_TABLE_CUT,
    CODE_TABLE_MISSING,
};

use crate::async_stacks::{splice, task_frame, AsyncStats, AsyncTasks, WaitingTasks};
use crate::budget::ReadBudget;
use crate::profile::{FrameId, FrameInfo, Instr, Profile};
use crate::python::asyncio_offsets::AsyncLayout;
use crate::python::linetable::{location_for_addr, shown_line, LineTableFormat};
use crate::python::memory::{ProcessMemory, RemoteMemory};
use crate::python::objects::{
    code_fingerprint, decode_str, read_bytecode, read_code, CodeInfo, ObjectError,
};
use crate::python::opcodes::OpcodeTable;
use crate::python::process::PythonProcess;
use crate::python::tasks::{read_chain, Link, TaskReader};
use crate::record::CodeReport;
use crate::thread_book::ThreadBook;

/// Shown for a frame whose code object could not be read or did not match.
pub const UNKNOWN: &str = "<unknown>";
/// Shown where Python called into C that called back into Python.
pub const NATIVE: &str = "<native>";

/// Code objects kept per process.
const CODE_CACHE: usize = 4096;
/// Bytes of names, file names and line tables kept per process.
const CODE_CACHE_BYTES: usize = 32 << 20;
/// `(code, lasti)` frames kept per process.
const FRAME_CACHE: usize = 16384;
/// Code reports cut short, kept per process as a fallback.
const PARTIAL_REPORTS: usize = 1024;

type Cache<K, V> = LruCache<K, V, FxBuildHasher>;

fn cache<K: std::hash::Hash + Eq, V>(cap: usize) -> Cache<K, V> {
    LruCache::with_hasher(
        NonZeroUsize::new(cap).unwrap_or(NonZeroUsize::MIN),
        FxBuildHasher,
    )
}

/// A cached code object (`None`: it could not be read) and whether it came
/// from a kernel report.
struct CodeEntry {
    info: Option<CodeInfo>,
    from_report: bool,
    /// A frame was named from it (counted once).
    named: bool,
}

impl CodeEntry {
    fn read(info: Option<CodeInfo>) -> Self {
        Self {
            info,
            from_report: false,
            named: false,
        }
    }

    fn reported(info: CodeInfo) -> Self {
        Self {
            info: Some(info),
            from_report: true,
            named: false,
        }
    }
}

/// Bytes a cached code object holds.
fn code_bytes(c: &CodeEntry) -> usize {
    c.info.as_ref().map_or(0, |c| {
        c.name.len() + c.filename.len() + c.linetable.len() + c.bytecode.len()
    })
}

/// A code report made into a code object: `(info, whole)`; whole when
/// nothing was cut or left out. `None` when even the name was not
/// captured (a string of a form the kernel does not copy).
pub fn captured(r: &CodeReport<'_>) -> Option<(CodeInfo, bool)> {
    let h = &r.header;
    let name_kind = h.flags & CODE_NAME_KIND_MASK;
    let file_kind = (h.flags >> CODE_FILE_KIND_SHIFT) & CODE_NAME_KIND_MASK;
    let name = decode_str(name_kind, r.name)?;
    let filename = decode_str(file_kind, r.file);
    let whole = filename.is_some()
        && h.flags & (CODE_NAME_CUT | CODE_FILE_CUT | CODE_TABLE_CUT | CODE_TABLE_MISSING) == 0;
    Some((
        CodeInfo {
            name,
            filename: filename.unwrap_or_else(|| UNKNOWN.to_string()),
            firstlineno: h.firstlineno,
            linetable: r.table.to_vec(),
            fingerprint: h.fingerprint,
            bytecode: Vec::new(),
        },
        whole,
    ))
}

/// CPython's `_Py_InitCleanup` (3.13+): the shim frame between a call of a
/// class and its Python `__init__`, named and filed `__init__`, first line
/// 0 and a table of one "no location" entry. Not user code: hidden from
/// stacks. (Compiled code always starts at line 1 or later.)
fn is_init_shim(c: &CodeInfo) -> bool {
    c.name == "__init__" && c.filename == "__init__" && c.firstlineno <= 0
}

/// Stacks remembered per process (direct-mapped by a hash of the kernel's
/// frames): a thread that sleeps, waits or loops in the same place sends
/// the same frames again and again.
const STACK_MEMO: usize = 16;

/// One remembered stack: the kernel's frames and what they symbolized to.
#[derive(Default)]
struct MemoEntry {
    raw: Vec<Frame>,
    /// The sample's `leaf_opcode` (part of what the stack is).
    leaf_opcode: u32,
    ids: Vec<FrameId>,
}

/// Symbolization state of one process.
pub struct ProcessSymbols {
    proc: PythonProcess,
    mem: Box<dyn RemoteMemory + Send>,
    code: Cache<(u64, u32), CodeEntry>,
    code_bytes: usize,
    /// Frames by `(code, fingerprint, lasti, live opcode)`; `None`: hidden.
    frames: Cache<(u64, u32, i32, u32), Option<FrameId>>,
    /// Reports cut short: used when reading the object fails.
    partial: Cache<(u64, u32), CodeInfo>,
    /// `--opcodes`: the version's opcode names; frames then carry the
    /// instruction and columns, and code objects are read with their
    /// bytecode.
    opcodes: Option<OpcodeTable>,
    /// Code-object reads this process may cause per second.
    budget: ReadBudget,
    /// Whole stacks, for samples that repeat one.
    memo: Vec<MemoEntry>,
    /// Stacks answered from `memo`.
    pub memo_hits: u64,
    /// Frames that could not be symbolized.
    pub failures: u64,
    /// Cache entries dropped to stay within the bounds.
    pub evictions: u64,
    /// The names of its threads.
    names: ThreadBook,
    /// Code reports received from the kernel.
    pub reports: u64,
    /// Code objects that named frames from a report.
    pub named_from_reports: u64,
    /// `--async-aware`, once the process's asyncio layout is known.
    tasks: Option<AsyncTasks>,
}

impl ProcessSymbols {
    /// Reads the live process's memory.
    pub fn new(proc: PythonProcess) -> Self {
        let mem = Box::new(ProcessMemory::new(proc.pid));
        Self::with_memory(proc, mem)
    }

    /// Reads code objects out of `mem` instead (tests, other memory sources).
    pub fn with_memory(proc: PythonProcess, mem: Box<dyn RemoteMemory + Send>) -> Self {
        let proc_pid = proc.pid;
        Self {
            mem,
            proc,
            code: cache(CODE_CACHE),
            code_bytes: 0,
            frames: cache(FRAME_CACHE),
            partial: cache(PARTIAL_REPORTS),
            opcodes: None,
            budget: ReadBudget::new(Instant::now()),
            memo: (0..STACK_MEMO).map(|_| MemoEntry::default()).collect(),
            memo_hits: 0,
            failures: 0,
            evictions: 0,
            names: ThreadBook::new(proc_pid),
            reports: 0,
            named_from_reports: 0,
            tasks: None,
        }
    }

    /// Takes in a code report of this process. A whole one is the code
    /// object (unless a read of it succeeded already); one cut short waits
    /// as a fallback for a failed read.
    pub fn learn(&mut self, report: &CodeReport<'_>) {
        self.reports += 1;
        let Some((mut info, whole)) = captured(report) else {
            return;
        };
        let key = (report.header.code, report.header.fingerprint);
        if self.opcodes.is_some() && self.budget.try_read(Instant::now()) {
            // Reports carry no bytecode: `--opcodes` reads it now, while
            // the object most likely still exists. Without it only the
            // leaf's instruction (read by the kernel, 3.11+) is known.
            info.bytecode = read_bytecode(&*self.mem, &self.proc.layout, key.0).unwrap_or_default();
            self.budget.charge(info.bytecode.len() as u64);
        }
        if whole {
            if self.code.peek(&key).is_none_or(|e| e.info.is_none()) {
                self.insert_code(key, CodeEntry::reported(info));
            }
        } else {
            self.partial.put(key, info);
        }
    }

    /// Reads the process's asyncio tasks with `layout` from now on.
    pub fn set_async(&mut self, layout: AsyncLayout) {
        self.tasks = Some(AsyncTasks::new(layout));
    }

    /// The asyncio layout, once known.
    pub fn async_layout(&self) -> Option<&AsyncLayout> {
        self.tasks.as_ref().map(|t| &t.layout)
    }

    /// What `--async-aware` saw of this process.
    pub fn async_stats(&self) -> AsyncStats {
        self.tasks.as_ref().map(|t| t.stats).unwrap_or_default()
    }

    /// A sample's frames (`ids`, leaf first) as asyncio task `task` sees
    /// them: cut after its coroutine frame (`task_frame`, 1-based, as the
    /// kernel found it), the chain of tasks below (see
    /// [`crate::async_stacks`]). Unchanged when the task cannot be read or
    /// its frame is not among them (both counted).
    pub fn task_stack(
        &mut self,
        ids: &mut Vec<FrameId>,
        task: u64,
        task_frame: u32,
        profile: &mut Profile,
    ) {
        let Some(mut tasks) = self.tasks.take() else {
            return;
        };
        let now = Instant::now();
        if tasks.cached(task, now).is_none() {
            let chain = self.read_task_chain(&tasks.layout, task, profile);
            tasks.keep(task, now, chain);
        }
        match tasks.cached(task, now) {
            Some(Some(chain)) => {
                if splice(ids, task_frame, chain) {
                    tasks.stats.in_tasks += 1;
                } else {
                    tasks.stats.no_task_frame += 1;
                }
            }
            _ => tasks.stats.unreadable += 1,
        }
        self.tasks = Some(tasks);
    }

    /// Thread `tid` has the thread state `tstate` (for `--async-mode all`).
    pub fn note_thread(&mut self, tstate: u64, tid: u32) {
        if let Some(t) = self.tasks.as_mut() {
            t.note_thread(tstate, tid);
        }
    }

    /// `--async-mode all`: the stacks of the tasks waiting now (the thread
    /// whose list holds one is the process's own pid where no sample
    /// showed that thread).
    pub fn waiting_task_stacks(
        &mut self,
        profile: &mut Profile,
        now: Instant,
    ) -> Option<WaitingTasks> {
        let mut tasks = self.tasks.take()?;
        let since = now.duration_since(tasks.walked_at);
        tasks.walked_at = now;
        let found = {
            let reader = TaskReader::new(&*self.mem, &self.proc.layout, &tasks.layout);
            reader
                .waiting_tasks(self.proc.runtime_addr)
                .into_iter()
                .filter_map(|(tstate, task)| {
                    let coro = reader.task(task).ok()?.coro;
                    let mut links: Vec<Link> = reader
                        .coroutine_frames(coro)
                        .into_iter()
                        .map(Link::Frame)
                        .collect();
                    links.extend(read_chain(&reader, task).ok()?);
                    Some((tstate, links))
                })
                .collect::<Vec<_>>()
        };
        let pid = self.proc.pid;
        let stacks = found
            .into_iter()
            .map(|(tstate, links)| {
                let ids = self.link_frames(links, profile);
                (tasks.thread_of(tstate).unwrap_or(pid), ids)
            })
            .collect::<Vec<_>>();
        tasks.stats.waiting += stacks.len() as u64;
        self.tasks = Some(tasks);
        Some(WaitingTasks { stacks, since })
    }

    /// The profile frame for a frame read from userspace (no fingerprint):
    /// fingerprinted here as the kernel would, so it goes through the
    /// caches (the code object is read once, not at every look); `None`
    /// for a frame that is not shown.
    pub fn user_frame(&mut self, mut f: Frame, profile: &mut Profile) -> Option<FrameId> {
        if f.code != 0 && f.fingerprint == 0 {
            if let Ok(fp) =
                code_fingerprint(&*self.mem, &self.proc.layout, self.proc.code_type, f.code)
            {
                f.fingerprint = fp;
            }
        }
        self.frame(&f, profile)
    }

    /// The frames of task `task`'s chain, leaf first; `None` when the task
    /// cannot be read.
    fn read_task_chain(
        &mut self,
        layout: &AsyncLayout,
        task: u64,
        profile: &mut Profile,
    ) -> Option<Vec<FrameId>> {
        let links = {
            let reader = TaskReader::new(&*self.mem, &self.proc.layout, layout);
            read_chain(&reader, task)
        };
        let links = match links {
            Ok(l) => l,
            Err(e) => {
                log::debug!("pid {}: task {task:#x}: {e}", self.proc.pid);
                return None;
            }
        };
        Some(self.link_frames(links, profile))
    }

    /// The profile frames of a task chain's links (frames not shown left
    /// out).
    fn link_frames(&mut self, links: Vec<Link>, profile: &mut Profile) -> Vec<FrameId> {
        links
            .into_iter()
            .filter_map(|l| match l {
                Link::Task(name) => Some(profile.intern_frame(task_frame(&name))),
                Link::Frame(f) => self.user_frame(f, profile),
            })
            .collect()
    }

    /// With `on`, frames carry the instruction they were executing and
    /// its columns (`--opcodes`), where this build has the version's
    /// opcode table.
    pub fn with_opcodes(mut self, on: bool) -> Self {
        self.opcodes = if on {
            OpcodeTable::for_minor(self.proc.layout.minor)
        } else {
            None
        };
        self
    }

    pub fn process(&self) -> &PythonProcess {
        &self.proc
    }

    /// The names of its threads as learnt so far.
    pub fn thread_names(&self) -> &ThreadBook {
        &self.names
    }

    /// A sample of thread `tid`: its name is read if it has none yet (on
    /// the book's schedule). True when names changed.
    pub fn observe_thread(&mut self, tid: u32, now: Instant) -> bool {
        self.names.observe(&*self.mem, &self.proc, tid, now)
    }

    /// Reads the thread names now. True when names changed.
    pub fn refresh_thread_names(&mut self, now: Instant) -> bool {
        self.names.refresh(&*self.mem, &self.proc, now)
    }

    /// Code-object reads refused because the process spent its budget.
    pub fn over_budget(&self) -> u64 {
        self.budget.refused
    }

    /// Reads the code object at `addr` if the budget allows (`None`: it
    /// does not, and the refusal is counted).
    fn read_code_budgeted(&mut self, addr: u64, fp: u32) -> Option<Result<CodeInfo, ObjectError>> {
        if !self.budget.try_read(Instant::now()) {
            return None;
        }
        let mut info = read_code(&*self.mem, &self.proc.layout, self.proc.code_type, addr, fp);
        if let Ok(c) = &mut info {
            if self.opcodes.is_some() {
                // Without it the frame keeps its name and line; only the
                // instruction stays unknown.
                c.bytecode = read_bytecode(&*self.mem, &self.proc.layout, addr).unwrap_or_default();
            }
            let bytes = c.name.len() + c.filename.len() + c.linetable.len() + c.bytecode.len();
            self.budget.charge(bytes as u64);
        }
        Some(info)
    }

    /// The profile frames for a sample's kernel frames (leaf first, as the
    /// kernel sends them), into `out`; `leaf_opcode` is the sample's
    /// [`tachyon_common::SampleHeader::leaf_opcode`]. A stack seen just
    /// before is answered from memory when every frame of it had
    /// symbolized from the caches; anything else goes frame by frame.
    pub fn stack(
        &mut self,
        frames: &[Frame],
        leaf_opcode: u32,
        profile: &mut Profile,
        out: &mut Vec<FrameId>,
    ) {
        use std::hash::{BuildHasher, Hash, Hasher};
        // Without --opcodes the kernel read nothing; never split on it.
        let leaf_opcode = if self.opcodes.is_some() {
            leaf_opcode
        } else {
            0
        };
        let mut h = FxBuildHasher.build_hasher();
        leaf_opcode.hash(&mut h);
        for f in frames {
            (f.code, f.lasti, f.fingerprint).hash(&mut h);
        }
        let slot = (h.finish() as usize) % STACK_MEMO;
        if self.memo[slot].raw.as_slice() == frames
            && self.memo[slot].leaf_opcode == leaf_opcode
            && !frames.is_empty()
        {
            self.memo_hits += 1;
            out.extend_from_slice(&self.memo[slot].ids);
            return;
        }
        let failures = self.failures;
        let start = out.len();
        let mut cacheable = true;
        // The kernel read the opcode of the first Python frame (the leaf).
        let mut live = leaf_opcode;
        for f in frames {
            // Frames the kernel could not fingerprint are never cached.
            cacheable &= f.fingerprint != 0 || f.code == 0;
            let id = if f.code == 0 {
                self.frame(f, profile)
            } else {
                self.frame_with(f, std::mem::take(&mut live), profile)
            };
            if let Some(id) = id {
                out.push(id);
            }
        }
        if cacheable && self.failures == failures {
            let entry = &mut self.memo[slot];
            entry.raw.clear();
            entry.raw.extend_from_slice(frames);
            entry.leaf_opcode = leaf_opcode;
            entry.ids.clear();
            entry.ids.extend_from_slice(&out[start..]);
        }
    }

    /// The profile frame for a kernel frame; `None` for a frame that is
    /// not shown (the `__init__` shim).
    pub fn frame(&mut self, f: &Frame, profile: &mut Profile) -> Option<FrameId> {
        self.frame_with(f, 0, profile)
    }

    /// The profile frame for a kernel frame whose opcode the kernel read
    /// (`live`: `LEAF_OPCODE_READ | byte`, or 0).
    fn frame_with(&mut self, f: &Frame, live: u32, profile: &mut Profile) -> Option<FrameId> {
        let live = if self.opcodes.is_some() { live } else { 0 };
        let opcodes = self.opcodes;
        let ops = opcodes
            .as_ref()
            .map(|t| (t, (live & LEAF_OPCODE_READ != 0).then_some(live as u8)));
        if f.code == 0 {
            // The kernel's marker for C code between two Python frames.
            return Some(profile.intern_frame(FrameInfo::marker(NATIVE)));
        }
        let (minor, format) = (self.proc.layout.minor, self.proc.layout.linetable);
        if f.fingerprint == 0 {
            // The kernel could not read the code object, so nothing can tell
            // whether what is at that address now is what ran: never cache.
            let frame = match self.read_code_budgeted(f.code, 0) {
                Some(Ok(c)) => python_frame(minor, format, &c, f.lasti, ops),
                _ => {
                    self.failures += 1;
                    Some(FrameInfo::marker(UNKNOWN))
                }
            };
            return frame.map(|frame| profile.intern_frame(frame));
        }
        let key = (f.code, f.fingerprint, f.lasti, live);
        if let Some(&id) = self.frames.get(&key) {
            return id;
        }
        let ck = (f.code, f.fingerprint);
        if !self.code.contains(&ck) {
            let read = self.read_code_budgeted(f.code, f.fingerprint);
            let entry = match (read, self.partial.pop(&ck)) {
                (Some(Ok(info)), _) => CodeEntry::read(Some(info)),
                // The read failed (or was refused): a report cut short
                // still names it.
                (_, Some(info)) => CodeEntry::reported(info),
                (Some(Err(_)), None) => CodeEntry::read(None),
                (None, None) => {
                    // Over budget: nothing is cached, a later sample retries.
                    self.failures += 1;
                    return Some(profile.intern_frame(FrameInfo::marker(UNKNOWN)));
                }
            };
            self.insert_code(ck, entry);
        }
        let mut named_from_report = false;
        let frame = match self.code.get_mut(&ck) {
            Some(CodeEntry {
                info: Some(c),
                from_report,
                named,
            }) => {
                named_from_report = *from_report && !*named;
                *named |= *from_report;
                Some(python_frame(minor, format, c, f.lasti, ops))
            }
            _ => None,
        };
        if named_from_report {
            self.named_from_reports += 1;
        }
        let Some(frame) = frame else {
            // A failed read is not cached at frame level: the next sample
            // retries through the (cached) code-level result, counting each
            // failure.
            self.failures += 1;
            return Some(profile.intern_frame(FrameInfo::marker(UNKNOWN)));
        };
        let id = frame.map(|frame| profile.intern_frame(frame));
        if self.frames.push(key, id).is_some_and(|(k, _)| k != key) {
            self.evictions += 1;
        }
        id
    }

    /// Caches a code object, evicting the least recently used ones beyond
    /// the count or byte bound.
    fn insert_code(&mut self, key: (u64, u32), info: CodeEntry) {
        self.code_bytes += code_bytes(&info);
        if let Some((k, old)) = self.code.push(key, info) {
            self.code_bytes -= code_bytes(&old);
            if k != key {
                self.evictions += 1;
            }
        }
        while self.code_bytes > CODE_CACHE_BYTES && self.code.len() > 1 {
            match self.code.pop_lru() {
                Some((_, old)) => {
                    self.code_bytes -= code_bytes(&old);
                    self.evictions += 1;
                }
                None => break,
            }
        }
    }

    /// Forgets the frame ids it cached (after [`Profile::compact`]); the
    /// code objects it read stay.
    pub fn forget_frames(&mut self) {
        self.frames.clear();
        if let Some(t) = self.tasks.as_mut() {
            t.forget_frames();
        }
        for e in &mut self.memo {
            e.raw.clear();
            e.ids.clear();
        }
    }

    /// Entries in the caches (code objects, frames).
    pub fn cached(&self) -> (usize, usize) {
        (self.code.len(), self.frames.len())
    }
}

/// The profile frame for code object `c` executing instruction `lasti`;
/// `None` for the `__init__` shim, which is not shown. With `opcodes`
/// (`--opcodes`: the table and the byte the kernel read, if any) it carries
/// the instruction and its columns, taken at the same address as the line.
fn python_frame(
    minor: u32,
    format: LineTableFormat,
    c: &CodeInfo,
    lasti: i32,
    opcodes: Option<(&OpcodeTable, Option<u8>)>,
) -> Option<FrameInfo> {
    if is_init_shim(c) {
        return None;
    }
    let addr = address_for(minor, lasti);
    let line = shown_line(format, &c.linetable, c.firstlineno, addr);
    let frame = FrameInfo::python(&c.name, &c.filename, line, c.firstlineno.max(0) as u32);
    let Some((table, live)) = opcodes else {
        return Some(frame);
    };
    // Columns only where the instruction has its own location on the line
    // shown (a line-less instruction shows the line before it, whose
    // columns are not its own).
    let loc =
        location_for_addr(format, &c.linetable, c.firstlineno, addr).filter(|l| l.line == line);
    let op = table.resolve(&c.bytecode, addr, live);
    Some(frame.with_instr(Instr {
        opcode: op.map(|o| o.name.to_string()).unwrap_or_default(),
        family: op.map(|o| o.family.to_string()).unwrap_or_default(),
        end_line: loc.and_then(|l| l.end_line),
        col: loc.and_then(|l| l.column),
        end_col: loc.and_then(|l| l.end_column),
    }))
}

/// The byte address `PyCode_Addr2Line` takes for a kernel `lasti`:
/// `f_lasti` itself on 3.8/3.9 (bytes), twice the code-unit index after.
pub fn address_for(minor: u32, lasti: i32) -> i32 {
    if minor <= 9 {
        lasti
    } else {
        lasti.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tachyon_common::{fingerprint, identity_mix, CodeHeader, EVENT_CODE};

    use crate::profile::{FrameKind, Instr, ProfileMeta};
    use crate::python::layout::layout_for;
    use crate::python::memory::{FakeMemory, MemoryError};

    #[test]
    fn addresses_follow_the_version_units() {
        assert_eq!(address_for(8, 10), 10);
        assert_eq!(address_for(10, 10), 20);
        assert_eq!(address_for(13, -1), -2);
    }

    /// Memory the test keeps a handle on (to replace objects under the
    /// symbolizer), counting reads.
    #[derive(Clone, Default)]
    struct Shared {
        mem: Arc<Mutex<FakeMemory>>,
        reads: Arc<AtomicUsize>,
    }

    impl RemoteMemory for Shared {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.mem.lock().expect("not poisoned").read(addr, buf)
        }
    }

    impl Shared {
        fn reads(&self) -> usize {
            self.reads.load(Ordering::Relaxed)
        }

        fn set(&self, mem: FakeMemory) {
            *self.mem.lock().expect("not poisoned") = mem;
        }
    }

    const CODE_TYPE: u64 = 0x7f00_0000_3000;
    const CODE: u64 = 0x7f10_0000;

    /// One function as the process holds it: where its co_name str lives
    /// (and that str's hash), its qualname, first line and co_version.
    struct Func {
        name_at: u64,
        name_hash: u64,
        qualname: &'static str,
        firstlineno: u32,
        version: u32,
    }

    const OLD: Func = Func {
        name_at: 0x7f20_0000,
        name_hash: 0x1111_2222_3333_4444,
        qualname: "old_func",
        firstlineno: 10,
        version: 3,
    };

    const NEW: Func = Func {
        name_at: 0x7f30_0000,
        name_hash: 0x5555_6666_7777_8888,
        qualname: "new_func",
        firstlineno: 20,
        version: 4,
    };

    fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
        buf[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// A compact ASCII str: length +16, hash +24, state +32, data +48
    /// (3.11) or +40 (3.12).
    fn ascii(minor: u32, s: &str, hash: u64) -> Vec<u8> {
        let data = if minor >= 12 { 40 } else { 48 };
        let mut b = vec![0u8; data + s.len() + 1];
        put(&mut b, 16, &(s.len() as u64).to_le_bytes());
        put(&mut b, 24, &hash.to_le_bytes());
        put(&mut b, 32, &(1u32 << 2 | 0x20 | 0x40).to_le_bytes());
        put(&mut b, data, s.as_bytes());
        b
    }

    /// Memory holding `f`'s code object at [`CODE`] (3.11/3.12 positions:
    /// ob_type +8, co_firstlineno +72/+68, co_version +92 (3.12),
    /// co_filename +112, co_name +120, co_qualname +128, co_linetable +136).
    fn memory_with(minor: u32, f: &Func) -> FakeMemory {
        let base = f.name_at;
        let (qualname, filename, linetable) = (base + 0x100, base + 0x200, base + 0x300);
        let mut code = vec![0u8; 256];
        put(&mut code, 8, &CODE_TYPE.to_le_bytes());
        if minor == 11 {
            put(&mut code, 72, &f.firstlineno.to_le_bytes());
        } else {
            put(&mut code, 68, &f.firstlineno.to_le_bytes());
            put(&mut code, 92, &f.version.to_le_bytes());
        }
        put(&mut code, 112, &filename.to_le_bytes());
        put(&mut code, 120, &f.name_at.to_le_bytes());
        put(&mut code, 128, &qualname.to_le_bytes());
        put(&mut code, 136, &linetable.to_le_bytes());
        let mut bytes = vec![0u8; 40];
        put(&mut bytes, 16, &0u64.to_le_bytes());
        FakeMemory::new()
            .with(CODE, &code)
            .with(f.name_at, &ascii(minor, "short", f.name_hash))
            .with(qualname, &ascii(minor, f.qualname, 1))
            .with(filename, &ascii(minor, "app.py", 2))
            .with(linetable, &bytes)
    }

    /// The fingerprint the kernel reports for `f` (see `frame_step`).
    fn fp(minor: u32, f: &Func) -> u32 {
        if minor <= 11 {
            // co_filename and co_linetable as `memory_with` places them.
            let (filename, linetable) = (f.name_at + 0x200, f.name_at + 0x300);
            let mix = identity_mix(f.name_hash, filename, linetable);
            fingerprint(f.name_at, mix, f.firstlineno)
        } else {
            fingerprint(f.name_at, 0, f.version)
        }
    }

    fn symbols(minor: u32, f: &Func) -> (ProcessSymbols, Shared) {
        let shared = Shared::default();
        shared.set(memory_with(minor, f));
        let proc = PythonProcess {
            pid: 4242,
            comm: "python3".into(),
            version: format!("3.{minor}"),
            layout: *layout_for(minor).expect("supported version"),
            runtime_addr: 0,
            code_type: CODE_TYPE,
            none_addr: 0,
            binary: "python3".into(),
        };
        (
            ProcessSymbols::with_memory(proc, Box::new(shared.clone())),
            shared,
        )
    }

    fn frame(code: u64, lasti: i32, fingerprint: u32) -> Frame {
        Frame {
            code,
            lasti,
            fingerprint,
        }
    }

    /// (id, name, file, kind) of what `f` symbolizes to.
    fn name_of(
        s: &mut ProcessSymbols,
        p: &mut Profile,
        f: Frame,
    ) -> (FrameId, String, String, FrameKind) {
        let id = s.frame(&f, p).expect("a shown frame");
        let info = &p.frames[id as usize];
        (id, info.name.clone(), info.file.clone(), info.kind)
    }

    fn profile() -> Profile {
        Profile::new(ProfileMeta::default())
    }

    #[test]
    fn code_objects_are_read_once_per_address_and_fingerprint() {
        for minor in [11, 12] {
            let (mut s, mem) = symbols(minor, &OLD);
            let mut p = profile();
            let (id, name, file, kind) = name_of(&mut s, &mut p, frame(CODE, 0, fp(minor, &OLD)));
            assert_eq!(
                (name.as_str(), file.as_str(), kind),
                ("old_func", "app.py", FrameKind::Python)
            );
            let after_first = mem.reads();
            assert!(after_first > 0);
            // The same frame, and another line of the same code object: no
            // read, even once the memory is gone.
            mem.set(FakeMemory::new());
            assert_eq!(s.frame(&frame(CODE, 0, fp(minor, &OLD)), &mut p), Some(id));
            let (_, name, ..) = name_of(&mut s, &mut p, frame(CODE, 7, fp(minor, &OLD)));
            assert_eq!(name, "old_func");
            assert_eq!(mem.reads(), after_first, "3.{minor}");
            assert_eq!(s.failures, 0);
        }
    }

    #[test]
    fn forged_code_pointers_spend_the_read_budget_and_stop_there() {
        let (mut s, mem) = symbols(12, &OLD);
        let mut p = profile();
        // Thousands of distinct (pointer, fingerprint) pairs in one second:
        // each would be a read; past the budget they are refused, counted,
        // and not read.
        let forged = crate::budget::READS_PER_SECOND as u64 + 500;
        for i in 0..forged {
            let _ = s.frame(&frame(0x9000_0000 + i * 64, 0, 1 + i as u32), &mut p);
        }
        let reads = mem.reads();
        assert_eq!(s.over_budget(), 500);
        assert_eq!(s.failures, forged);
        for i in 0..100 {
            let _ = s.frame(&frame(0xa000_0000 + i * 64, 0, 7), &mut p);
        }
        assert_eq!(mem.reads(), reads, "no read while over budget");
        assert_eq!(s.over_budget(), 600);
        // The real frame still symbolizes once the second is over (the
        // budget is per second; here it is simply not read yet).
        assert!(s.cached().0 <= crate::budget::READS_PER_SECOND as usize);
    }

    #[test]
    fn repeated_stacks_come_from_memory_with_the_same_frames() {
        let (mut s, mem) = symbols(12, &OLD);
        let mut p = profile();
        let stack = [
            frame(CODE, 3, fp(12, &OLD)),
            frame(0, 0, 0),
            frame(CODE, 9, fp(12, &OLD)),
        ];
        let mut first = Vec::new();
        s.stack(&stack, 0, &mut p, &mut first);
        let expected: Vec<FrameId> = stack.iter().filter_map(|f| s.frame(f, &mut p)).collect();
        assert_eq!(first, expected);
        let reads = mem.reads();
        let mut again = vec![99];
        s.stack(&stack, 0, &mut p, &mut again);
        assert_eq!(again[1..], first[..], "appended after what was there");
        assert_eq!(s.memo_hits, 1);
        assert_eq!(mem.reads(), reads);
        // Another line is another stack.
        let mut other = Vec::new();
        s.stack(&[frame(CODE, 4, fp(12, &OLD))], 0, &mut p, &mut other);
        assert_eq!(s.memo_hits, 1);
        // After the profile's frame tables were compacted, nothing is
        // answered from before.
        s.forget_frames();
        let mut after = Vec::new();
        s.stack(&stack, 0, &mut p, &mut after);
        assert_eq!(s.memo_hits, 1);
    }

    #[test]
    fn stacks_with_unreadable_frames_are_not_remembered() {
        let (mut s, _) = symbols(12, &OLD);
        let mut p = profile();
        // Fingerprint 0: the kernel could not read the code object.
        let stack = [frame(CODE, 3, 0)];
        let mut out = Vec::new();
        s.stack(&stack, 0, &mut p, &mut out);
        s.stack(&stack, 0, &mut p, &mut out);
        assert_eq!(s.memo_hits, 0);
        // A code object that cannot be read (<unknown>) either.
        let bad = [frame(0x7777_0000, 3, 42)];
        s.stack(&bad, 0, &mut p, &mut out);
        s.stack(&bad, 0, &mut p, &mut out);
        assert_eq!(s.memo_hits, 0);
        assert_eq!(s.failures, 2);
    }

    #[test]
    fn frames_with_fingerprint_zero_are_never_cached() {
        for minor in [11, 12] {
            let (mut s, mem) = symbols(minor, &OLD);
            let mut p = profile();
            assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 0)).1, "old_func");
            let after_first = mem.reads();
            assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 0)).1, "old_func");
            assert!(mem.reads() > after_first, "3.{minor}: read again");
            // Whatever is at the address now is what is shown.
            mem.set(memory_with(minor, &NEW));
            assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 0)).1, "new_func");
            mem.set(FakeMemory::new());
            let (_, name, _, kind) = name_of(&mut s, &mut p, frame(CODE, 0, 0));
            assert_eq!((name.as_str(), kind), (UNKNOWN, FrameKind::Marker));
            assert_eq!(s.failures, 1);
        }
    }

    #[test]
    fn a_replaced_code_object_yields_the_new_name() {
        for minor in [11, 12] {
            let (old_fp, new_fp) = (fp(minor, &OLD), fp(minor, &NEW));
            assert_ne!(old_fp, new_fp);
            let (mut s, mem) = symbols(minor, &OLD);
            let mut p = profile();
            let (old_id, name, ..) = name_of(&mut s, &mut p, frame(CODE, 4, old_fp));
            assert_eq!(name, "old_func");
            // Freed, and another function allocated at the same address.
            mem.set(memory_with(minor, &NEW));
            for lasti in [4, 0] {
                let (id, name, ..) = name_of(&mut s, &mut p, frame(CODE, lasti, new_fp));
                assert_eq!(name, "new_func", "3.{minor}");
                assert_ne!(id, old_id);
            }
            // Samples still carrying the old fingerprint ran the old code.
            assert_eq!(s.frame(&frame(CODE, 4, old_fp), &mut p), Some(old_id));
            assert_eq!(s.failures, 0);
        }
    }

    #[test]
    fn a_fingerprint_that_does_not_match_memory_is_unknown() {
        for minor in [11, 12] {
            // The old function ran, but by the time its frame is symbolized
            // the new one sits at the address: never name it.
            let (mut s, _mem) = symbols(minor, &NEW);
            let mut p = profile();
            let (_, name, _, kind) = name_of(&mut s, &mut p, frame(CODE, 4, fp(minor, &OLD)));
            assert_eq!(
                (name.as_str(), kind),
                (UNKNOWN, FrameKind::Marker),
                "3.{minor}"
            );
            assert_eq!(s.failures, 1);
            let (_, name, ..) = name_of(&mut s, &mut p, frame(CODE, 4, fp(minor, &NEW)));
            assert_eq!(name, "new_func");
            assert_eq!(s.failures, 1);
        }
    }

    #[test]
    fn unreadable_code_objects_are_unknown_and_counted() {
        let (mut s, mem) = symbols(12, &OLD);
        mem.set(memory_with(12, &OLD).with(0x9000_0000, &[0x11; 256]));
        let mut p = profile();
        let unknown = (UNKNOWN.to_string(), FrameKind::Marker);
        let mut expect_failures = 0;
        for f in [
            // Nothing mapped there, with and without a fingerprint.
            frame(0xdead_0000, 0, 0x1234),
            frame(0xdead_0000, 0, 0x1234),
            frame(0xdead_0000, 9, 0x1234),
            frame(0xdead_0000, 0, 0),
            // Not a code object (its ob_type points elsewhere).
            frame(0x9000_0000, 0, 0x1234),
        ] {
            let (_, name, _, kind) = name_of(&mut s, &mut p, f);
            expect_failures += 1;
            assert_eq!((name, kind), unknown);
            assert_eq!(s.failures, expect_failures);
        }
        // The failed code-level read is cached: retrying reads nothing more.
        let reads = mem.reads();
        name_of(&mut s, &mut p, frame(0xdead_0000, 0, 0x1234));
        assert_eq!(mem.reads(), reads);
        assert_eq!(s.failures, expect_failures + 1);
        // C between Python frames is not a failure.
        let (_, name, _, kind) = name_of(&mut s, &mut p, frame(0, 0, 0));
        assert_eq!((name.as_str(), kind), (NATIVE, FrameKind::Marker));
        assert_eq!(s.failures, expect_failures + 1);
    }

    /// `OLD` on 3.12 with bytecode `LOAD_FAST; BINARY_OP_ADD_INT (1
    /// cache); STORE_FAST; RETURN_VALUE` at `co_code_adaptive` (+192,
    /// `ob_size` +16) and a location table giving all of it line 10,
    /// columns 16–25.
    fn with_bytecode() -> (ProcessSymbols, Shared) {
        let t = OpcodeTable::for_minor(12).unwrap();
        let byte = |n: &str| {
            (0..=255u8)
                .find(|&b| t.get(b).is_some_and(|o| o.name == n))
                .unwrap()
        };
        let code = [
            byte("LOAD_FAST"),
            0,
            byte("BINARY_OP_ADD_INT"),
            0,
            0xff,
            0xee,
            byte("STORE_FAST"),
            0,
            byte("RETURN_VALUE"),
            0,
        ];
        let (s, shared) = symbols(12, &OLD);
        let mut mem = memory_with(12, &OLD);
        mem.put(CODE + 16, &5u64.to_le_bytes());
        mem.put(CODE + 192, &code);
        // One entry, code 10 (same line, two column bytes), 5 units.
        let linetable = OLD.name_at + 0x300;
        mem.put(linetable + 16, &3u64.to_le_bytes());
        mem.put(linetable + 32, &[0x80 | 10 << 3 | 4, 16, 25]);
        shared.set(mem);
        (s.with_opcodes(true), shared)
    }

    fn instr_of(s: &mut ProcessSymbols, p: &mut Profile, stack: &[Frame], leaf: u32) -> Instr {
        let mut out = Vec::new();
        s.stack(stack, leaf, p, &mut out);
        p.frames[out[0] as usize]
            .instr
            .clone()
            .expect("an instruction")
    }

    #[test]
    fn opcodes_name_the_instruction_and_its_columns() {
        let (mut s, _) = with_bytecode();
        let mut p = profile();
        let f = |lasti| [frame(CODE, lasti, fp(12, &OLD))];
        let i = instr_of(&mut s, &mut p, &f(1), 0);
        assert_eq!(
            (i.opcode.as_str(), i.family.as_str()),
            ("BINARY_OP_ADD_INT", "BINARY_OP")
        );
        assert_eq!(
            (i.end_line, i.col, i.end_col),
            (Some(10), Some(16), Some(25))
        );
        // The kernel's byte names what ran (here the generic form), and
        // is part of what the stack is: not answered from the memo.
        let t = OpcodeTable::for_minor(12).unwrap();
        let generic = (0..=255u8)
            .find(|&b| t.get(b).is_some_and(|o| o.name == "BINARY_OP"))
            .unwrap();
        let i = instr_of(&mut s, &mut p, &f(1), LEAF_OPCODE_READ | generic as u32);
        assert_eq!(i.opcode, "BINARY_OP");
        assert_eq!(s.memo_hits, 0);
        // A pointer inside the caches is the add; past the end, unknown.
        assert_eq!(
            instr_of(&mut s, &mut p, &f(2), 0).opcode,
            "BINARY_OP_ADD_INT"
        );
        assert_eq!(instr_of(&mut s, &mut p, &f(40), 0).opcode, "");
        // Only the leaf takes the kernel's byte: a caller's instruction
        // comes from the bytecode.
        let stack = [frame(CODE, 3, fp(12, &OLD)), frame(CODE, 1, fp(12, &OLD))];
        let mut out = Vec::new();
        s.stack(&stack, LEAF_OPCODE_READ | generic as u32, &mut p, &mut out);
        let names: Vec<_> = out
            .iter()
            .map(|&id| p.frames[id as usize].opcode())
            .collect();
        assert_eq!(names, [Some("STORE_FAST"), Some("BINARY_OP_ADD_INT")]);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn without_opcodes_frames_carry_none_and_ignore_the_kernel_byte() {
        let (s, _) = with_bytecode();
        let mut s = s.with_opcodes(false);
        let mut p = profile();
        let stack = [frame(CODE, 1, fp(12, &OLD))];
        let mut a = Vec::new();
        s.stack(&stack, 0, &mut p, &mut a);
        let mut b = Vec::new();
        s.stack(&stack, LEAF_OPCODE_READ | 7, &mut p, &mut b);
        assert_eq!(a, b);
        assert_eq!(s.memo_hits, 1);
        assert!(p.frames[a[0] as usize].instr.is_none());
        assert_eq!(p.frames[a[0] as usize].label(), "old_func (app.py:10)");
    }

    #[test]
    fn the_frame_cache_is_bounded() {
        let (mut s, _) = symbols(12, &OLD);
        let mut p = profile();
        let extra = 100;
        for lasti in 0..(FRAME_CACHE + extra) as i32 {
            s.frame(&frame(CODE, lasti, fp(12, &OLD)), &mut p);
        }
        assert_eq!(s.cached(), (1, FRAME_CACHE));
        assert_eq!(s.evictions, extra as u64);
        assert_eq!(s.failures, 0);
    }

    /// A kernel code report of `code` with fingerprint `fp`: ASCII name and
    /// file (kind 1), a 3.11+ table whose first unit is at line +2.
    fn report<'a>(code: u64, fp: u32, name: &'a str, file: &'a str, flags: u32) -> CodeReport<'a> {
        const TABLE: &[u8] = &[0x80 | 13 << 3, 0x04];
        CodeReport {
            header: CodeHeader {
                kind: EVENT_CODE,
                pid: 4242,
                code,
                fingerprint: fp,
                firstlineno: 30,
                flags,
                name_len: name.len() as u32,
                file_len: file.len() as u32,
                table_len: TABLE.len() as u32,
            },
            name: name.as_bytes(),
            file: file.as_bytes(),
            table: TABLE,
        }
    }

    /// Both strings ASCII (kind 1).
    const ASCII_BOTH: u32 = 1 | 1 << tachyon_common::CODE_FILE_KIND_SHIFT;

    #[test]
    fn a_whole_report_names_code_that_is_gone() {
        // The process's memory holds nothing any more: only the report.
        let (mut s, mem) = symbols(12, &OLD);
        mem.set(FakeMemory::new());
        let mut p = profile();
        s.learn(&report(CODE, 77, "Gone.run", "gone.py", ASCII_BOTH));
        let id = s.frame(&frame(CODE, 0, 77), &mut p).expect("shown");
        let f = &p.frames[id as usize];
        assert_eq!(
            (f.name.as_str(), f.file.as_str(), f.line),
            ("Gone.run", "gone.py", 32)
        );
        assert_eq!(mem.reads(), 0, "a whole report needs no read");
        // Another line of it: counted once as named from a report.
        s.frame(&frame(CODE, 1, 77), &mut p);
        assert_eq!((s.reports, s.named_from_reports, s.failures), (1, 1, 0));
        // Another fingerprint at that address is another code object.
        let (_, name, ..) = name_of(&mut s, &mut p, frame(CODE, 0, 78));
        assert_eq!(name, UNKNOWN);
    }

    #[test]
    fn a_whole_report_replaces_a_failed_read_but_not_a_good_one() {
        let (mut s, mem) = symbols(12, &OLD);
        let mut p = profile();
        mem.set(FakeMemory::new());
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 77)).1, UNKNOWN);
        s.learn(&report(CODE, 77, "Late.run", "late.py", ASCII_BOTH));
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 77)).1, "Late.run");
        // Read from memory first: a report does not replace it.
        let (mut s, _) = symbols(12, &OLD);
        let old = fp(12, &OLD);
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, old)).1, "old_func");
        s.learn(&report(CODE, old, "Other", "other.py", ASCII_BOTH));
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 2, old)).1, "old_func");
        assert_eq!(s.named_from_reports, 0);
    }

    #[test]
    fn a_cut_report_is_only_a_fallback() {
        let cut = ASCII_BOTH | tachyon_common::CODE_TABLE_CUT;
        // The object can still be read: the read wins.
        let (mut s, mem) = symbols(12, &OLD);
        let mut p = profile();
        let old = fp(12, &OLD);
        s.learn(&report(CODE, old, "Cut", "cut.py", cut));
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, old)).1, "old_func");
        assert!(mem.reads() > 0);
        assert_eq!(s.named_from_reports, 0);
        // It cannot: the cut report names it.
        let (mut s, mem) = symbols(12, &OLD);
        mem.set(FakeMemory::new());
        s.learn(&report(CODE, 77, "Cut", "cut.py", cut));
        let (_, name, file, _) = name_of(&mut s, &mut p, frame(CODE, 0, 77));
        assert_eq!((name.as_str(), file.as_str()), ("Cut", "cut.py"));
        assert_eq!((s.named_from_reports, s.failures), (1, 0));
        // A report whose name was not captured names nothing.
        let (mut s, mem) = symbols(12, &OLD);
        mem.set(FakeMemory::new());
        s.learn(&report(
            CODE,
            77,
            "",
            "x.py",
            1 << tachyon_common::CODE_FILE_KIND_SHIFT,
        ));
        assert_eq!(name_of(&mut s, &mut p, frame(CODE, 0, 77)).1, UNKNOWN);
        assert_eq!(s.reports, 1);
    }

    #[test]
    fn reports_of_wider_strings_are_decoded() {
        // "π" as UCS-2 (kind 2), the file as Latin-1 "café.py".
        let name = [0xc0, 0x03];
        let file = [b'c', b'a', b'f', 0xe9, b'.', b'p', b'y'];
        let mut r = report(
            CODE,
            5,
            "",
            "",
            2 | 1 << tachyon_common::CODE_FILE_KIND_SHIFT,
        );
        r.name = &name;
        r.file = &file;
        let (info, whole) = captured(&r).expect("captured");
        assert_eq!(
            (info.name.as_str(), info.filename.as_str(), whole),
            ("π", "café.py", true)
        );
    }

    #[test]
    fn the_init_shim_is_hidden() {
        let (mut s, mem) = symbols(13, &OLD);
        mem.set(FakeMemory::new());
        let mut p = profile();
        // _Py_InitCleanup: `__init__` in `__init__`, first line 0, one
        // "no location" entry.
        let mut shim = report(0x5000, 9, "__init__", "__init__", ASCII_BOTH);
        shim.header.firstlineno = 0;
        shim.table = &[0xfb];
        s.learn(&shim);
        s.learn(&report(CODE, 77, "Acc.__init__", "app.py", ASCII_BOTH));
        assert_eq!(s.frame(&frame(0x5000, 1, 9), &mut p), None);
        let mut out = Vec::new();
        s.stack(
            &[frame(CODE, 0, 77), frame(0x5000, 1, 9), frame(CODE, 0, 77)],
            0,
            &mut p,
            &mut out,
        );
        assert_eq!(out.len(), 2, "the shim left out, the rest kept");
        // A real `__init__` method of a file called `__init__` is shown.
        s.learn(&report(0x6000, 10, "__init__", "__init__", ASCII_BOTH));
        assert!(s.frame(&frame(0x6000, 0, 10), &mut p).is_some());
    }

    #[test]
    fn the_code_cache_is_bounded() {
        // A process that shows the kernel ever new fingerprints at one
        // address (none of which match): each is read once, then evicted.
        let (mut s, shared) = symbols(12, &OLD);
        // The read budget is another test's; here only the cache bound acts.
        s.budget = ReadBudget::with_limits(Instant::now(), u32::MAX, u64::MAX);
        let mut p = profile();
        let extra = 10;
        for i in 0..(CODE_CACHE + extra) as u32 {
            s.frame(&frame(CODE, 0, 0x8000_0000 | i), &mut p);
        }
        assert_eq!(s.cached(), (CODE_CACHE, 0));
        assert_eq!(s.evictions, extra as u64);
        assert_eq!(s.failures, (CODE_CACHE + extra) as u64);
        assert!(shared.reads() > 0);
    }
}
