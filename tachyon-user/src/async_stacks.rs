//! `--async-aware`: a sample's stack as asyncio sees it (3.14+).
//!
//! The kernel sends, with each sample of a thread running an asyncio task,
//! the task (`asyncio_running_task` of the thread state) and which of the
//! sample's frames is the task's coroutine (the frame embedded in the
//! coroutine object, met in the walk). The frames from the leaf down to
//! that one stay; the frames below it, the event loop's own (`run_forever`,
//! `_run_once`, `Handle._run`, the task step), give way to the task and the
//! chain of tasks awaiting it, each a `<name> (<task>)` frame preceded, for
//! the awaiting ones, by the frames of their suspended coroutines, as in
//! CPython's own profiler (`profiling.sampling --async-aware`):
//!
//! ```text
//! Task-1 (<task>);main (app.py:30);heavy (<task>);worker (app.py:12);burn (app.py:5)
//! ```
//!
//! A task's chain is read from the process once and kept for
//! [`CHAIN_TTL`] (tasks are freed and their addresses reused, and who
//! awaits a task changes), at most [`MAX_CHAINS`] of them per process.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use crate::profile::{FrameId, FrameInfo, FrameKind};
use crate::python::asyncio_offsets::AsyncLayout;

/// `--async-mode`: which tasks a profile shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AsyncMode {
    /// The task running when the sample was taken, under the tasks
    /// awaiting it.
    #[default]
    Running,
    /// Also the tasks that wait (their suspended coroutines).
    All,
}

/// The file name of a task's frame (Tachyon's).
pub const TASK_FILE: &str = "<task>";
/// How long a task's chain is used before it is read again.
pub const CHAIN_TTL: Duration = Duration::from_millis(200);
/// Chains kept per process.
pub const MAX_CHAINS: usize = 4096;

/// The frame that stands for task `name`.
pub fn task_frame(name: &str) -> FrameInfo {
    FrameInfo {
        name: name.to_string(),
        file: TASK_FILE.to_string(),
        line: 0,
        first_line: 0,
        kind: FrameKind::Marker,
        instr: None,
    }
}

/// Cuts `ids` (a sample's frames, leaf first) after the task's coroutine
/// frame (1-based index `task_frame` as the kernel sent it) and puts the
/// task chain below it. False, and `ids` unchanged, when the index is not
/// one of the frames.
pub fn splice(ids: &mut Vec<FrameId>, task_frame: u32, chain: &[FrameId]) -> bool {
    let k = task_frame as usize;
    if k == 0 || k > ids.len() {
        return false;
    }
    ids.truncate(k);
    ids.extend_from_slice(chain);
    true
}

/// What `--async-aware` saw, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncStats {
    /// Samples shown under their task.
    pub in_tasks: u64,
    /// Samples with a running task whose coroutine frame was not among
    /// their frames (shown as they are).
    pub no_task_frame: u64,
    /// Samples whose running task could not be read (shown as they are).
    pub unreadable: u64,
    /// `--async-mode all`: stacks of waiting tasks booked.
    pub waiting: u64,
}

impl std::ops::AddAssign for AsyncStats {
    fn add_assign(&mut self, o: Self) {
        self.in_tasks += o.in_tasks;
        self.no_task_frame += o.no_task_frame;
        self.unreadable += o.unreadable;
        self.waiting += o.waiting;
    }
}

struct Chain {
    read_at: Instant,
    /// Leaf first; `None`: the task could not be read.
    ids: Option<Vec<FrameId>>,
}

/// `--async-mode all`: the tasks of a process that wait, at one look.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitingTasks {
    /// Each task's stack, leaf first, with the thread id of the thread
    /// whose list holds it.
    pub stacks: Vec<(u32, Vec<FrameId>)>,
    /// The time since the previous look, which each of them weighs.
    pub since: Duration,
}

/// Threads remembered per process (thread state → thread id).
pub const MAX_THREADS: usize = 4096;

/// The task chains of one process.
pub struct AsyncTasks {
    pub layout: AsyncLayout,
    chains: HashMap<u64, Chain>,
    pub stats: AsyncStats,
    /// Thread state → thread id, from the samples (`--async-mode all`
    /// books a waiting task on the thread whose list holds it).
    threads: HashMap<u64, u32>,
    /// When its waiting tasks were last booked (or the layout learned).
    pub walked_at: Instant,
}

impl AsyncTasks {
    pub fn new(layout: AsyncLayout) -> Self {
        Self {
            layout,
            chains: HashMap::default(),
            stats: AsyncStats::default(),
            threads: HashMap::default(),
            walked_at: Instant::now(),
        }
    }

    /// Thread `tid` has the thread state `tstate`.
    pub fn note_thread(&mut self, tstate: u64, tid: u32) {
        if self.threads.len() >= MAX_THREADS && !self.threads.contains_key(&tstate) {
            self.threads.clear();
        }
        self.threads.insert(tstate, tid);
    }

    /// The thread id of the thread state `tstate`, if a sample showed it.
    pub fn thread_of(&self, tstate: u64) -> Option<u32> {
        self.threads.get(&tstate).copied()
    }

    /// The chain of `task` if it was read less than [`CHAIN_TTL`] ago
    /// (`Some(None)`: it could not be read then).
    pub fn cached(&self, task: u64, now: Instant) -> Option<Option<&[FrameId]>> {
        let c = self.chains.get(&task)?;
        (now.duration_since(c.read_at) < CHAIN_TTL).then_some(c.ids.as_deref())
    }

    /// Keeps the chain of `task` read at `now`.
    pub fn keep(&mut self, task: u64, now: Instant, ids: Option<Vec<FrameId>>) {
        if self.chains.len() >= MAX_CHAINS {
            self.chains
                .retain(|_, c| now.duration_since(c.read_at) < CHAIN_TTL);
            if self.chains.len() >= MAX_CHAINS {
                self.chains.clear();
            }
        }
        self.chains.insert(task, Chain { read_at: now, ids });
    }

    /// Forgets every chain (their frame ids are stale after a compaction).
    pub fn forget_frames(&mut self) {
        self.chains.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_below_the_coroutine_frame_gives_way_to_the_chain() {
        // Leaf first: burn, worker (the task's coroutine, 2nd), Handle._run,
        // _run_once, run_forever.
        let mut ids = vec![1, 2, 3, 4, 5];
        assert!(splice(&mut ids, 2, &[100, 7, 101]));
        assert_eq!(ids, [1, 2, 100, 7, 101]);
        let mut ids = vec![1, 2, 3];
        assert!(!splice(&mut ids, 0, &[100]));
        assert!(!splice(&mut ids, 4, &[100]));
        assert_eq!(ids, [1, 2, 3]);
        assert!(splice(&mut ids, 3, &[100]));
        assert_eq!(ids, [1, 2, 3, 100]);
    }

    #[test]
    fn chains_expire_and_stay_bounded() {
        use crate::python::asyncio_offsets::{AsyncioOffsets, CoroutineOffsets};
        let zero = AsyncLayout {
            asyncio: AsyncioOffsets {
                task_size: 8,
                task_name: 0,
                task_awaited_by: 0,
                task_is_task: 0,
                task_awaited_by_is_set: 0,
                task_coro: 0,
                task_node: 0,
                interp_tasks_head: 0,
                tstate_running_loop: 0,
                tstate_running_task: 0,
                tstate_tasks_head: 0,
            },
            coroutines: CoroutineOffsets {
                gen_iframe: 0,
                frame_stackpointer: 0,
                type_tp_flags: 0,
                set_used: 0,
                set_table: 0,
                set_mask: 0,
                long_lv_tag: 0,
                long_ob_digit: 0,
            },
        };
        let mut t = AsyncTasks::new(zero);
        let t0 = Instant::now();
        t.keep(0x10, t0, Some(vec![1, 2]));
        t.keep(0x20, t0, None);
        assert_eq!(t.cached(0x10, t0), Some(Some(&[1, 2][..])));
        assert_eq!(t.cached(0x20, t0), Some(None));
        assert_eq!(t.cached(0x10, t0 + CHAIN_TTL), None, "expired");
        for i in 0..(MAX_CHAINS as u64 + 10) {
            t.keep(0x1000 + i, t0, None);
        }
        assert!(t.chains.len() <= MAX_CHAINS);
        t.forget_frames();
        assert_eq!(t.cached(0x10, t0), None);
    }
}
