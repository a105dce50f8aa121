//! One profiling run: wires the stages together.
//!
//! kernel events ([`crate::bpf`], [`crate::record`]) → process tracker
//! ([`crate::tracker`]) → symbols ([`crate::symbolize`], [`crate::native`],
//! [`crate::kallsyms`]) → stack assembly ([`crate::assembly`]) →
//! aggregation ([`crate::profile`]). Each stage is tested on its own; this
//! module only carries the tracker's decisions out and runs the loop.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aya::maps::{MapData, RingBuf};
use aya_log::EbpfLogger;
use tachyon_common::{counter, Config, ProcInfo, SampleHeader, SAMPLE_OFF_CPU};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use crate::assembly::{Assembler, AssemblyOptions, OffCpuBook};
use crate::bpf::{BpfError, Sampler};
use crate::container::{PlaceCache, PlaceFilter, DEFAULT_CACHE_CAPACITY};
use crate::kallsyms::KernelSymbols;
use crate::kernel::{self, KernelError};
use crate::mode::Mode;
use crate::native::{native_stack, NativeSymbols};
use crate::procfs;
use crate::profile::{
    FrameId, ProcessOwner, ProcessPlace, ProcessSlots, Profile, ProfileMeta, StackKey, TimedSample,
};
use crate::python::layout::version_slot;
use crate::python::process::{InspectError, Inspector, PythonProcess};
use crate::record::{decode, FrameIter, Record};
use crate::states::ProcessStates;
pub use crate::summary::Summary;
use crate::symbolize::ProcessSymbols;
pub use crate::tracker::Targets;
use crate::tracker::{Action, ProcessKey, SystemHost, Tracker};

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
    /// Stream the kernel side's diagnostics (`--debug-ebpf`).
    pub debug_ebpf: bool,
    /// `--container` / `--cgroup`: profile only processes running there.
    pub filters: Vec<PlaceFilter>,
    /// Start even if no container or cgroup matches a filter yet (`--wait`).
    pub wait: bool,
    /// Docker's data root, for container names and images.
    pub docker_root: PathBuf,
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
    #[error("{0} matches nothing running now (give --wait to start anyway and pick it up when it appears)")]
    NothingMatches(PlaceFilter),
}

/// Continuous mode: every `interval` the window that ends goes to `sink`
/// (and the last one when the run stops).
pub struct Windows {
    pub interval: Duration,
    pub sink: Box<dyn FnMut(Profile, WindowStats)>,
}

/// What one window held and lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub samples: u64,
    pub processes: usize,
    /// Samples the ring buffer could not take during the window.
    pub lost: u64,
    /// Ticks of threads without Python state during the window.
    pub no_thread_state: u64,
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
    host: SystemHost,
    tracker: Tracker,
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
    /// Unsymbolized frames and cache evictions of processes whose state is
    /// gone.
    freed_failures: u64,
    freed_evictions: u64,
    processes_freed: u64,
    /// Kernel counters at the end of the previous window.
    window_counters: [u64; counter::COUNT as usize],
    windowed: WindowTotals,
}

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
            freed_failures: 0,
            freed_evictions: 0,
            processes_freed: 0,
            window_counters: [0; counter::COUNT as usize],
            windowed: WindowTotals::default(),
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
        if let Some((_, old)) = self.symbols.insert(key, ProcessSymbols::new(proc)) {
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
        self.symbols.retire(key, Instant::now());
    }

    fn free(&mut self, s: ProcessSymbols) {
        self.freed_failures += s.failures;
        self.freed_evictions += s.evictions;
        self.processes_freed += 1;
    }

    /// Frees the state of processes whose last samples are in; forgets
    /// followed processes that are gone.
    fn housekeeping(&mut self) {
        for (key, s) in self.symbols.expire(Instant::now()) {
            self.free(s);
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
        let Some(sym) = self.symbols.get_mut(header.pid) else {
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

    /// Hands the window that ends now to `sink` and starts the next one;
    /// processes that are gone leave the live profile.
    fn close_window(&mut self, windows: &mut Windows) {
        let now_ns = monotonic_ns().saturating_sub(self.start_ktime);
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
            }
        }
        let live = self.slots.current_keys();
        self.profile.processes.retain(|k, _| live.contains(k));
        self.windowed.seen.retain(|k| live.contains(k));
        self.windowed.seen_threads.retain(|(k, _)| live.contains(k));
        (windows.sink)(w, stats);
    }

    /// Closes the profile: threads still off CPU weigh the time until now,
    /// the counters go into the summary.
    /// Threads still off CPU weigh the time until now.
    fn flush_off_cpu(&mut self) {
        for s in self.off_cpu.drain(monotonic_ns()) {
            self.profile.add_sample(s);
        }
    }

    fn finish(mut self, duration: Duration) -> (Profile, Summary) {
        self.flush_off_cpu();
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
    if !opts.wait {
        check_filters(&opts.filters, &opts.docker_root)?;
    }
    Ok(Preflight { initial, kernel })
}

/// Fails when a filter matches no process running now (a misspelt
/// container name should not start an empty profile).
fn check_filters(
    filters: &[PlaceFilter],
    docker_root: &std::path::Path,
) -> Result<(), SessionError> {
    if filters.is_empty() {
        return Ok(());
    }
    let mut cache = PlaceCache::new(docker_root, DEFAULT_CACHE_CAPACITY);
    let places: Vec<ProcessPlace> = procfs::all_pids()
        .into_iter()
        .map(|pid| cache.place_of(pid).to_profile())
        .collect();
    for f in filters {
        if !places.iter().any(|p| f.matches(p)) {
            return Err(SessionError::NothingMatches(f.clone()));
        }
    }
    Ok(())
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
    Sampler::start(
        config,
        opts.rate_hz,
        opts.mode.needs_off_cpu(),
        opts.debug_ebpf,
    )
}

/// Runs a session until the duration ends, `stop` completes, or every
/// requested process has exited. Returns the profile and the summary.
///
/// With `windows`, the profile is cut into windows as it goes; the last one
/// is handed over when the run stops, and the profile returned is empty.
pub async fn run(
    opts: SessionOptions,
    ready: Preflight,
    stop: impl Future<Output = ()>,
    mut windows: Option<Windows>,
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
    let mut kernel_logs = KernelLogs::new(sampler.take_logger())?;
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
    let window_every = windows
        .as_ref()
        .map_or(Duration::from_secs(3600), |w| w.interval);
    let mut window =
        tokio::time::interval_at(tokio::time::Instant::now() + window_every, window_every);
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
            _ = kernel_logs.ready() => {}
            _ = window.tick(), if windows.is_some() => {
                if let Some(w) = windows.as_mut() {
                    engine.close_window(w);
                }
            }
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
    kernel_logs.flush();
    if let Some(w) = windows.as_mut() {
        engine.flush_off_cpu();
        engine.close_window(w);
    }
    Ok(engine.finish(started.elapsed()))
}

/// The kernel side's log records (`--debug-ebpf`), forwarded to the `log`
/// crate (target `tachyon_ebpf`) as they come.
struct KernelLogs(Option<AsyncFd<EbpfLogger<&'static dyn log::Log>>>);

impl KernelLogs {
    fn new(logger: Option<EbpfLogger<&'static dyn log::Log>>) -> Result<Self, SessionError> {
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
    async fn ready(&mut self) {
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
    fn flush(&mut self) {
        if let Some(fd) = self.0.as_mut() {
            fd.get_mut().flush();
        }
    }
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
