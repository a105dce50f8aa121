//! The names of one process's threads as the run learns them: `threading`'s
//! names ([`crate::python::thread_names`]) by the kernel's thread id, kept
//! once learnt (a thread that exits keeps its name), read again when a
//! thread with no name shows up, at most every [`MIN_INTERVAL`] and less
//! often while reads learn nothing (up to [`MAX_INTERVAL`]); the caller
//! also asks on a timer ([`ThreadBook::due`]), for threads that block
//! without a further sample. A process
//! whose reader cannot be built yet (`threading` not imported, memory not
//! readable at the first try) is retried on the same schedule: a thread
//! left without a name is the caller's to count, never silent.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};

use crate::procfs;
use crate::python::memory::RemoteMemory;
use crate::python::process::PythonProcess;
use crate::python::thread_names::ThreadNameReader;

/// Reads of one process at most this often.
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
/// While reads learn nothing new, they back off up to this interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(2);
/// Names kept per process (least recently used go first).
const MAX_NAMES: usize = 8192;
/// Threads without a name remembered per process.
const MAX_UNKNOWN: usize = 8192;
/// What `threading` calls the main thread.
pub const MAIN_THREAD: &str = "MainThread";

/// Thread names of one process.
pub struct ThreadBook {
    pid: u32,
    reader: Option<ThreadNameReader>,
    /// Names by thread id as the process's pid namespace numbers threads.
    names: LruCache<u32, String, FxBuildHasher>,
    /// The process runs in another pid namespace: kernel thread id → its
    /// id there (`None`: same namespace, ids are equal).
    ns_tids: Option<HashMap<u32, u32>>,
    /// The last read found no `threading` module: the main thread is
    /// `MainThread`, as `threading` will call it.
    threading_absent: bool,
    /// Threads seen without a name.
    unknown: HashMap<u32, ()>,
    last_read: Option<Instant>,
    interval: Duration,
    /// Reads done, and those that failed (last reason kept).
    pub reads: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

impl ThreadBook {
    pub fn new(pid: u32) -> Self {
        // A process in a pid namespace of its own (a container) numbers
        // its threads there.
        let ns_tids = procfs::ns_pid(pid)
            .filter(|&ns| ns != pid)
            .map(|_| HashMap::default());
        Self {
            pid,
            reader: None,
            names: LruCache::with_hasher(
                NonZeroUsize::new(MAX_NAMES).unwrap_or(NonZeroUsize::MIN),
                FxBuildHasher,
            ),
            ns_tids,
            threading_absent: false,
            unknown: HashMap::default(),
            last_read: None,
            interval: MIN_INTERVAL,
            reads: 0,
            failures: 0,
            last_error: None,
        }
    }

    /// The thread's id as its process numbers it.
    fn own_tid(&mut self, tid: u32) -> Option<u32> {
        let pid = self.pid;
        match self.ns_tids.as_mut() {
            None => Some(tid),
            Some(map) => {
                if let Some(&ns) = map.get(&tid) {
                    return Some(ns);
                }
                let ns = procfs::ns_tid(pid, tid)?;
                if map.len() >= MAX_NAMES {
                    map.clear();
                }
                map.insert(tid, ns);
                Some(ns)
            }
        }
    }

    /// The name learnt for the kernel's thread `tid`.
    pub fn name(&self, tid: u32) -> Option<&str> {
        let own = match &self.ns_tids {
            None => tid,
            Some(map) => *map.get(&tid)?,
        };
        if let Some(n) = self.names.peek(&own) {
            return Some(n);
        }
        (tid == self.pid && self.threading_absent).then_some(MAIN_THREAD)
    }

    /// A sample of thread `tid` at `now`: reads the names again if the
    /// thread has none and the schedule allows. True when names changed.
    pub fn observe(
        &mut self,
        mem: &dyn RemoteMemory,
        proc: &PythonProcess,
        tid: u32,
        now: Instant,
    ) -> bool {
        if self.name(tid).is_some() {
            return false;
        }
        if !self.unknown.contains_key(&tid) {
            // A thread not seen before: read soon, whatever the back-off.
            if self.unknown.len() >= MAX_UNKNOWN {
                self.unknown.clear();
            }
            self.unknown.insert(tid, ());
            self.interval = MIN_INTERVAL;
            // Its id in the process's namespace, while it still runs.
            let _ = self.own_tid(tid);
        }
        if self
            .last_read
            .is_some_and(|t| now.saturating_duration_since(t) < self.interval)
        {
            return false;
        }
        self.refresh(mem, proc, now)
    }

    /// Reads the names now. True when names changed.
    pub fn refresh(&mut self, mem: &dyn RemoteMemory, proc: &PythonProcess, now: Instant) -> bool {
        self.last_read = Some(now);
        self.reads += 1;
        let learnt = self.read(mem, proc);
        let changed = match learnt {
            Ok(changed) => changed,
            Err(e) => {
                self.failures += 1;
                log::debug!("pid {}: thread names: {e}", self.pid);
                self.last_error = Some(e);
                false
            }
        };
        self.interval = if changed {
            MIN_INTERVAL
        } else {
            (self.interval * 2).min(MAX_INTERVAL)
        };
        changed
    }

    fn read(&mut self, mem: &dyn RemoteMemory, proc: &PythonProcess) -> Result<bool, String> {
        if self.reader.is_none() {
            let r = ThreadNameReader::new(mem, &proc.layout, proc.runtime_addr)
                .map_err(|e| e.to_string())?;
            self.reader = Some(r);
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(false);
        };
        let found = reader.read(mem).map_err(|e| e.to_string())?;
        log::trace!(
            "pid {}: {} thread names read (threading {}), unnamed before: {:?}",
            self.pid,
            found.threads.len(),
            if found.threading_loaded {
                "imported"
            } else {
                "not imported"
            },
            self.unknown.keys().collect::<Vec<_>>()
        );
        let mut changed = self.threading_absent == found.threading_loaded;
        self.threading_absent = !found.threading_loaded;
        for t in found.threads {
            let Some(id) = t.native_id else { continue };
            if self.names.peek(&id) != Some(&t.name) {
                self.names.put(id, t.name);
                changed = true;
            }
        }
        if changed {
            let named: Vec<u32> = self
                .unknown
                .keys()
                .copied()
                .filter(|&tid| self.name(tid).is_some())
                .collect();
            for tid in named {
                self.unknown.remove(&tid);
            }
        }
        if !found.threading_loaded {
            self.last_error = Some("threading is not imported".into());
        }
        Ok(changed)
    }

    /// Threads without a name wait and the schedule allows a read at
    /// `now` (a thread that blocks gets no sample to ask again with).
    pub fn due(&self, now: Instant) -> bool {
        !self.unknown.is_empty()
            && self
                .last_read
                .is_none_or(|t| now.saturating_duration_since(t) >= self.interval)
    }

    /// Why names could not be read last time, if they could not.
    pub fn why_unread(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::layout_for;
    use crate::python::memory::FakeMemory;

    fn process(minor: u32) -> PythonProcess {
        PythonProcess {
            pid: 0,
            comm: "python3".into(),
            version: format!("3.{minor}"),
            layout: *layout_for(minor).expect("row"),
            runtime_addr: 0x1000,
            code_type: 0,
            none_addr: 0,
            binary: String::new(),
        }
    }

    /// Memory that holds nothing: every read fails, and is counted; reads
    /// follow the schedule, a new thread brings the next one forward.
    #[test]
    fn failed_reads_are_counted_and_rate_limited() {
        for minor in [9, 12, 13] {
            // pid 0: no /proc entry, so no namespace translation.
            let mut book = ThreadBook::new(0);
            let (mem, proc) = (FakeMemory::new(), process(minor));
            let t0 = Instant::now();
            assert!(!book.observe(&mem, &proc, 7, t0));
            assert_eq!((book.reads, book.failures), (1, 1), "3.{minor}");
            assert!(book.why_unread().is_some());
            // The same thread again, too soon: no read (next after 40 ms).
            assert!(!book.observe(&mem, &proc, 7, t0 + MIN_INTERVAL));
            assert_eq!(book.reads, 1);
            assert!(!book.observe(&mem, &proc, 7, t0 + MIN_INTERVAL * 2));
            assert_eq!(book.reads, 2);
            // Backed off to 80 ms.
            assert!(!book.observe(&mem, &proc, 7, t0 + MIN_INTERVAL * 4));
            assert_eq!(book.reads, 2);
            // A thread not seen before: read at the shortest interval.
            assert!(!book.observe(&mem, &proc, 8, t0 + MIN_INTERVAL * 4));
            assert_eq!(book.reads, 3);
            assert_eq!(book.name(7), None);
        }
    }

    #[test]
    fn back_off_is_bounded() {
        let mut book = ThreadBook::new(0);
        let (mem, proc) = (FakeMemory::new(), process(12));
        let mut t = Instant::now();
        for _ in 0..20 {
            book.refresh(&mem, &proc, t);
            t += MAX_INTERVAL;
        }
        assert_eq!(book.interval, MAX_INTERVAL);
        assert_eq!(book.failures, 20);
    }
}
