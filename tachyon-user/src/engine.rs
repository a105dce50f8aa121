//! The state of a running session and what it does with each kernel
//! record: carries out the tracker's decisions, symbolizes, assembles and
//! aggregates samples, cuts windows, and closes the profile.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aya::maps::{MapData, RingBuf};
use aya_log::EbpfLogger;
use tachyon_common::{counter, ProcInfo, SampleHeader, SAMPLE_OFF_CPU, SAMPLE_TORN};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use crate::assembly::{Assembler, AssemblyOptions, OffCpuBook};
use crate::async_stacks::{AsyncMode, AsyncStats};
use crate::bpf::{BpfError, Sampler};
use crate::kallsyms::KernelSymbols;
use crate::native::{native_stack, NativeSymbols};
use crate::procfs;
use crate::profile::{
    FrameId, ProcessInfo, ProcessOwner, ProcessPlace, ProcessSlots, Profile, ProfileMeta, StackKey,
    TimedSample,
};
use crate::python::asyncio_offsets::{self, AsyncLayout};
use crate::python::memory::ProcessMemory;
use crate::python::process::PythonProcess;
use crate::record::{decode, FrameIter, Record};
use crate::session::{SessionError, SessionOptions, Summary, Targets, WindowStats, Windows};
use crate::states::ProcessStates;
use crate::symbolize::ProcessSymbols;
use crate::thread_book::ThreadBook;
use crate::tracker::{Action, ProcessKey, SystemHost, Tracker};

/// How long the state of a process that exited is kept for its samples
/// still in the ring buffer.
const RETIRE_AFTER: Duration = Duration::from_millis(500);
/// Frames plus stacks kept interned by a continuous run between windows
/// (`TACHYON_INTERNED_LIMIT` sets another, e.g. to see compaction at work).
const INTERNED_LIMIT: usize = 1 << 20;

fn interned_limit() -> usize {
    std::env::var("TACHYON_INTERNED_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(INTERNED_LIMIT)
}
/// Records handled per turn of the loop, so that a burst (or a slow
/// symbolization) never keeps Ctrl-C, the deadline or retries waiting.
const DRAIN_BUDGET: usize = 4096;

pub(crate) fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// State of a running session.
pub(crate) struct Engine {
    pub(crate) opts: SessionOptions,
    pub(crate) sampler: Sampler,
    pub(crate) host: SystemHost,
    pub(crate) tracker: Tracker,
    /// Symbol state of each profiled pid (and of exited ones until their
    /// last samples are in).
    symbols: ProcessStates<ProcessSymbols>,
    profile: Profile,
    /// The key of each tracked process in the profile (its pid, unless the
    /// pid was reused).
    slots: ProcessSlots,
    assembler: Assembler,
    off_cpu: OffCpuBook,
    start_ktime: u64,
    period_ns: u64,
    retry_tx: mpsc::UnboundedSender<(u32, usize)>,
    kallsyms: KernelSymbols,
    native: NativeSymbols,
    /// Reused buffer for a sample's frame ids.
    ids: Vec<FrameId>,
    /// Reused buffer: a sample's kernel frames.
    raw_frames: Vec<tachyon_common::Frame>,
    /// Threads of the profile (process key, tid) shown by their `comm`
    /// because no `threading` name could be read for them (yet).
    unnamed: std::collections::BTreeSet<(u32, u32)>,
    /// Unsymbolized frames and cache evictions of processes whose state is
    /// gone.
    freed_failures: u64,
    freed_evictions: u64,
    freed_over_budget: u64,
    processes_freed: u64,
    /// `--all-python`: what the start-up scan of `/proc` cost.
    start_scan: Option<crate::summary::StartScan>,
    /// Times the frame and stack tables were compacted (continuous mode).
    interning_resets: u64,
    interned_limit: usize,
    /// Code reports received, and of the processes whose state is gone,
    /// the code objects named from them.
    code_reports: u64,
    freed_named_from_reports: u64,
    /// The epoch of the process tracked last (`ProcInfo::epoch`).
    epoch: u32,
    /// Kernel counters at the end of the previous window.
    window_counters: [u64; counter::COUNT as usize],
    windowed: WindowTotals,
    /// Wall mode: threads found asleep when their process began to be
    /// profiled, and those whose stack or thread could not be read.
    asleep_seeded: u64,
    asleep_unread: u64,
    /// What the live view has of the frame and stack tables.
    live_cursor: crate::top::table::Cursor,
    /// `--async-aware`: processes (3.14+) whose asyncio module is not
    /// mapped yet, and when it was last looked for.
    async_pending: std::collections::HashMap<u32, Instant>,
    /// What `--async-aware` saw of processes whose state is gone.
    freed_async: AsyncStats,
    /// `--async-mode all`: when the waiting tasks were last booked.
    async_walked: Instant,
}

/// How often a process that has not loaded asyncio yet is looked at again.
const ASYNC_LOOK_EVERY: Duration = Duration::from_millis(500);
/// How often `--async-mode all` books the tasks that wait: at each
/// housekeeping tick (every 100 ms), never twice within this.
pub const ASYNC_ALL_EVERY: Duration = Duration::from_millis(50);

/// What closed windows held, for the summary of a continuous run.
#[derive(Default)]
struct WindowTotals {
    used: bool,
    samples: u64,
    processes: usize,
    threads: usize,
    /// Keys (and threads) counted already, of processes still running.
    seen: std::collections::HashSet<u32>,
    seen_threads: std::collections::HashSet<(u32, u32)>,
    /// Threads a window showed without their `threading` name.
    names_unread: usize,
    unread_seen: std::collections::HashSet<(u32, u32)>,
}

impl Engine {
    pub(crate) fn new(
        opts: SessionOptions,
        sampler: Sampler,
        kallsyms: KernelSymbols,
        retry_tx: mpsc::UnboundedSender<(u32, usize)>,
    ) -> Self {
        let meta = ProfileMeta {
            rate_hz: opts.rate_hz,
            start_unix_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
            mode: opts.mode.name().into(),
            ..Default::default()
        };
        let mut profile = Profile::new(meta);
        if opts.keep_timeline {
            profile.keep_timeline();
        }
        let assembler = Assembler::new(
            AssemblyOptions {
                show_gc: opts.show_gc,
                native_stacks: opts.native_stacks,
                kernel_stacks: opts.kernel_stacks,
            },
            &mut profile,
        );
        let start_ktime = monotonic_ns();
        Self {
            period_ns: 1_000_000_000 / opts.rate_hz.max(1),
            tracker: Tracker::with_filters(
                opts.targets.clone(),
                opts.follow_children,
                opts.filters.clone(),
            ),
            host: SystemHost::new(&opts.docker_root),
            opts,
            sampler,
            symbols: ProcessStates::new(RETIRE_AFTER),
            profile,
            slots: ProcessSlots::default(),
            assembler,
            off_cpu: OffCpuBook::new(start_ktime),
            start_ktime,
            retry_tx,
            kallsyms,
            native: NativeSymbols::new(),
            ids: Vec::new(),
            raw_frames: Vec::new(),
            unnamed: Default::default(),
            freed_failures: 0,
            freed_evictions: 0,
            freed_over_budget: 0,
            processes_freed: 0,
            start_scan: None,
            interning_resets: 0,
            interned_limit: interned_limit(),
            epoch: 0,
            code_reports: 0,
            freed_named_from_reports: 0,
            window_counters: [0; counter::COUNT as usize],
            windowed: WindowTotals::default(),
            asleep_seeded: 0,
            asleep_unread: 0,
            live_cursor: Default::default(),
            async_pending: Default::default(),
            freed_async: AsyncStats::default(),
            async_walked: Instant::now(),
        }
    }

    /// Starts profiling the requested processes and, with `--all-python`,
    /// every Python process running now; says how many.
    pub(crate) fn start(&mut self, initial: Vec<PythonProcess>, follow: &[u32]) {
        let began = std::time::Instant::now();
        let me = std::process::id();
        let pids: Vec<u32> = procfs::all_pids()
            .into_iter()
            .filter(|&p| p != me)
            .collect();
        let actions = self.tracker.start(&mut self.host, initial, follow, &pids);
        if self.opts.targets == Targets::AllPython {
            self.start_scan = Some(crate::summary::StartScan {
                processes: pids.len(),
                files: self.host.inspector.cached_objects(),
                elapsed: began.elapsed(),
            });
        }
        self.apply(actions);
        announce(self, follow.len());
    }

    /// Inspects a freshly exec'd process again (its interpreter may not
    /// have been mapped at the previous attempt).
    pub(crate) fn retry(&mut self, pid: u32, attempt: usize) {
        let actions = self.tracker.inspect(&mut self.host, pid, attempt);
        self.apply(actions);
    }

    /// Carries out what the tracker decided.
    pub(crate) fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Track {
                    key,
                    process,
                    place,
                } => self.track(key, *process, *place),
                Action::Untrack(key) => self.untrack(key),
                Action::Retry {
                    pid,
                    attempt,
                    delay,
                } => {
                    let tx = self.retry_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send((pid, attempt));
                    });
                }
                Action::Warn(w) => log::warn!("{w}"),
            }
        }
    }

    fn track(&mut self, key: ProcessKey, proc: PythonProcess, place: ProcessPlace) {
        let pid = key.pid;
        if self.opts.mode == crate::mode::Mode::Exception
            && proc.layout.kernel.flags & tachyon_common::OFFSETS_NO_EXC_INFO != 0
        {
            log::warn!(
                "pid {pid} (Python {}): its layout was built from _Py_DebugOffsets, which do not say where the exception state is; exception mode sees none of its samples",
                proc.version
            );
        }
        self.async_pending.remove(&pid);
        let asyncio = self.asyncio_layout(&proc);
        let info = match self.proc_info(&proc, asyncio.as_ref()) {
            Ok(info) => info,
            Err(e) => {
                log::warn!("cannot track pid {pid}: {e}");
                return;
            }
        };
        if let Err(e) = self.sampler.track(pid, info) {
            log::warn!("cannot track pid {pid}: {e}");
            return;
        }
        let slot = self.slots.assign(&self.profile, pid, key.start_time);
        let entry = self.profile.processes.entry(slot).or_default();
        entry.pid = pid;
        entry.name = proc.comm.clone();
        entry.version = proc.version.clone();
        entry.cmdline = procfs::cmdline(pid);
        entry.place = place;
        // Whose rights its source files are read with (heatmap): those of
        // the process when first tracked. A later exec keeps the entry and
        // its first owner (a setuid exec must not lend its rights to file
        // names chosen before); the writer refuses when they changed.
        if entry
            .owner
            .as_ref()
            .is_none_or(|o| o.start_time != key.start_time)
        {
            entry.owner = procfs::credentials_of(pid, key.start_time).map(|c| ProcessOwner {
                uid: c.fsuid,
                gid: c.fsgid,
                groups: c.groups,
                start_time: key.start_time,
            });
        }
        log::debug!("tracking {} pid {pid} (Python {})", proc.comm, proc.version);
        let mut symbols = ProcessSymbols::new(proc).with_opcodes(self.opts.opcodes);
        if let Some(layout) = asyncio {
            symbols.set_async(layout);
        }
        if let Some((_, old)) = self.symbols.insert(key, symbols) {
            self.free(old);
        }
        if self.opts.mode == crate::mode::Mode::Wall {
            self.seed_asleep(pid);
        }
    }

    /// Wall mode: the threads of `pid` that are asleep now never left the
    /// CPU under us; book each as a departure now, with its stack read from
    /// userspace, and have the kernel report its switch-in like any other.
    ///
    /// The kernel is told before the stacks are read, so a thread that wakes
    /// meanwhile is reported (its seed then weighs until then). A thread
    /// that runs after the stacks were read while the kernel still waits
    /// for its switch-in may have woken before the kernel was told (then no
    /// switch-in would come until it leaves again): it gets no seed, so its
    /// time is never counted both on and off CPU.
    fn seed_asleep(&mut self, pid: u32) {
        let now = monotonic_ns();
        let tasks = procfs::tasks(pid);
        let sleeping: Vec<u32> = tasks
            .iter()
            .filter(|t| crate::asleep::is_asleep(t))
            .map(|t| t.tid)
            .collect();
        if sleeping.is_empty() {
            return;
        }
        for &tid in &sleeping {
            if let Err(e) = self.sampler.expect_switch_in(tid, pid) {
                log::debug!("pid {pid} tid {tid}: {e}");
            }
        }
        let Some(sym) = self.symbols.get_mut(pid) else {
            return;
        };
        let proc = sym.process();
        let survey = crate::asleep::survey(
            &crate::python::memory::ProcessMemory::new(pid),
            &proc.layout,
            proc.runtime_addr,
            &tasks,
        );
        // The threads no thread state claims (not Python threads, or
        // unread) keep their entry: the kernel may have replaced it with a
        // departure of its own meanwhile; a switch-in reported for a thread
        // with nothing booked is ignored.
        self.asleep_unread += survey.unread;
        let slot = self.slots.key(pid);
        for a in survey.asleep {
            match procfs::task_state(pid, a.tid) {
                Some(s) if crate::asleep::is_asleep_state(s) => {}
                // Woke after the kernel was told: its switch-in is reported.
                Some('R') if !self.sampler.awaits_switch_in(a.tid) => {}
                // Running, perhaps since before the kernel was told.
                Some('R') => continue,
                // Gone, or dead.
                _ => {
                    self.sampler.forget_switch_in(a.tid);
                    continue;
                }
            }
            let mut ids = std::mem::take(&mut self.ids);
            ids.clear();
            sym.stack(&a.stack.frames, 0, &mut self.profile, &mut ids);
            let stack = self
                .assembler
                .assemble(&mut self.profile, a.flags, &mut ids, None, &[]);
            self.ids = ids;
            let key = StackKey {
                pid: slot,
                tid: a.tid,
                stack,
            };
            if self.off_cpu.seed(key, now, a.flags, a.cpu) {
                self.profile
                    .note_thread(slot, a.tid, || procfs::thread_comm(pid, a.tid));
                self.asleep_seeded += 1;
            }
        }
    }

    /// What the kernel is told of a process: where its runtime is, its
    /// layout's slot and, with `--async-aware`, where its running task is.
    fn proc_info(
        &mut self,
        proc: &PythonProcess,
        asyncio: Option<&AsyncLayout>,
    ) -> Result<ProcInfo, crate::bpf::BpfError> {
        let version_slot = self.sampler.slot_for(&proc.layout.kernel)?;
        // A new epoch each time the kernel is told of a process: what it
        // reported to an earlier process with this pid (or before its exec)
        // does not hold back the reports this one needs.
        self.epoch = self.epoch.wrapping_add(1);
        Ok(ProcInfo {
            runtime_addr: proc.runtime_addr,
            version_slot,
            epoch: self.epoch,
            none_addr: proc.none_addr,
            async_running_task: asyncio.map_or(0, |a| a.asyncio.tstate_running_task),
            async_task_coro: asyncio.map_or(0, |a| a.asyncio.task_coro),
            async_coro_frame: asyncio.map_or(0, |a| a.coroutines.gen_iframe),
            _pad2: 0,
            code_type: proc.code_type,
        })
    }

    /// With `--async-aware`, the asyncio layout of a process being tracked;
    /// a process that has not loaded asyncio yet is looked at again later.
    fn asyncio_layout(&mut self, proc: &PythonProcess) -> Option<AsyncLayout> {
        self.opts.async_mode?;
        match asyncio_offsets::locate(proc, &ProcessMemory::new(proc.pid)) {
            Ok(Some(layout)) => Some(layout),
            Ok(None) => {
                self.async_pending.insert(proc.pid, Instant::now());
                None
            }
            Err(e) => {
                log::warn!("{e}; its stacks are shown without tasks");
                None
            }
        }
    }

    /// `--async-mode all`: at each housekeeping tick, each task that waits
    /// (not running on its thread now) weighs the wall time since the
    /// previous look, on the stack of its suspended coroutines under the
    /// tasks awaiting it.
    fn book_waiting_tasks(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.async_walked) < ASYNC_ALL_EVERY {
            return;
        }
        self.async_walked = now;
        let time_ns = monotonic_ns().saturating_sub(self.start_ktime);
        let mut booked = Vec::new();
        for s in self.symbols.values_mut() {
            let pid = s.process().pid;
            if let Some(w) = s.waiting_task_stacks(&mut self.profile, now) {
                booked.push((pid, w));
            }
        }
        for (pid, w) in booked {
            let slot = self.slots.key(pid);
            let since = w.since;
            for (tid, mut ids) in w.stacks {
                ids.reverse();
                let stack = self.profile.intern_stack(&ids);
                self.profile
                    .note_thread(slot, tid, || procfs::thread_comm(pid, tid));
                self.profile.add_sample(TimedSample {
                    time_ns,
                    key: StackKey {
                        pid: slot,
                        tid,
                        stack,
                    },
                    weight_ns: since.as_nanos() as u64,
                    flags: SAMPLE_OFF_CPU,
                    cpu: 0,
                });
            }
        }
    }

    /// Looks again for asyncio in the processes that had not loaded it;
    /// where it is now, the kernel starts reading their running tasks.
    fn look_for_asyncio(&mut self) {
        let now = Instant::now();
        let due: Vec<u32> = self
            .async_pending
            .iter()
            .filter(|(_, &at)| now.duration_since(at) >= ASYNC_LOOK_EVERY)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in due {
            let Some(proc) = self.symbols.get_mut(pid).map(|s| s.process().clone()) else {
                self.async_pending.remove(&pid);
                continue;
            };
            match asyncio_offsets::locate(&proc, &ProcessMemory::new(pid)) {
                Ok(None) => {
                    self.async_pending.insert(pid, now);
                }
                Ok(Some(layout)) => {
                    self.async_pending.remove(&pid);
                    let tracked = self
                        .proc_info(&proc, Some(&layout))
                        .and_then(|info| self.sampler.track(pid, info));
                    match tracked {
                        Ok(()) => {
                            log::debug!(
                                "pid {pid}: asyncio loaded; its tasks are read from now on"
                            );
                            if let Some(s) = self.symbols.get_mut(pid) {
                                s.set_async(layout);
                            }
                        }
                        Err(e) => log::warn!("pid {pid}: cannot read its asyncio tasks: {e}"),
                    }
                }
                Err(e) => {
                    self.async_pending.remove(&pid);
                    log::warn!("{e}; its stacks are shown without tasks");
                }
            }
        }
    }

    fn untrack(&mut self, key: ProcessKey) {
        self.sampler.untrack(key.pid);
        self.async_pending.remove(&key.pid);
        self.native.forget(key.pid);
        let slot = self.slots.key(key.pid);
        for s in self.off_cpu.forget_process(slot, monotonic_ns()) {
            self.profile.add_sample(s);
        }
        self.symbols.retire(key, Instant::now());
    }

    fn free(&mut self, s: ProcessSymbols) {
        self.freed_failures += s.failures;
        self.freed_evictions += s.evictions;
        self.freed_over_budget += s.over_budget();
        self.freed_named_from_reports += s.named_from_reports;
        self.freed_async += s.async_stats();
        self.processes_freed += 1;
    }

    /// Whether [`Self::housekeeping`] has anything to do: with `--pid` (the
    /// run ends with its targets), while a process state is kept (thread
    /// names to read, asyncio to look for, a state to free once its grace
    /// period ends) and while processes are followed. An agent with nothing
    /// to look after sets no timer at all.
    pub(crate) fn housekeeping_due(&self) -> bool {
        matches!(self.opts.targets, Targets::Pids(_))
            || !self.symbols.is_empty()
            || !self.async_pending.is_empty()
            || self.tracker.follows_any()
    }

    /// Whether samples can come: only profiled processes are sampled (and
    /// their samples drained before their state is freed). With none, what
    /// wakes the reader is a process event, to be handled at once.
    pub(crate) fn samples_expected(&self) -> bool {
        self.tracker.live() > 0 || !self.symbols.is_empty()
    }

    /// Frees the state of processes whose last samples are in; forgets
    /// followed processes that are gone.
    pub(crate) fn housekeeping(&mut self) {
        for (key, s) in self.symbols.expire(Instant::now()) {
            self.free(s);
            self.slots.release(key.pid, key.start_time);
        }
        if !self.async_pending.is_empty() {
            self.look_for_asyncio();
        }
        if self.opts.async_mode == Some(AsyncMode::All) {
            self.book_waiting_tasks();
        }
        self.tracker.prune(&self.host);
        self.retry_thread_names();
    }

    /// Reads the names of processes that have threads without one, when
    /// their schedule allows.
    fn retry_thread_names(&mut self) {
        let now = Instant::now();
        for sym in self.symbols.values_mut() {
            if !sym.thread_names().due(now) || !sym.refresh_thread_names(now) {
                continue;
            }
            let slot = self.slots.key(sym.process().pid);
            name_threads(
                sym.thread_names(),
                self.profile.processes.get_mut(&slot),
                slot,
                &mut self.unnamed,
            );
        }
    }

    fn on_sample(
        &mut self,
        header: SampleHeader,
        frames: FrameIter<'_>,
        native: &[u64],
        kernel: &[u64],
    ) {
        if !self.opts.mode.keeps(header.flags) {
            return;
        }
        let Some(sym) = self.symbols.get_mut(header.pid) else {
            return;
        };
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        let mut raw = std::mem::take(&mut self.raw_frames);
        raw.clear();
        // A torn sample's frames are not one stack: none is named (the
        // stack is `<stack unreadable>`).
        let torn = header.flags & SAMPLE_TORN != 0;
        if !torn {
            raw.extend(frames);
        }
        sym.stack(&raw, header.leaf_opcode, &mut self.profile, &mut ids);
        self.raw_frames = raw;
        if header.task != 0 && !torn {
            sym.task_stack(&mut ids, header.task, header.task_frame, &mut self.profile);
        }
        if self.opts.async_mode == Some(AsyncMode::All) {
            sym.note_thread(header.tstate, header.tid);
        }
        let native = (self.opts.native_stacks && !native.is_empty())
            .then(|| native_stack(&mut self.native, header.pid, native));
        let kernel: Vec<(u64, &str)> = kernel
            .iter()
            .filter_map(|&a| Some((a, self.kallsyms.lookup(a)?)))
            .collect();
        let stack = self.assembler.assemble(
            &mut self.profile,
            header.flags,
            &mut ids,
            native.as_ref(),
            &kernel,
        );
        self.ids = ids;
        let (pid, tid) = (header.pid, header.tid);
        let slot = self.slots.key(pid);
        self.note_thread(pid, slot, tid);
        let key = StackKey {
            pid: slot,
            tid,
            stack,
        };
        if header.flags & SAMPLE_OFF_CPU != 0 {
            // Weighted when the thread runs again (EVENT_SWITCH_IN).
            self.off_cpu
                .leave(key, header.ktime_ns, header.flags, header.cpu);
            return;
        }
        self.profile.add_sample(TimedSample {
            time_ns: header.ktime_ns.saturating_sub(self.start_ktime),
            key,
            weight_ns: self.period_ns,
            flags: header.flags,
            cpu: header.cpu,
        });
    }

    /// The thread of a sample: its name learnt (read again if it has none
    /// yet, on the book's schedule), or its `comm`, counted as unread.
    fn note_thread(&mut self, pid: u32, slot: u32, tid: u32) {
        let Some(sym) = self.symbols.get_mut(pid) else {
            return;
        };
        if sym.thread_names().name(tid).is_none() && sym.observe_thread(tid, Instant::now()) {
            name_threads(
                sym.thread_names(),
                self.profile.processes.get_mut(&slot),
                slot,
                &mut self.unnamed,
            );
        }
        let book = sym.thread_names();
        let mut learnt = true;
        self.profile
            .note_thread(slot, tid, || match book.name(tid) {
                Some(name) => name.to_string(),
                None => {
                    learnt = false;
                    procfs::thread_comm(pid, tid)
                }
            });
        if !learnt {
            self.unnamed.insert((slot, tid));
        }
    }

    /// One more read of the names of processes with threads still unnamed
    /// (those still running), before the profile or a window is written.
    fn settle_thread_names(&mut self) {
        let slots: std::collections::BTreeSet<u32> = self.unnamed.iter().map(|&(s, _)| s).collect();
        let now = Instant::now();
        for slot in slots {
            let pid = self.profile.pid_of(slot);
            if self.slots.key(pid) != slot {
                continue;
            }
            let Some(sym) = self.symbols.get_mut(pid) else {
                continue;
            };
            sym.refresh_thread_names(now);
            name_threads(
                sym.thread_names(),
                self.profile.processes.get_mut(&slot),
                slot,
                &mut self.unnamed,
            );
            let left = self.unnamed.range((slot, 0)..=(slot, u32::MAX)).count();
            if left > 0 {
                log::info!(
                    "pid {pid}: {left} thread name{} unread ({})",
                    if left == 1 { "" } else { "s" },
                    sym.thread_names()
                        .why_unread()
                        .unwrap_or("not among threading's threads")
                );
            }
        }
    }

    fn on_record(&mut self, bytes: &[u8]) {
        let actions = match decode(bytes) {
            Some(Record::Sample {
                header,
                frames,
                native,
                kernel,
            }) => {
                self.on_sample(header, frames, &native, &kernel);
                return;
            }
            Some(Record::SwitchIn(ev)) => {
                if let Some(s) = self.off_cpu.back(ev.aux, ev.ktime_ns) {
                    self.profile.add_sample(s);
                }
                return;
            }
            Some(Record::Exec(ev)) => self.tracker.on_exec(&mut self.host, ev.pid),
            Some(Record::Fork(ev)) => self.tracker.on_fork(&mut self.host, ev.pid, ev.aux),
            Some(Record::Exit(ev)) => self.tracker.on_exit(ev.pid),
            Some(Record::Code(report)) => {
                self.code_reports += 1;
                if let Some(sym) = self.symbols.get_mut(report.header.pid) {
                    sym.learn(&report);
                }
                return;
            }
            None => {
                log::debug!("undecodable record of {} bytes", bytes.len());
                return;
            }
        };
        self.apply(actions);
    }

    /// Handles at most [`DRAIN_BUDGET`] records; true if more may wait.
    pub(crate) fn drain(&mut self, rb: &mut RingBuf<MapData>) -> bool {
        for _ in 0..DRAIN_BUDGET {
            match rb.next() {
                Some(item) => self.on_record(&item),
                None => return false,
            }
        }
        true
    }

    /// Hands the window that ends now to `sink` and starts the next one;
    /// processes that are gone leave the live profile.
    pub(crate) fn close_window(&mut self, windows: &mut Windows) {
        let now_ktime = monotonic_ns();
        // Threads away now weigh their time so far in this window.
        for s in self.off_cpu.carry(now_ktime) {
            self.profile.add_sample(s);
        }
        self.settle_thread_names();
        let now_ns = now_ktime.saturating_sub(self.start_ktime);
        let w = self.profile.take_window(now_ns);
        let counters = self.sampler.counters();
        let delta = |i: u32, last: &mut [u64; counter::COUNT as usize]| {
            let d = counters[i as usize].saturating_sub(last[i as usize]);
            last[i as usize] = counters[i as usize];
            d
        };
        let stats = WindowStats {
            samples: w.total_samples(),
            processes: w.processes.len(),
            lost: delta(counter::LOST, &mut self.window_counters),
            no_thread_state: delta(counter::NO_TSTATE, &mut self.window_counters),
        };
        // Totals over all windows, for the summary; what is remembered to
        // count each process and thread once stays as small as what runs.
        self.windowed.used = true;
        self.windowed.samples += stats.samples;
        for (&k, p) in &w.processes {
            if self.windowed.seen.insert(k) {
                self.windowed.processes += 1;
            }
            for &tid in p.threads.keys() {
                if self.windowed.seen_threads.insert((k, tid)) {
                    self.windowed.threads += 1;
                }
                if self.unnamed.contains(&(k, tid)) && self.windowed.unread_seen.insert((k, tid)) {
                    self.windowed.names_unread += 1;
                }
            }
        }
        let live = self.slots.current_keys();
        self.profile.processes.retain(|k, _| live.contains(k));
        self.windowed.seen.retain(|k| live.contains(k));
        self.windowed.seen_threads.retain(|(k, _)| live.contains(k));
        self.windowed.unread_seen.retain(|(k, _)| live.contains(k));
        self.unnamed.retain(|(k, _)| live.contains(k));
        (windows.sink)(w, stats);
        self.bound_interning();
    }

    /// Over weeks, code comes and goes: when the frame and stack tables
    /// have grown past [`INTERNED_LIMIT`], keep only what the threads still
    /// off CPU need, and let every cache of frame ids start over.
    fn bound_interning(&mut self) {
        if self.profile.frames.len() + self.profile.stacks.len() <= self.interned_limit {
            return;
        }
        let map = self.profile.compact(&self.off_cpu.stacks());
        self.off_cpu.remap(&map);
        self.assembler.reset(&mut self.profile);
        for s in self.symbols.values_mut() {
            s.forget_frames();
        }
        self.interning_resets += 1;
    }

    /// Threads still off CPU weigh the time until now.
    pub(crate) fn flush_off_cpu(&mut self) {
        for s in self.off_cpu.drain(monotonic_ns()) {
            self.profile.add_sample(s);
        }
    }

    /// The run's counters now, for live progress.
    pub(crate) fn live_stats(&self, elapsed: Duration) -> crate::progress::LiveStats {
        let counters = self.sampler.counters();
        crate::progress::LiveStats {
            elapsed,
            samples: self.windowed.samples + self.profile.total_samples(),
            lost: counters[counter::LOST as usize],
            processes: self.tracker.live(),
            threads: self
                .profile
                .processes
                .values()
                .map(|p| p.threads.len())
                .sum(),
            no_thread_state: counters[counter::NO_TSTATE as usize],
            unsymbolized: self.freed_failures
                + self.symbols.values().map(|s| s.failures).sum::<u64>(),
        }
    }

    /// Offers the live view (`top`, `--live`) the profile as it is now;
    /// never waits for it.
    pub(crate) fn send_snapshot(&mut self, elapsed: Duration) {
        let Some(feed) = self.opts.live.as_ref() else {
            return;
        };
        let s = crate::top::table::Snapshot::of(
            &self.profile,
            self.live_cursor,
            self.live_stats(elapsed),
        );
        let next = s.cursor();
        if feed.offer(s) {
            self.live_cursor = next;
        }
    }

    /// Closes the profile: threads still off CPU weigh the time until now,
    /// the counters go into the summary.
    pub(crate) fn finish(mut self, duration: Duration) -> (Profile, Summary) {
        self.flush_off_cpu();
        self.settle_thread_names();
        let counters = self.sampler.counters();
        self.profile.meta.duration_ns = duration.as_nanos() as u64;
        let live = self.profile.processes.values();
        let summary = Summary {
            duration,
            processes: match self.windowed.used {
                true => self.windowed.processes,
                false => live.clone().filter(|p| !p.threads.is_empty()).count(),
            },
            threads: match self.windowed.used {
                true => self.windowed.threads,
                false => live.map(|p| p.threads.len()).sum(),
            },
            thread_names_unread: match self.windowed.used {
                true => self.windowed.names_unread,
                false => self.unnamed.len(),
            },
            samples: self.windowed.samples + self.profile.total_samples(),
            lost: counters[counter::LOST as usize],
            truncated: counters[counter::TRUNCATED as usize],
            unsymbolized: self.freed_failures
                + self.symbols.values().map(|s| s.failures).sum::<u64>(),
            read_errors: counters[counter::READ_ERRORS as usize],
            no_thread_state: counters[counter::NO_TSTATE as usize],
            events_lost: counters[counter::EVENTS_LOST as usize],
            native_incomplete: self.assembler.native_incomplete,
            processes_freed: self.processes_freed,
            cache_evictions: self.freed_evictions
                + self.symbols.values().map(|s| s.evictions).sum::<u64>()
                + self.host.inspector.evictions()
                + self.native.evictions(),
            interning_compactions: self.interning_resets,
            no_thread_state_remembered: counters[counter::NO_TSTATE_REMEMBERED as usize],
            frame_cycles: counters[counter::FRAME_CYCLES as usize],
            start_scan: self.start_scan,
            reads_over_budget: self.freed_over_budget
                + self.symbols.values().map(|s| s.over_budget()).sum::<u64>(),
            asleep: (self.opts.mode == crate::mode::Mode::Wall).then_some(
                crate::summary::AsleepCounts {
                    seeded: self.asleep_seeded,
                    unread: self.asleep_unread,
                },
            ),
            code_reports: self.code_reports,
            named_from_reports: self.freed_named_from_reports
                + self
                    .symbols
                    .values()
                    .map(|s| s.named_from_reports)
                    .sum::<u64>(),
            code_reports_lost: counters[counter::CODE_REPORTS_LOST as usize],
            asyncio: self.opts.async_mode.map(|_| {
                let mut total = self.freed_async;
                for s in self.symbols.values() {
                    total += s.async_stats();
                }
                total
            }),
        };
        // Processes that never produced a sample are not part of the profile.
        self.profile.processes.retain(|_, p| !p.threads.is_empty());
        (self.profile, summary)
    }
}

/// Gives the threads of `info` (process key `slot`) the names `book`
/// has learnt; they are no longer unnamed.
fn name_threads(
    book: &ThreadBook,
    info: Option<&mut ProcessInfo>,
    slot: u32,
    unnamed: &mut std::collections::BTreeSet<(u32, u32)>,
) {
    let Some(info) = info else { return };
    for (&tid, t) in info.threads.iter_mut() {
        if let Some(name) = book.name(tid) {
            if t.name != name {
                t.name = name.to_string();
            }
            unnamed.remove(&(slot, tid));
        }
    }
}

/// The kernel side's log records (`--debug-ebpf`), forwarded to the `log`
/// crate (target `tachyon_ebpf`) as they come.
pub(crate) struct KernelLogs(Option<AsyncFd<EbpfLogger<&'static dyn log::Log>>>);

impl KernelLogs {
    pub(crate) fn new(
        logger: Option<EbpfLogger<&'static dyn log::Log>>,
    ) -> Result<Self, SessionError> {
        let Some(logger) = logger else {
            return Ok(Self(None));
        };
        // SAFETY: the logger owns its ring buffer's map fd; the AsyncFd owns
        // the logger, so the fd stays open and unchanged while registered.
        let fd = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
            .map_err(|e| SessionError::Ring(e.into()))?;
        Ok(Self(Some(fd)))
    }

    /// Completes after forwarding what was ready; never without a logger.
    pub(crate) async fn ready(&mut self) {
        match self.0.as_mut() {
            Some(fd) => {
                if let Ok(mut guard) = fd.readable_mut().await {
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Forwards whatever is left at the end of the run.
    pub(crate) fn flush(&mut self) {
        if let Some(fd) = self.0.as_mut() {
            fd.get_mut().flush();
        }
    }
}

/// The ring buffer, registered with the runtime.
pub(crate) fn ring_of(sampler: &mut Sampler) -> Result<AsyncFd<RingBuf<MapData>>, SessionError> {
    let ring = sampler.take_events().ok_or(BpfError::Missing("EVENTS"))?;
    // SAFETY: the ring buffer owns its map fd; the AsyncFd owns the ring
    // buffer, so the fd stays open and unchanged while it is registered.
    unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| SessionError::Ring(e.into()))
}

fn announce(engine: &Engine, followed: usize) {
    let n = engine.tracker.live();
    let what = match (n, followed) {
        (0, f) if f > 0 => format!(
            "following {f} process{} until {} run Python,",
            if f == 1 { "" } else { "es" },
            if f == 1 {
                "it or its children"
            } else {
                "they or their children"
            }
        ),
        _ => format!(
            "sampling {n} Python process{}",
            if n == 1 { "" } else { "es" }
        ),
    };
    eprintln!(
        "tachyon-bpf: {what} at {} Hz on {} CPUs{}",
        engine.opts.rate_hz,
        engine.sampler.cpus,
        match engine.opts.targets {
            Targets::AllPython => ", following new ones",
            Targets::Pids(_) => "",
        }
    );
}
