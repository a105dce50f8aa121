//! Stack assembly: one sample's Python frames, native frames, kernel frames
//! and flags become one interned stack, root first; off-CPU stacks wait for
//! their thread to run again to get their weight.
//!
//! Pure: no `/proc`, no BPF. Symbols come in already resolved.

use rustc_hash::FxHashMap as HashMap;
use tachyon_common::{
    SAMPLE_IN_GC, SAMPLE_OFF_CPU, SAMPLE_PREEMPTED, SAMPLE_READ_ERROR, SAMPLE_TORN,
    SAMPLE_UNINTERRUPTIBLE,
};

use crate::native::{NativeFrame, NativeStack};
use crate::profile::{FrameId, FrameInfo, FrameKind, Profile, StackId, StackKey, TimedSample};
use crate::symbolize::NATIVE;

/// Shown above the Python leaf when the native walk broke off.
pub const NATIVE_INCOMPLETE: &str = "<native: unwinding stopped (no frame pointers)>";
/// Shown above the leaf while the garbage collector runs.
pub const GC: &str = "<GC>";
/// The whole Python stack of a thread that has a thread state but no
/// Python frame (starting, finishing, or running C only).
pub const NO_PYTHON_FRAME: &str = "<no Python frame>";
/// The whole Python stack of a sample whose first frame could not be read.
pub const STACK_UNREADABLE: &str = "<stack unreadable>";

/// What goes into a stack besides the Python frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblyOptions {
    /// `<GC>` above the leaf while the collector runs.
    pub show_gc: bool,
    /// C frames from the native walk (`--native`).
    pub native_stacks: bool,
    /// Kernel frames (`--kernel`).
    pub kernel_stacks: bool,
}

/// Turns resolved samples into interned stacks.
pub struct Assembler {
    opts: AssemblyOptions,
    native_id: FrameId,
    kernel_frames: HashMap<u64, FrameId>,
    /// Samples whose native walk broke off before the interpreter.
    pub native_incomplete: u64,
}

/// Why a thread was off CPU, from the scheduler state and its kernel stack.
pub fn off_cpu_reason(flags: u32, kernel: &[&str]) -> &'static str {
    if flags & SAMPLE_PREEMPTED != 0 {
        "<off-CPU: waiting for CPU>"
    } else if kernel.iter().any(|f| f.contains("futex")) {
        "<off-CPU: lock>"
    } else if flags & SAMPLE_UNINTERRUPTIBLE != 0 {
        "<off-CPU: I/O>"
    } else {
        "<off-CPU: sleep>"
    }
}

impl Assembler {
    pub fn new(opts: AssemblyOptions, profile: &mut Profile) -> Self {
        Self {
            opts,
            native_id: profile.intern_frame(FrameInfo::marker(NATIVE)),
            kernel_frames: HashMap::default(),
            native_incomplete: 0,
        }
    }

    /// Forgets the frame ids it cached (after [`Profile::compact`]) and
    /// interns its marker again.
    pub fn reset(&mut self, profile: &mut Profile) {
        self.native_id = profile.intern_frame(FrameInfo::marker(NATIVE));
        self.kernel_frames.clear();
    }

    /// The `<native>` marker's frame id.
    pub fn native_marker(&self) -> FrameId {
        self.native_id
    }

    /// The stack of one sample.
    ///
    /// `python` holds the symbolized Python frames leaf first, as the
    /// kernel sent them (it is consumed as scratch space); `native` the
    /// resolved native walk (with `--native`); `kernel` the kernel frames
    /// leaf first with their names (unresolvable addresses left out).
    pub fn assemble(
        &mut self,
        profile: &mut Profile,
        flags: u32,
        python: &mut Vec<FrameId>,
        native: Option<&NativeStack>,
        kernel: &[(u64, &str)],
    ) -> StackId {
        let ids = python;
        // A `<native>` at the root end is the C entry below the first
        // Python frame, not a call into C: drop it.
        while ids.last() == Some(&self.native_id) {
            ids.pop();
        }
        // A stack is never just its process: say why there is no frame.
        if ids.is_empty() {
            let why = if flags & (SAMPLE_READ_ERROR | SAMPLE_TORN) != 0 {
                STACK_UNREADABLE
            } else {
                NO_PYTHON_FRAME
            };
            ids.push(profile.intern_frame(FrameInfo::marker(why)));
        }
        ids.reverse();
        if flags & SAMPLE_IN_GC != 0 && self.opts.show_gc {
            ids.push(profile.intern_frame(FrameInfo::marker(GC)));
        }
        if self.opts.native_stacks {
            if let Some(st) = native {
                self.add_native(profile, st, ids);
            }
        }
        if self.opts.kernel_stacks {
            for &(addr, name) in kernel.iter().rev() {
                let id = *self.kernel_frames.entry(addr).or_insert_with(|| {
                    profile.intern_frame(FrameInfo {
                        name: format!("{name}_[k]"),
                        file: String::new(),
                        line: 0,
                        first_line: 0,
                        kind: FrameKind::Kernel,
                        instr: None,
                    })
                });
                ids.push(id);
            }
        }
        if flags & SAMPLE_OFF_CPU != 0 {
            let names: Vec<&str> = kernel.iter().map(|&(_, n)| n).collect();
            ids.push(profile.intern_frame(FrameInfo::marker(off_cpu_reason(flags, &names))));
        }
        profile.intern_stack(ids)
    }

    /// Merges the native stack into the Python one (root first in `ids`):
    /// each `<native>` marker whose run of C code the frame-pointer walk saw
    /// whole becomes those C frames, and the C code the Python leaf is
    /// running goes above it. A walk that broke off says so above the leaf.
    fn add_native(&mut self, profile: &mut Profile, st: &NativeStack, ids: &mut Vec<FrameId>) {
        let intern = |f: &NativeFrame, profile: &mut Profile| {
            profile.intern_frame(FrameInfo {
                name: f.name.clone(),
                file: f.module.clone(),
                line: 0,
                first_line: 0,
                kind: FrameKind::Native,
                instr: None,
            })
        };
        // Markers from the leaf: k = 1, 2, …
        let markers: Vec<usize> = ids
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, &id)| id == self.native_id)
            .map(|(i, _)| i)
            .collect();
        for (k, &pos) in markers.iter().enumerate() {
            if let Some(frames) = st.at_marker(k + 1).filter(|f| !f.is_empty()) {
                let replaced: Vec<FrameId> =
                    frames.iter().rev().map(|f| intern(f, profile)).collect();
                ids.splice(pos..=pos, replaced);
            }
        }
        if !st.complete {
            self.native_incomplete += 1;
            ids.push(profile.intern_frame(FrameInfo::marker(NATIVE_INCOMPLETE)));
        }
        if let Some(leaf) = st.segments.first() {
            for f in leaf.iter().rev() {
                ids.push(intern(f, profile));
            }
        }
    }
}

/// An off-CPU stack waiting for its thread to run again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    key: StackKey,
    out_ktime: u64,
    flags: u32,
    cpu: u32,
}

/// Off-CPU stacks by thread, weighted by the time until the thread is back.
#[derive(Debug, Default)]
pub struct OffCpuBook {
    /// Kernel time of the start of the profile.
    start_ktime: u64,
    pending: HashMap<u32, Pending>,
}

impl OffCpuBook {
    pub fn new(start_ktime: u64) -> Self {
        Self {
            start_ktime,
            pending: HashMap::default(),
        }
    }

    /// Thread `key.tid` left the CPU at `out_ktime` with this stack. A
    /// previous stack of the same thread whose switch-in was lost (the
    /// kernel counts lost events) is replaced: when the thread came back is
    /// unknown, so it has no weight to give.
    pub fn leave(&mut self, key: StackKey, out_ktime: u64, flags: u32, cpu: u32) {
        self.pending.insert(
            key.tid,
            Pending {
                key,
                out_ktime,
                flags,
                cpu,
            },
        );
    }

    /// Thread `key.tid` was found asleep at `at_ktime`, when its process
    /// began to be profiled (it never left the CPU under us). A departure
    /// the kernel reported for it is never replaced: a real one is newer,
    /// or as old and better informed.
    pub fn seed(&mut self, key: StackKey, at_ktime: u64, flags: u32, cpu: u32) -> bool {
        match self.pending.entry(key.tid) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Pending {
                    key,
                    out_ktime: at_ktime,
                    flags,
                    cpu,
                });
                true
            }
        }
    }

    /// A window ends at `now_ktime`: every thread still away weighs its
    /// time until then in this window, and goes on being away from then on
    /// (a thread asleep across windows weighs in each one).
    pub fn carry(&mut self, now_ktime: u64) -> Vec<TimedSample> {
        let mut out = Vec::with_capacity(self.pending.len());
        for p in self.pending.values_mut() {
            if now_ktime > p.out_ktime {
                out.push(TimedSample {
                    time_ns: p.out_ktime.saturating_sub(self.start_ktime),
                    key: p.key,
                    weight_ns: now_ktime - p.out_ktime,
                    flags: p.flags,
                    cpu: p.cpu,
                });
                p.out_ktime = now_ktime;
            }
        }
        out.sort_by_key(|s| (s.time_ns, s.key));
        out
    }

    /// Thread `tid` runs again at `in_ktime`: its stack, weighted.
    pub fn back(&mut self, tid: u32, in_ktime: u64) -> Option<TimedSample> {
        let p = self.pending.remove(&tid)?;
        Some(self.sample(p, in_ktime))
    }

    /// Every thread still away at the end weighs the time until `now`.
    pub fn drain(&mut self, now_ktime: u64) -> Vec<TimedSample> {
        let mut out: Vec<TimedSample> = std::mem::take(&mut self.pending)
            .into_values()
            .map(|p| self.sample(p, now_ktime))
            .collect();
        out.sort_by_key(|s| (s.time_ns, s.key));
        out
    }

    /// Drops the stacks of a process that is gone (its threads will not
    /// switch back in); they weigh the time until `now_ktime`.
    pub fn forget_process(&mut self, pid: u32, now_ktime: u64) -> Vec<TimedSample> {
        let tids: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.key.pid == pid)
            .map(|(&t, _)| t)
            .collect();
        let gone: Vec<Pending> = tids
            .into_iter()
            .filter_map(|t| self.pending.remove(&t))
            .collect();
        let mut out: Vec<TimedSample> = gone
            .into_iter()
            .map(|p| self.sample(p, now_ktime))
            .collect();
        out.sort_by_key(|s| (s.time_ns, s.key));
        out
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// The stacks the waiting threads hold.
    pub fn stacks(&self) -> Vec<StackId> {
        self.pending.values().map(|p| p.key.stack).collect()
    }

    /// Renumbers the waiting stacks (after [`Profile::compact`]); a stack
    /// the map lacks is dropped with its thread's wait.
    pub fn remap(&mut self, map: &HashMap<StackId, StackId>) {
        self.pending.retain(|_, p| match map.get(&p.key.stack) {
            Some(&s) => {
                p.key.stack = s;
                true
            }
            None => false,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn sample(&self, p: Pending, until_ktime: u64) -> TimedSample {
        TimedSample {
            time_ns: p.out_ktime.saturating_sub(self.start_ktime),
            key: p.key,
            weight_ns: until_ktime.saturating_sub(p.out_ktime),
            flags: p.flags,
            cpu: p.cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_common::SAMPLE_ON_CPU;

    fn py(profile: &mut Profile, name: &str, line: u32) -> FrameId {
        profile.intern_frame(FrameInfo::python(name, "app.py", line, 1))
    }

    fn labels(profile: &Profile, stack: StackId) -> Vec<String> {
        profile.stacks[stack as usize]
            .iter()
            .map(|&f| profile.frames[f as usize].label())
            .collect()
    }

    fn native(name: &str) -> NativeFrame {
        NativeFrame {
            name: name.into(),
            module: "lib.so".into(),
            is_eval: false,
        }
    }

    #[test]
    fn python_frames_come_root_first_and_the_root_native_entry_is_dropped() {
        let mut p = Profile::default();
        let mut a = Assembler::new(AssemblyOptions::default(), &mut p);
        let nat = a.native_marker();
        let (main, work) = (py(&mut p, "main", 10), py(&mut p, "work", 20));
        // Leaf first from the kernel: work, <native>, main, <native> (entry).
        let mut frames = vec![work, nat, main, nat];
        let s = a.assemble(&mut p, SAMPLE_ON_CPU, &mut frames, None, &[]);
        assert_eq!(
            labels(&p, s),
            ["main (app.py:10)", "<native>", "work (app.py:20)"]
        );
    }

    #[test]
    fn gc_marker_only_when_shown() {
        let mut p = Profile::default();
        let f = py(&mut p, "f", 3);
        let opts = AssemblyOptions {
            show_gc: true,
            ..Default::default()
        };
        let mut a = Assembler::new(opts, &mut p);
        let s = a.assemble(&mut p, SAMPLE_IN_GC, &mut vec![f], None, &[]);
        assert_eq!(labels(&p, s), ["f (app.py:3)", "<GC>"]);
        let mut hidden = Assembler::new(AssemblyOptions::default(), &mut p);
        let s = hidden.assemble(&mut p, SAMPLE_IN_GC, &mut vec![f], None, &[]);
        assert_eq!(labels(&p, s), ["f (app.py:3)"]);
    }

    #[test]
    fn kernel_frames_go_above_the_leaf_only_with_kernel_stacks() {
        let mut p = Profile::default();
        let f = py(&mut p, "f", 3);
        let kernel = [(0xffff_0001, "vfs_write"), (0xffff_0002, "ksys_write")];
        let opts = AssemblyOptions {
            kernel_stacks: true,
            ..Default::default()
        };
        let mut a = Assembler::new(opts, &mut p);
        let s = a.assemble(&mut p, SAMPLE_ON_CPU, &mut vec![f], None, &kernel);
        assert_eq!(
            labels(&p, s),
            ["f (app.py:3)", "ksys_write_[k]", "vfs_write_[k]"]
        );
        let mut off = Assembler::new(AssemblyOptions::default(), &mut p);
        let s = off.assemble(&mut p, SAMPLE_ON_CPU, &mut vec![f], None, &kernel);
        assert_eq!(labels(&p, s), ["f (app.py:3)"]);
    }

    #[test]
    fn off_cpu_stacks_end_in_their_reason() {
        let mut p = Profile::default();
        let f = py(&mut p, "f", 3);
        let mut a = Assembler::new(AssemblyOptions::default(), &mut p);
        let cases = [
            (
                SAMPLE_OFF_CPU | SAMPLE_PREEMPTED,
                vec![],
                "<off-CPU: waiting for CPU>",
            ),
            (
                SAMPLE_OFF_CPU | SAMPLE_UNINTERRUPTIBLE,
                vec![],
                "<off-CPU: I/O>",
            ),
            (
                SAMPLE_OFF_CPU,
                vec![(1, "futex_wait_queue")],
                "<off-CPU: lock>",
            ),
            (
                SAMPLE_OFF_CPU,
                vec![(1, "do_nanosleep")],
                "<off-CPU: sleep>",
            ),
        ];
        for (flags, kernel, reason) in cases {
            let s = a.assemble(&mut p, flags, &mut vec![f], None, &kernel);
            assert_eq!(labels(&p, s), ["f (app.py:3)", reason], "flags {flags:#x}");
        }
    }

    /// Python `callback` called from C called from `main`, with `--native`,
    /// and the native walk `st`: the labels of the stack.
    fn callback_through_c(st: &NativeStack) -> (Vec<String>, u64) {
        let mut p = Profile::default();
        let opts = AssemblyOptions {
            native_stacks: true,
            ..Default::default()
        };
        let mut a = Assembler::new(opts, &mut p);
        let nat = a.native_marker();
        let (main, cb) = (py(&mut p, "main", 1), py(&mut p, "callback", 2));
        let s = a.assemble(
            &mut p,
            SAMPLE_ON_CPU,
            &mut vec![cb, nat, main],
            Some(st),
            &[],
        );
        (labels(&p, s), a.native_incomplete)
    }

    #[test]
    fn native_runs_replace_their_markers_and_the_leaf_code_goes_on_top() {
        // Python: callback <- <native> <- main; the native walk (leaf
        // first): the leaf's C code, eval, qsort's run, eval.
        let st = NativeStack {
            segments: vec![
                vec![native("memcpy")],
                vec![native("cmp_trampoline"), native("qsort")],
                vec![],
            ],
            evals: 2,
            complete: true,
        };
        let (labels, incomplete) = callback_through_c(&st);
        assert_eq!(
            labels,
            [
                "main (app.py:1)",
                "qsort (lib.so)",
                "cmp_trampoline (lib.so)",
                "callback (app.py:2)",
                "memcpy (lib.so)"
            ]
        );
        assert_eq!(incomplete, 0);
    }

    #[test]
    fn a_broken_native_walk_keeps_the_marker_and_says_so() {
        let st = NativeStack {
            segments: vec![vec![native("ffi_call")]],
            evals: 0,
            complete: false,
        };
        let (labels, incomplete) = callback_through_c(&st);
        assert_eq!(
            labels,
            [
                "main (app.py:1)",
                "<native>",
                "callback (app.py:2)",
                NATIVE_INCOMPLETE,
                "ffi_call (lib.so)"
            ]
        );
        assert_eq!(incomplete, 1);
    }

    fn key(pid: u32, tid: u32, stack: StackId) -> StackKey {
        StackKey { pid, tid, stack }
    }

    #[test]
    fn off_cpu_time_is_weighed_when_the_thread_is_back() {
        let mut book = OffCpuBook::new(1_000);
        book.leave(key(1, 11, 0), 5_000, SAMPLE_OFF_CPU, 0);
        assert!(book.back(12, 6_000).is_none(), "another thread");
        let s = book.back(11, 9_500).expect("pending");
        assert_eq!((s.time_ns, s.weight_ns, s.key.tid), (4_000, 4_500, 11));
        assert!(book.back(11, 10_000).is_none(), "counted once");
    }

    #[test]
    fn a_lost_switch_in_leaves_only_the_newest_departure() {
        let mut book = OffCpuBook::new(0);
        book.leave(key(1, 11, 0), 100, SAMPLE_OFF_CPU, 0);
        book.leave(key(1, 11, 1), 400, SAMPLE_OFF_CPU, 0);
        assert_eq!(book.len(), 1);
        let s = book.back(11, 1_000).expect("pending");
        assert_eq!((s.key.stack, s.weight_ns), (1, 600));
    }

    #[test]
    fn a_seed_never_replaces_a_departure_and_is_replaced_by_the_next() {
        let mut book = OffCpuBook::new(0);
        // The kernel saw the thread leave at 100 before the seed at 150
        // was booked: the kernel's departure stays.
        book.leave(key(1, 11, 0), 100, SAMPLE_OFF_CPU, 0);
        assert!(!book.seed(key(1, 11, 9), 150, SAMPLE_OFF_CPU, 0));
        assert_eq!(
            book.back(11, 1_000).map(|s| (s.key.stack, s.weight_ns)),
            Some((0, 900))
        );
        // Seeded, then back: weighed from the seed.
        assert!(book.seed(key(1, 12, 9), 150, SAMPLE_OFF_CPU, 0));
        assert_eq!(book.back(12, 1_000).map(|s| s.weight_ns), Some(850));
        // Seeded, but it woke before the kernel was told to report it
        // (no switch-in) and left again: that departure replaces the seed,
        // which weighs nothing, so nothing is counted twice.
        assert!(book.seed(key(1, 13, 9), 150, SAMPLE_OFF_CPU, 0));
        book.leave(key(1, 13, 2), 600, SAMPLE_OFF_CPU, 0);
        let s = book.back(13, 1_000).expect("pending");
        assert_eq!((s.key.stack, s.weight_ns), (2, 400));
        assert!(book.is_empty());
    }

    #[test]
    fn a_thread_away_across_windows_weighs_in_each() {
        let mut book = OffCpuBook::new(0);
        book.seed(key(1, 11, 0), 100, SAMPLE_OFF_CPU, 3);
        book.leave(key(1, 12, 1), 1_500, SAMPLE_OFF_CPU, 0);
        let w1 = book.carry(1_000);
        assert_eq!(
            w1.iter()
                .map(|s| (s.key.tid, s.time_ns, s.weight_ns, s.cpu))
                .collect::<Vec<_>>(),
            [(11, 100, 900, 3)],
            "the departure after the cut is not in the first window"
        );
        let w2 = book.carry(2_000);
        assert_eq!(
            w2.iter()
                .map(|s| (s.key.tid, s.time_ns, s.weight_ns))
                .collect::<Vec<_>>(),
            [(11, 1_000, 1_000), (12, 1_500, 500)]
        );
        let back = book.back(11, 2_250).expect("still pending");
        assert_eq!((back.time_ns, back.weight_ns), (2_000, 250));
        let end = book.drain(3_000);
        assert_eq!(end.iter().map(|s| s.weight_ns).collect::<Vec<_>>(), [1_000]);
        // Carried, back and drained: 900 + 1000 + 250 for 11 (100..2250),
        // 500 + 1000 for 12 (1500..3000): every nanosecond once.
    }

    #[test]
    fn threads_away_at_the_end_or_of_a_dead_process_weigh_until_then() {
        let mut book = OffCpuBook::new(0);
        book.leave(key(1, 11, 0), 100, SAMPLE_OFF_CPU, 0);
        book.leave(key(1, 12, 0), 200, SAMPLE_OFF_CPU, 0);
        book.leave(key(2, 21, 0), 300, SAMPLE_OFF_CPU, 0);
        let dead = book.forget_process(1, 1_000);
        assert_eq!(
            dead.iter()
                .map(|s| (s.key.tid, s.weight_ns))
                .collect::<Vec<_>>(),
            [(11, 900), (12, 800)]
        );
        let end = book.drain(2_000);
        assert_eq!(
            end.iter()
                .map(|s| (s.key.tid, s.weight_ns))
                .collect::<Vec<_>>(),
            [(21, 1_700)]
        );
        assert!(book.is_empty());
    }

    #[test]
    fn waiting_stacks_follow_a_compaction() {
        let mut book = OffCpuBook::new(0);
        book.leave(key(1, 11, 5), 100, SAMPLE_OFF_CPU, 0);
        book.leave(key(1, 12, 7), 100, SAMPLE_OFF_CPU, 0);
        let mut held = book.stacks();
        held.sort();
        assert_eq!(held, [5, 7]);
        let map: HashMap<StackId, StackId> = [(5, 0)].into_iter().collect();
        book.remap(&map);
        assert_eq!(book.len(), 1, "a stack the map lacks goes");
        assert_eq!(book.back(11, 200).map(|s| s.key.stack), Some(0));
    }

    #[test]
    fn reset_interns_the_marker_again_in_compacted_tables() {
        let mut p = Profile::default();
        let opts = AssemblyOptions {
            kernel_stacks: true,
            ..Default::default()
        };
        let mut a = Assembler::new(opts, &mut p);
        let f = py(&mut p, "f", 1);
        a.assemble(
            &mut p,
            SAMPLE_ON_CPU,
            &mut vec![f],
            None,
            &[(9, "vfs_read")],
        );
        p.compact(&[]);
        assert!(p.frames.is_empty());
        a.reset(&mut p);
        assert_eq!(p.frames[a.native_marker() as usize].name, NATIVE);
        let f = py(&mut p, "f", 1);
        let s = a.assemble(
            &mut p,
            SAMPLE_ON_CPU,
            &mut vec![f],
            None,
            &[(9, "vfs_read")],
        );
        assert_eq!(labels(&p, s), ["f (app.py:1)", "vfs_read_[k]"]);
    }

    #[test]
    fn an_empty_stack_says_why() {
        let mut p = Profile::new(Default::default());
        let mut a = Assembler::new(AssemblyOptions::default(), &mut p);
        let native = a.native_marker();
        for (flags, python, want) in [
            (SAMPLE_ON_CPU, vec![], NO_PYTHON_FRAME),
            // Only the C entry below the first frame: no Python frame.
            (SAMPLE_ON_CPU, vec![native], NO_PYTHON_FRAME),
            (SAMPLE_ON_CPU | SAMPLE_READ_ERROR, vec![], STACK_UNREADABLE),
            // A cyclic frame list: its frames were left out.
            (SAMPLE_ON_CPU | SAMPLE_TORN, vec![], STACK_UNREADABLE),
        ] {
            let mut ids = python;
            let stack = a.assemble(&mut p, flags, &mut ids, None, &[]);
            assert_eq!(labels(&p, stack), [want.to_string()]);
        }
        // A stack with a frame gets no marker.
        let f = py(&mut p, "f", 3);
        let stack = a.assemble(&mut p, SAMPLE_ON_CPU, &mut vec![f], None, &[]);
        assert_eq!(labels(&p, stack).len(), 1);
    }
}
