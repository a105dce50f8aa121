//! One profiling run: discovery, the ring-buffer loop, aggregation.

use std::collections::HashSet;

use rustc_hash::FxHashMap as HashMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tachyon_common::{
    counter, Config, ProcInfo, SampleHeader, SAMPLE_IN_GC, SAMPLE_OFF_CPU, SAMPLE_PREEMPTED,
    SAMPLE_UNINTERRUPTIBLE,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use crate::bpf::{BpfError, Sampler};
use crate::kallsyms::KernelSymbols;
use crate::kernel::{self, KernelError};
use crate::mode::Mode;
use crate::native::{native_stack, NativeFrame, NativeSymbols};
use crate::profile::{FrameId, FrameInfo, FrameKind, Profile, ProfileMeta, StackKey, TimedSample};
use crate::python::layout::version_slot;
use crate::python::process::{self, InspectError, Inspector, PythonProcess};
use crate::record::{decode, FrameIter, Record};
use crate::symbolize::ProcessSymbols;

/// Which processes to profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Every Python process, including those started during the run.
    AllPython,
    /// These pids (and, with `follow_children`, processes they fork or spawn).
    Pids(Vec<u32>),
}

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub targets: Targets,
    pub rate_hz: u64,
    pub duration: Option<Duration>,
    pub follow_children: bool,
    pub keep_timeline: bool,
    pub mode: Mode,
    /// Append the kernel stack above the Python leaf.
    pub kernel_stacks: bool,
    /// Show `<GC>` while the garbage collector runs.
    pub show_gc: bool,
    /// Append native (C) frames above the Python leaf, from frame pointers.
    pub native_stacks: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error("ring buffer: {0}")]
    Ring(std::io::Error),
}

/// Totals printed at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub duration: Duration,
    pub processes: usize,
    pub threads: usize,
    pub samples: u64,
    pub lost: u64,
    pub truncated: u64,
    pub unsymbolized: u64,
    pub read_errors: u64,
    pub no_thread_state: u64,
    pub events_lost: u64,
    /// `--native` samples whose native walk broke off (no frame pointers).
    pub native_incomplete: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tachyon-bpf summary")?;
        writeln!(
            f,
            "  duration:             {:.2} s",
            self.duration.as_secs_f64()
        )?;
        writeln!(f, "  processes:            {}", self.processes)?;
        writeln!(f, "  threads:              {}", self.threads)?;
        writeln!(f, "  samples:              {}", self.samples)?;
        writeln!(f, "  samples lost:         {}", self.lost)?;
        writeln!(f, "  stacks truncated:     {}", self.truncated)?;
        writeln!(f, "  frames unsymbolized:  {}", self.unsymbolized)?;
        writeln!(f, "  stacks with read errors: {}", self.read_errors)?;
        writeln!(f, "  ticks without thread state: {}", self.no_thread_state)?;
        write!(f, "  process events lost:  {}", self.events_lost)?;
        if self.native_incomplete > 0 {
            write!(
                f,
                "\n  native stacks cut short: {} (code built without frame pointers)",
                self.native_incomplete
            )?;
        }
        Ok(())
    }
}

/// Delays before re-inspecting a freshly exec'd process whose libpython is
/// not mapped yet.
const EXEC_RETRY_MS: &[u64] = &[0, 2, 5, 10, 20, 40, 80, 160, 320, 640];

/// State of a running session.
struct Engine {
    opts: SessionOptions,
    sampler: Sampler,
    inspector: Inspector,
    symbols: HashMap<u32, ProcessSymbols>,
    exited: HashSet<u32>,
    profile: Profile,
    start_ktime: u64,
    period_ns: u64,
    retry_tx: mpsc::UnboundedSender<(u32, usize)>,
    /// Threads off CPU: tid → (sample, time it left).
    off_cpu: HashMap<u32, PendingOffCpu>,
    kallsyms: KernelSymbols,
    kernel_frames: HashMap<u64, FrameId>,
    /// Reused buffer for a sample's frame ids.
    ids: Vec<FrameId>,
    /// The `<native>` marker frame.
    native_id: FrameId,
    native: NativeSymbols,
    /// Samples whose native walk broke off before the interpreter.
    native_incomplete: u64,
}

/// Shown above the Python leaf when the native walk broke off.
const NATIVE_INCOMPLETE: &str = "<native: unwinding stopped (no frame pointers)>";

/// An off-CPU stack waiting for the thread to run again.
struct PendingOffCpu {
    key: StackKey,
    out_ktime: u64,
    flags: u32,
    cpu: u32,
}

/// Why a thread was off CPU, from the scheduler state and its kernel stack.
fn off_cpu_reason(flags: u32, kernel: &[&str]) -> &'static str {
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

fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Engine {
    fn wants_all(&self) -> bool {
        self.opts.targets == Targets::AllPython
    }

    fn track(&mut self, proc: PythonProcess) -> Result<(), BpfError> {
        let pid = proc.pid;
        self.sampler.track(
            pid,
            ProcInfo {
                runtime_addr: proc.runtime_addr,
                version_slot: version_slot(proc.layout.minor),
                _pad: 0,
                none_addr: proc.none_addr,
            },
        )?;
        let info = self.profile.processes.entry(pid).or_default();
        info.pid = pid;
        info.name = proc.comm.clone();
        info.version = proc.version.clone();
        info.cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        log::debug!("tracking {} pid {pid} (Python {})", proc.comm, proc.version);
        self.exited.remove(&pid);
        self.symbols.insert(pid, ProcessSymbols::new(proc));
        Ok(())
    }

    fn forget(&mut self, pid: u32) {
        self.sampler.untrack(pid);
        self.native.forget(pid);
        if self.symbols.contains_key(&pid) {
            self.exited.insert(pid);
        }
    }

    /// Tries to start profiling `pid` after an exec; schedules a retry while
    /// its interpreter library is not mapped yet.
    fn inspect_new(&mut self, pid: u32, attempt: usize) {
        match self.inspector.inspect(pid) {
            Ok(p) => {
                if let Err(e) = self.track(p) {
                    log::warn!("cannot track pid {pid}: {e}");
                }
            }
            Err(InspectError::NoRuntime { .. }) | Err(InspectError::Binary { .. })
                if attempt + 1 < EXEC_RETRY_MS.len() =>
            {
                let tx = self.retry_tx.clone();
                let delay = Duration::from_millis(EXEC_RETRY_MS[attempt + 1]);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = tx.send((pid, attempt + 1));
                });
            }
            Err(e @ InspectError::Unsupported { .. }) => log::warn!("{e}"),
            Err(e) => log::debug!("pid {pid}: {e}"),
        }
    }

    fn on_exec(&mut self, pid: u32) {
        let known = self.symbols.contains_key(&pid);
        if known {
            // A tracked process replaced its image: what follows is another program.
            self.forget(pid);
        }
        let followed = match &self.opts.targets {
            Targets::AllPython => true,
            Targets::Pids(p) => p.contains(&pid) || (self.opts.follow_children && known),
        };
        if followed {
            self.inspect_new(pid, 0);
        }
    }

    fn on_fork(&mut self, child: u32, parent: u32) {
        if !(self.wants_all() || self.opts.follow_children) {
            return;
        }
        if process::tgid_of(child) != Some(child) {
            return; // a new thread, not a process
        }
        let Some(parent_proc) = self.symbols.get(&parent).map(|s| s.process().clone()) else {
            return;
        };
        let child_proc = PythonProcess {
            pid: child,
            comm: process::comm(child),
            ..parent_proc
        };
        if let Err(e) = self.track(child_proc) {
            log::warn!("cannot track forked pid {child}: {e}");
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
        let Some(sym) = self.symbols.get_mut(&header.pid) else {
            return;
        };
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(frames.map(|f| sym.frame(&f, &mut self.profile)));
        // Leaf first from the kernel; a `<native>` at the root end is the C
        // entry below the first Python frame, not a call into C: drop it.
        while ids.last() == Some(&self.native_id) {
            ids.pop();
        }
        ids.reverse();
        if header.flags & SAMPLE_IN_GC != 0 && self.opts.show_gc {
            ids.push(self.profile.intern_frame(FrameInfo::marker("<GC>")));
        }
        if self.opts.native_stacks && !native.is_empty() {
            self.add_native(header.pid, native, &mut ids);
        }
        let kernel_names: Vec<&str> = kernel
            .iter()
            .rev()
            .filter_map(|&a| self.kallsyms.lookup(a))
            .collect();
        if self.opts.kernel_stacks {
            for (&addr, name) in kernel.iter().rev().zip(&kernel_names) {
                let id = *self.kernel_frames.entry(addr).or_insert_with(|| {
                    self.profile.intern_frame(FrameInfo {
                        name: format!("{name}_[k]"),
                        file: String::new(),
                        line: 0,
                        first_line: 0,
                        kind: FrameKind::Kernel,
                    })
                });
                ids.push(id);
            }
        }
        let off_cpu = header.flags & SAMPLE_OFF_CPU != 0;
        if off_cpu {
            let reason = off_cpu_reason(header.flags, &kernel_names);
            ids.push(self.profile.intern_frame(FrameInfo::marker(reason)));
        }
        let stack = self.profile.intern_stack(&ids);
        self.ids = ids;
        let (pid, tid) = (header.pid, header.tid);
        self.profile
            .note_thread(pid, tid, || process::thread_comm(pid, tid));
        let key = StackKey { pid, tid, stack };
        if off_cpu {
            // Weighted when the thread runs again (EVENT_SWITCH_IN).
            self.off_cpu.insert(
                tid,
                PendingOffCpu {
                    key,
                    out_ktime: header.ktime_ns,
                    flags: header.flags,
                    cpu: header.cpu,
                },
            );
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

    /// Merges the native stack into the Python one (root first in `ids`):
    /// each `<native>` marker whose run of C code the frame-pointer walk saw
    /// whole becomes those C frames, and the C code the Python leaf is
    /// running goes above it. A walk that broke off says so above the leaf.
    fn add_native(&mut self, pid: u32, native: &[u64], ids: &mut Vec<FrameId>) {
        let st = native_stack(&mut self.native, pid, native);
        let intern = |f: &NativeFrame, profile: &mut Profile| {
            profile.intern_frame(FrameInfo {
                name: f.name.clone(),
                file: f.module.clone(),
                line: 0,
                first_line: 0,
                kind: FrameKind::Native,
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
                let replaced: Vec<FrameId> = frames
                    .iter()
                    .rev()
                    .map(|f| intern(f, &mut self.profile))
                    .collect();
                ids.splice(pos..=pos, replaced);
            }
        }
        if !st.complete {
            self.native_incomplete += 1;
            ids.push(
                self.profile
                    .intern_frame(FrameInfo::marker(NATIVE_INCOMPLETE)),
            );
        }
        if let Some(leaf) = st.segments.first() {
            for f in leaf.iter().rev() {
                ids.push(intern(f, &mut self.profile));
            }
        }
    }

    /// A thread whose off-CPU stack we hold runs again: its stack weighs the
    /// time it was away.
    fn on_switch_in(&mut self, tid: u32, in_ktime: u64) {
        if let Some(p) = self.off_cpu.remove(&tid) {
            self.add_off_cpu(p, in_ktime);
        }
    }

    fn add_off_cpu(&mut self, p: PendingOffCpu, until_ktime: u64) {
        self.profile.add_sample(TimedSample {
            time_ns: p.out_ktime.saturating_sub(self.start_ktime),
            key: p.key,
            weight_ns: until_ktime.saturating_sub(p.out_ktime),
            flags: p.flags,
            cpu: p.cpu,
        });
    }

    fn on_record(&mut self, bytes: &[u8]) {
        match decode(bytes) {
            Some(Record::Sample {
                header,
                frames,
                native,
                kernel,
            }) => self.on_sample(header, frames, &native, &kernel),
            Some(Record::SwitchIn(ev)) => self.on_switch_in(ev.aux, ev.ktime_ns),
            Some(Record::Exec(ev)) => self.on_exec(ev.pid),
            Some(Record::Fork(ev)) => self.on_fork(ev.pid, ev.aux),
            Some(Record::Exit(ev)) => self.forget(ev.pid),
            None => log::debug!("undecodable record of {} bytes", bytes.len()),
        }
    }

    /// True when every explicitly requested process has exited.
    fn all_targets_gone(&self) -> bool {
        match &self.opts.targets {
            Targets::AllPython => false,
            Targets::Pids(_) => self.symbols.keys().all(|p| self.exited.contains(p)),
        }
    }
}

/// What the checks before loading anything found, for [`run`].
#[derive(Debug)]
pub struct Preflight {
    /// The requested processes, inspected.
    pub initial: Vec<PythonProcess>,
    /// The kernel's layout, from vmlinux BTF (parsed once).
    kernel: kernel::KernelLayout,
}

/// Checks privileges and BTF and inspects the requested pids before anything
/// is loaded, so bad input fails fast.
pub fn preflight(opts: &SessionOptions) -> Result<Preflight, SessionError> {
    kernel::check_privileges()?;
    let kernel = kernel::kernel_layout()?;
    let mut inspector = Inspector::new();
    let mut initial = Vec::new();
    if let Targets::Pids(pids) = &opts.targets {
        for &pid in pids {
            initial.push(inspector.inspect(pid)?);
        }
    }
    Ok(Preflight { initial, kernel })
}

/// Runs a session until the duration ends, `stop` completes, or every
/// requested process has exited. Returns the profile and the summary.
pub async fn run(
    opts: SessionOptions,
    ready: Preflight,
    stop: impl Future<Output = ()>,
) -> Result<(Profile, Summary), SessionError> {
    let config = Config {
        task_fsbase: ready.kernel.task_fsbase,
        task_pid: ready.kernel.task_pid,
        task_tgid: ready.kernel.task_tgid,
        task_state: ready.kernel.task_state,
        switch_state_arg: ready.kernel.switch_state_arg as u32,
        kernel_stacks: opts.kernel_stacks as u32,
        native_stacks: opts.native_stacks as u32,
        _pad: 0,
    };
    // Kernel frames (and the off-CPU `lock` reason drawn from them) exist
    // only with --kernel.
    let kallsyms = if opts.kernel_stacks {
        KernelSymbols::load().unwrap_or_default()
    } else {
        KernelSymbols::default()
    };
    log::debug!("kernel config: {config:?}");
    let started = Instant::now();
    let start_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut sampler = Sampler::start(config, opts.rate_hz, opts.mode.needs_off_cpu())?;
    let ring = sampler.take_events().ok_or(BpfError::Missing("EVENTS"))?;
    // SAFETY: the ring buffer owns its map fd; the AsyncFd owns the ring
    // buffer, so the fd stays open and unchanged while it is registered.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| SessionError::Ring(e.into()))?;
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel();
    let mut meta = ProfileMeta {
        rate_hz: opts.rate_hz,
        start_unix_ns,
        mode: opts.mode.name().into(),
        ..Default::default()
    };
    meta.duration_ns = 0;
    let mut profile = Profile::new(meta);
    if opts.keep_timeline {
        profile.keep_timeline();
    }
    let mut engine = Engine {
        period_ns: 1_000_000_000 / opts.rate_hz.max(1),
        opts,
        sampler,
        inspector: Inspector::new(),
        symbols: HashMap::default(),
        exited: HashSet::new(),
        profile,
        start_ktime: monotonic_ns(),
        retry_tx,
        off_cpu: HashMap::default(),
        kallsyms,
        kernel_frames: HashMap::default(),
        ids: Vec::new(),
        native_id: 0,
        native: NativeSymbols::new(),
        native_incomplete: 0,
    };
    engine.native_id = engine
        .profile
        .intern_frame(FrameInfo::marker(crate::symbolize::NATIVE));
    for p in ready.initial {
        engine.track(p)?;
    }
    if engine.wants_all() {
        let me = std::process::id();
        for pid in process::all_pids() {
            if pid != me && !engine.symbols.contains_key(&pid) {
                match engine.inspector.inspect(pid) {
                    Ok(p) => engine.track(p)?,
                    Err(e @ InspectError::Unsupported { .. }) => log::warn!("{e}"),
                    Err(_) => {}
                }
            }
        }
    }

    eprintln!(
        "tachyon-bpf: sampling {} Python process{} at {} Hz on {} CPUs{}",
        engine.symbols.len(),
        if engine.symbols.len() == 1 { "" } else { "es" },
        engine.opts.rate_hz,
        engine.sampler.cpus,
        if engine.wants_all() {
            ", following new ones"
        } else {
            ""
        }
    );
    let deadline = engine
        .opts
        .duration
        .map(|d| tokio::time::Instant::now() + d);
    let sleep_until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);
    tokio::pin!(stop);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    // Samples do not wake us up (see the kernel side): drain on a timer.
    let mut drain = tokio::time::interval(Duration::from_millis(4));
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.map_err(SessionError::Ring)?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    engine.on_record(&item);
                }
                guard.clear_ready();
            }
            _ = drain.tick() => {
                let rb = ring.get_mut();
                while let Some(item) = rb.next() {
                    engine.on_record(&item);
                }
            }
            Some((pid, attempt)) = retry_rx.recv() => engine.inspect_new(pid, attempt),
            _ = &mut sleep_until_deadline => break,
            _ = &mut stop => break,
            _ = check.tick() => {
                if engine.all_targets_gone() {
                    break;
                }
            }
        }
    }
    // Whatever the kernel wrote before we stopped still counts.
    {
        let rb = ring.get_mut();
        while let Some(item) = rb.next() {
            engine.on_record(&item);
        }
    }
    // Threads still off CPU at the end weigh the time until now.
    let now = monotonic_ns();
    for (_, p) in std::mem::take(&mut engine.off_cpu) {
        engine.add_off_cpu(p, now);
    }
    let counters = engine.sampler.counters();
    let duration = started.elapsed();
    engine.profile.meta.duration_ns = duration.as_nanos() as u64;
    let summary = Summary {
        duration,
        processes: engine
            .profile
            .processes
            .values()
            .filter(|p| !p.threads.is_empty())
            .count(),
        threads: engine
            .profile
            .processes
            .values()
            .map(|p| p.threads.len())
            .sum(),
        samples: engine.profile.total_samples(),
        lost: counters[counter::LOST as usize],
        truncated: counters[counter::TRUNCATED as usize],
        unsymbolized: engine.symbols.values().map(|s| s.failures).sum(),
        read_errors: counters[counter::READ_ERRORS as usize],
        no_thread_state: counters[counter::NO_TSTATE as usize],
        events_lost: counters[counter::EVENTS_LOST as usize],
        native_incomplete: engine.native_incomplete,
    };
    // Processes that never produced a sample are not part of the profile.
    engine
        .profile
        .processes
        .retain(|_, p| !p.threads.is_empty());
    Ok((engine.profile, summary))
}
