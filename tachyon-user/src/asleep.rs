//! Threads already asleep when a process begins to be profiled (wall mode).
//!
//! The kernel weighs a thread's time off CPU from its switch-out to its
//! switch-in; a thread that went to sleep before the process was tracked
//! never switched out under us, so without help it would count only from
//! its first wake-up, and not at all if it never wakes. For every thread of
//! the process that is not running, this reads its stack with the userspace
//! walker ([`crate::python::walker`], the kernel walker's rules) and finds
//! which kernel thread it is; the engine books it as a departure at the
//! moment of attach and asks the kernel to report the thread's switch-in.
//!
//! Which thread state is which kernel thread: `native_thread_id` where the
//! thread state holds it (3.11+), else glibc's `struct pthread` (whose
//! address is the thread state's `thread_id`) at its `tid` field. Either
//! answer must name a thread of this process, else it is not used.

use std::collections::HashSet;

use tachyon_common::{
    MAX_OFF_CPU_FRAMES, SAMPLE_OFF_CPU, SAMPLE_TRUNCATED, SAMPLE_UNINTERRUPTIBLE,
};

use crate::procfs::Task;
use crate::python::layout::Layout;
use crate::python::memory::RemoteMemory;
use crate::python::walker::{walk_process_up_to, ThreadStack};

/// glibc on x86_64: `offsetof(struct pthread, tid)` (nptl/descr.h; the
/// same since glibc 2.x began, and what `libthread_db` reads), relative to
/// `pthread_self()`.
pub const GLIBC_PTHREAD_TID: u64 = 0x2d0;

/// One thread found asleep, with its stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asleep {
    pub tid: u32,
    /// `SAMPLE_*` flags of the departure: off CPU, uninterruptible for a
    /// `D` thread, truncated when the walk stopped early.
    pub flags: u32,
    /// The CPU it last ran on.
    pub cpu: u32,
    pub stack: ThreadStack,
}

/// What a look at one process's sleeping threads found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    pub asleep: Vec<Asleep>,
    /// Python threads whose stack could not be read or whose kernel thread
    /// could not be told (and, when the process's memory could not be
    /// walked at all, every thread that was asleep).
    pub unread: u64,
}

/// A thread is a candidate when it is not running or runnable (`R`) and
/// not dead (`Z`, `X`).
pub fn is_asleep(t: &Task) -> bool {
    is_asleep_state(t.state)
}

/// [`is_asleep`] of a `stat` state letter.
pub fn is_asleep_state(state: char) -> bool {
    !matches!(state, 'R' | 'Z' | 'X' | 'x')
}

/// The kernel thread of a thread state, among `tids` (the process's).
pub fn tid_of(mem: &dyn RemoteMemory, t: &ThreadStack, tids: &HashSet<u32>) -> Option<u32> {
    if let Ok(native) = u32::try_from(t.native_id) {
        if tids.contains(&native) {
            return Some(native);
        }
    }
    let tid = mem
        .read_u32(t.thread_id.checked_add(GLIBC_PTHREAD_TID)?)
        .ok()?;
    tids.contains(&tid).then_some(tid)
}

/// Reads the stacks of the threads of `tasks` (one process's, whose
/// `_PyRuntime` is at `runtime`) that are asleep.
pub fn survey(mem: &dyn RemoteMemory, layout: &Layout, runtime: u64, tasks: &[Task]) -> Survey {
    let sleeping: Vec<&Task> = tasks.iter().filter(|t| is_asleep(t)).collect();
    if sleeping.is_empty() {
        return Survey::default();
    }
    // The kernel's off-CPU captures keep this many frames; so do these.
    let stacks = match walk_process_up_to(mem, layout, runtime, MAX_OFF_CPU_FRAMES) {
        Ok(s) => s,
        Err(e) => {
            log::debug!("cannot walk the threads: {e}");
            return Survey {
                asleep: Vec::new(),
                unread: sleeping.len() as u64,
            };
        }
    };
    let tids: HashSet<u32> = tasks.iter().map(|t| t.tid).collect();
    let mut out = Survey::default();
    let mut taken = HashSet::new();
    for stack in stacks {
        let Some(tid) = tid_of(mem, &stack, &tids) else {
            out.unread += 1;
            continue;
        };
        let Some(task) = sleeping.iter().find(|t| t.tid == tid) else {
            continue;
        };
        if !taken.insert(tid) {
            // Two thread states claim one thread: believe neither again.
            out.unread += 1;
            continue;
        }
        let mut flags = SAMPLE_OFF_CPU;
        if task.state == 'D' {
            flags |= SAMPLE_UNINTERRUPTIBLE;
        }
        if stack.truncated {
            flags |= SAMPLE_TRUNCATED;
        }
        out.asleep.push(Asleep {
            tid,
            flags,
            cpu: task.cpu,
            stack,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::layout_for;
    use crate::python::memory::FakeMemory;

    fn task(tid: u32, state: char) -> Task {
        Task { tid, state, cpu: 1 }
    }

    /// A 3.10 process (no `native_thread_id`): three thread states whose
    /// `struct pthread`s name tids 100 (asleep), 101 (running) and 999
    /// (not one of the process's threads).
    #[test]
    fn sleeping_threads_are_found_through_their_pthread() {
        let l = *layout_for(10).expect("3.10");
        let k = l.kernel;
        let (rt, interp) = (0x1000u64, 0x10_0000u64);
        let ts = [0x20_0000u64, 0x21_0000, 0x22_0000];
        let pthreads = [0x7f00_0000_0000u64, 0x7f00_0010_0000, 0x7f00_0020_0000];
        let mut mem = FakeMemory::new()
            .with(rt, &[0; 2048])
            .with(interp, &[0; 4096]);
        for (i, (&t, &p)) in ts.iter().zip(&pthreads).enumerate() {
            mem = mem.with(t, &[0; 1024]).with(p, &[0; 1024]);
            mem.put_u64(t + k.tstate_thread_id as u64, p);
            if let Some(&next) = ts.get(i + 1) {
                mem.put_u64(t + k.tstate_next as u64, next);
            }
        }
        mem.put_u64(rt + k.runtime_interp_head as u64, interp)
            .put_u64(interp + k.interp_threads_head as u64, ts[0])
            .put(pthreads[0] + GLIBC_PTHREAD_TID, &100u32.to_le_bytes())
            .put(pthreads[1] + GLIBC_PTHREAD_TID, &101u32.to_le_bytes())
            .put(pthreads[2] + GLIBC_PTHREAD_TID, &999u32.to_le_bytes());
        let tasks = [task(100, 'D'), task(101, 'R'), task(102, 'S')];
        let s = survey(&mem, &l, rt, &tasks);
        assert_eq!(s.asleep.len(), 1, "{s:?}");
        assert_eq!(s.asleep[0].tid, 100);
        assert_eq!(s.asleep[0].stack.tstate, ts[0]);
        assert_eq!(
            s.asleep[0].flags,
            SAMPLE_OFF_CPU | SAMPLE_UNINTERRUPTIBLE,
            "D: uninterruptible"
        );
        // Tid 102 has no thread state (not a Python thread): not unread;
        // the state naming 999 is.
        assert_eq!(s.unread, 1);

        // Nobody asleep: no walk at all (an unreadable process is fine).
        let s = survey(&FakeMemory::new(), &l, rt, &[task(100, 'R')]);
        assert_eq!(s, Survey::default());
        // Asleep but unreadable: each sleeping thread is unread.
        let s = survey(&FakeMemory::new(), &l, rt, &[task(100, 'S'), task(7, 'Z')]);
        assert_eq!((s.asleep.len(), s.unread), (0, 1));
    }

    /// 3.11+: `native_thread_id` names the thread; a value that is not one
    /// of the process's threads falls back to the pthread, then gives up.
    #[test]
    fn native_thread_ids_come_first() {
        let l = *layout_for(12).expect("3.12");
        let native = l.native_thread_id.expect("3.12 has native_thread_id") as u64;
        let ts = 0x20_0000u64;
        let pthread = 0x7f00_0000_0000u64;
        let mut mem = FakeMemory::new()
            .with(ts, &[0; 1024])
            .with(pthread, &[0; 1024]);
        mem.put_u64(ts + l.kernel.tstate_thread_id as u64, pthread)
            .put_u64(ts + native, 300)
            .put(pthread + GLIBC_PTHREAD_TID, &301u32.to_le_bytes());
        let t = crate::python::walker::walk_thread(&mem, &l, ts).expect("walk");
        assert_eq!(t.native_id, 300);
        let tids = |v: &[u32]| v.iter().copied().collect::<HashSet<u32>>();
        assert_eq!(tid_of(&mem, &t, &tids(&[300, 301])), Some(300));
        assert_eq!(tid_of(&mem, &t, &tids(&[301])), Some(301));
        assert_eq!(tid_of(&mem, &t, &tids(&[5])), None);
    }

    #[test]
    fn running_and_dead_threads_are_not_asleep() {
        for (state, asleep) in [
            ('R', false),
            ('Z', false),
            ('X', false),
            ('S', true),
            ('D', true),
            ('T', true),
            ('t', true),
            ('I', true),
        ] {
            assert_eq!(is_asleep(&task(1, state)), asleep, "{state}");
        }
    }
}
