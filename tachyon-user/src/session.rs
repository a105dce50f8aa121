//! One profiling run: wires the stages together.
//!
//! kernel events ([`crate::bpf`], [`crate::record`]) → process tracker
//! ([`crate::tracker`]) → symbols ([`crate::symbolize`], [`crate::native`],
//! [`crate::kallsyms`]) → stack assembly ([`crate::assembly`]) →
//! aggregation ([`crate::profile`]). Each stage is tested on its own; this
//! module only carries the tracker's decisions out and runs the loop.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aya::maps::{MapData, RingBuf};
use rustc_hash::FxHashMap as HashMap;
use tachyon_common::{counter, Config, ProcInfo, SampleHeader, SAMPLE_OFF_CPU};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use crate::assembly::{Assembler, AssemblyOptions, OffCpuBook};
use crate::bpf::{BpfError, Sampler};
use crate::kallsyms::KernelSymbols;
use crate::kernel::{self, KernelError};
use crate::mode::Mode;
use crate::native::{native_stack, NativeSymbols};
use crate::procfs;
use crate::profile::{FrameId, ProcessSlots, Profile, ProfileMeta, StackKey, TimedSample};
use crate::python::layout::version_slot;
use crate::python::process::{InspectError, Inspector, PythonProcess};
use crate::record::{decode, FrameIter, Record};
pub use crate::summary::Summary;
use crate::symbolize::ProcessSymbols;
pub use crate::tracker::Targets;
use crate::tracker::{Action, ProcessKey, Tracker};

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

/// How long the state of a process that exited is kept for its samples
/// still in the ring buffer.
const RETIRE_AFTER: Duration = Duration::from_millis(500);
/// Records handled per turn of the loop, so that a burst (or a slow
/// symbolization) never keeps Ctrl-C, the deadline or retries waiting.
const DRAIN_BUDGET: usize = 4096;

fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// State of a running session.
struct Engine {
    opts: SessionOptions,
    sampler: Sampler,
    host: Inspector,
    tracker: Tracker,
    /// Symbol state of each profiled pid (and of exited ones until their
    /// last samples are in).
    symbols: HashMap<u32, ProcessSymbols>,
    /// Exited processes whose state goes at the given time.
    retiring: Vec<(Instant, ProcessKey)>,
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
    /// Unsymbolized frames and cache evictions of processes whose state is
    /// gone.
    freed_failures: u64,
    freed_evictions: u64,
    processes_freed: u64,
}

impl Engine {
    fn new(
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
            tracker: Tracker::new(opts.targets.clone(), opts.follow_children),
            opts,
            sampler,
            host: Inspector::new(),
            symbols: HashMap::default(),
            retiring: Vec::new(),
            profile,
            slots: ProcessSlots::default(),
            assembler,
            off_cpu: OffCpuBook::new(start_ktime),
            start_ktime,
            retry_tx,
            kallsyms,
            native: NativeSymbols::new(),
            ids: Vec::new(),
            freed_failures: 0,
            freed_evictions: 0,
            processes_freed: 0,
        }
    }

    /// Starts profiling the requested processes and, with `--all-python`,
    /// every Python process running now; says how many.
    fn start(&mut self, initial: Vec<PythonProcess>) {
        let me = std::process::id();
        let pids: Vec<u32> = procfs::all_pids()
            .into_iter()
            .filter(|&p| p != me)
            .collect();
        let actions = self.tracker.start(&mut self.host, initial, &pids);
        self.apply(actions);
        announce(self);
    }

    /// Carries out what the tracker decided.
    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Track { key, process } => self.track(key, process),
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

    fn track(&mut self, key: ProcessKey, proc: PythonProcess) {
        let pid = key.pid;
        let info = ProcInfo {
            runtime_addr: proc.runtime_addr,
            version_slot: version_slot(proc.layout.minor),
            _pad: 0,
            none_addr: proc.none_addr,
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
        log::debug!("tracking {} pid {pid} (Python {})", proc.comm, proc.version);
        self.retiring.retain(|(_, k)| k.pid != pid);
        if let Some(old) = self.symbols.insert(pid, ProcessSymbols::new(proc)) {
            self.free(old);
        }
    }

    fn untrack(&mut self, key: ProcessKey) {
        self.sampler.untrack(key.pid);
        self.native.forget(key.pid);
        let slot = self.slots.key(key.pid);
        for s in self.off_cpu.forget_process(slot, monotonic_ns()) {
            self.profile.add_sample(s);
        }
        self.retiring.push((Instant::now() + RETIRE_AFTER, key));
    }

    fn free(&mut self, s: ProcessSymbols) {
        self.freed_failures += s.failures;
        self.freed_evictions += s.evictions;
        self.processes_freed += 1;
    }

    /// Frees the state of processes whose last samples are in; forgets
    /// followed processes that are gone.
    fn housekeeping(&mut self) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retiring = keep;
        for (_, key) in due {
            if self.tracker.key_of(key.pid).is_none() {
                if let Some(s) = self.symbols.remove(&key.pid) {
                    self.free(s);
                }
            }
            self.slots.release(key.pid, key.start_time);
        }
        self.tracker.prune(&self.host);
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
        self.profile
            .note_thread(slot, tid, || procfs::thread_comm(pid, tid));
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
            None => {
                log::debug!("undecodable record of {} bytes", bytes.len());
                return;
            }
        };
        self.apply(actions);
    }

    /// Handles at most [`DRAIN_BUDGET`] records; true if more may wait.
    fn drain(&mut self, rb: &mut RingBuf<MapData>) -> bool {
        for _ in 0..DRAIN_BUDGET {
            match rb.next() {
                Some(item) => self.on_record(&item),
                None => return false,
            }
        }
        true
    }

    /// Closes the profile: threads still off CPU weigh the time until now,
    /// the counters go into the summary.
    fn finish(mut self, duration: Duration) -> (Profile, Summary) {
        for s in self.off_cpu.drain(monotonic_ns()) {
            self.profile.add_sample(s);
        }
        let counters = self.sampler.counters();
        self.profile.meta.duration_ns = duration.as_nanos() as u64;
        let live = self.profile.processes.values();
        let summary = Summary {
            duration,
            processes: live.clone().filter(|p| !p.threads.is_empty()).count(),
            threads: live.map(|p| p.threads.len()).sum(),
            samples: self.profile.total_samples(),
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
                + self.host.evictions()
                + self.native.evictions(),
        };
        // Processes that never produced a sample are not part of the profile.
        self.profile.processes.retain(|_, p| !p.threads.is_empty());
        (self.profile, summary)
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

/// Loads and attaches the kernel side for `opts`.
fn start_sampler(opts: &SessionOptions, k: &kernel::KernelLayout) -> Result<Sampler, BpfError> {
    let config = Config {
        task_fsbase: k.task_fsbase,
        task_pid: k.task_pid,
        task_tgid: k.task_tgid,
        task_state: k.task_state,
        switch_state_arg: k.switch_state_arg as u32,
        kernel_stacks: opts.kernel_stacks as u32,
        native_stacks: opts.native_stacks as u32,
        _pad: 0,
    };
    log::debug!("kernel config: {config:?}");
    Sampler::start(config, opts.rate_hz, opts.mode.needs_off_cpu())
}

/// Runs a session until the duration ends, `stop` completes, or every
/// requested process has exited. Returns the profile and the summary.
pub async fn run(
    opts: SessionOptions,
    ready: Preflight,
    stop: impl Future<Output = ()>,
) -> Result<(Profile, Summary), SessionError> {
    // Kernel frames (and the off-CPU `lock` reason drawn from them) exist
    // only with --kernel.
    let kallsyms = match opts.kernel_stacks {
        true => KernelSymbols::load().unwrap_or_default(),
        false => KernelSymbols::default(),
    };
    let started = Instant::now();
    let mut sampler = start_sampler(&opts, &ready.kernel)?;
    let mut ring = ring_of(&mut sampler)?;
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel();
    let mut engine = Engine::new(opts, sampler, kallsyms, retry_tx);
    engine.start(ready.initial);
    let deadline = engine
        .opts
        .duration
        .map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline, stop);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    // Samples do not wake us up (see the kernel side): drain on a timer.
    let mut drain = tokio::time::interval(Duration::from_millis(4));
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.map_err(SessionError::Ring)?;
                if !engine.drain(guard.get_inner_mut()) {
                    guard.clear_ready();
                }
            }
            _ = drain.tick() => { engine.drain(ring.get_mut()); }
            Some((pid, attempt)) = retry_rx.recv() => {
                let actions = engine.tracker.inspect(&mut engine.host, pid, attempt);
                engine.apply(actions);
            }
            _ = &mut until_deadline => break,
            _ = &mut stop => break,
            _ = check.tick() => {
                engine.housekeeping();
                if engine.tracker.all_targets_gone() {
                    break;
                }
            }
        }
    }
    // Whatever the kernel wrote before we stopped still counts.
    while engine.drain(ring.get_mut()) {}
    Ok(engine.finish(started.elapsed()))
}

/// The ring buffer, registered with the runtime.
fn ring_of(sampler: &mut Sampler) -> Result<AsyncFd<RingBuf<MapData>>, SessionError> {
    let ring = sampler.take_events().ok_or(BpfError::Missing("EVENTS"))?;
    // SAFETY: the ring buffer owns its map fd; the AsyncFd owns the ring
    // buffer, so the fd stays open and unchanged while it is registered.
    unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| SessionError::Ring(e.into()))
}

fn announce(engine: &Engine) {
    let n = engine.tracker.live();
    eprintln!(
        "tachyon-bpf: sampling {n} Python process{} at {} Hz on {} CPUs{}",
        if n == 1 { "" } else { "es" },
        engine.opts.rate_hz,
        engine.sampler.cpus,
        match engine.opts.targets {
            Targets::AllPython => ", following new ones",
            Targets::Pids(_) => "",
        }
    );
}
