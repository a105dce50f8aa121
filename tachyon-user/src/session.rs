//! One profiling run: wires the stages together.
//!
//! kernel events ([`crate::bpf`], [`crate::record`]) → process tracker
//! ([`crate::tracker`]) → symbols ([`crate::symbolize`], [`crate::native`],
//! [`crate::kallsyms`]) → stack assembly ([`crate::assembly`]) →
//! aggregation ([`crate::profile`]). Each stage is tested on its own; this
//! module only carries the tracker's decisions out and runs the loop.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tachyon_common::Config;
use tokio::sync::mpsc;

use crate::bpf::{BpfError, Sampler};
use crate::container::{PlaceCache, PlaceFilter, DEFAULT_CACHE_CAPACITY};
use crate::drain::{DrainClock, DrainMode, DrainPolicy};
use crate::engine::{ring_of, Engine, KernelLogs};
use crate::kallsyms::KernelSymbols;
use crate::kernel::{self, KernelError};
use crate::mode::Mode;
use crate::procfs;
use crate::profile::{ProcessPlace, Profile};
use crate::python::asyncio_offsets::{AsyncioError, FIRST_ASYNCIO_MINOR};
use crate::python::process::{InspectError, Inspector, PythonProcess};
pub use crate::summary::Summary;
pub use crate::tracker::Targets;

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
    /// `--async-aware`: asyncio stacks per task, and which tasks.
    pub async_mode: Option<crate::async_stacks::AsyncMode>,
    /// Each frame carries the instruction it was executing and its
    /// columns (`--opcodes`).
    pub opcodes: bool,
    /// Stream the kernel side's diagnostics (`--debug-ebpf`).
    pub debug_ebpf: bool,
    /// `--container` / `--cgroup`: profile only processes running there.
    pub filters: Vec<PlaceFilter>,
    /// Start even if no container or cgroup matches a filter yet (`--wait`).
    pub wait: bool,
    /// Docker's data root, for container names and images.
    pub docker_root: PathBuf,
    /// What to show on stderr while sampling.
    pub progress: crate::progress::Progress,
    /// The live view's feed (`top`, `--live`): a snapshot every second.
    pub live: Option<crate::top::Feed>,
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
    #[error(transparent)]
    Asyncio(#[from] crate::python::asyncio_offsets::AsyncioError),
    #[error("ring buffer: {0}")]
    Ring(std::io::Error),
    #[error("--async-mode all books the time tasks spend waiting, which is wall time: use it with --mode wall (the default)")]
    AsyncAllNeedsWall,
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

/// What the checks before loading anything found, for [`run`].
#[derive(Debug)]
pub struct Preflight {
    /// The requested processes, inspected.
    pub initial: Vec<PythonProcess>,
    /// Processes followed until they or their descendants run Python:
    /// requested ones that run none yet (with `--subprocesses`), and the
    /// command `run` starts, pushed here before it execs.
    pub follow: Vec<u32>,
    /// The kernel's layout, from vmlinux BTF (parsed once).
    kernel: kernel::KernelLayout,
}

/// Checks privileges and BTF and inspects the requested pids before anything
/// is loaded, so bad input fails fast.
pub fn preflight(opts: &SessionOptions) -> Result<Preflight, SessionError> {
    if opts.async_mode == Some(crate::async_stacks::AsyncMode::All) && opts.mode != Mode::Wall {
        return Err(SessionError::AsyncAllNeedsWall);
    }
    kernel::check_privileges()?;
    let kernel = kernel::kernel_layout()?;
    let mut inspector = Inspector::new();
    let mut initial = Vec::new();
    let mut follow = Vec::new();
    if let Targets::Pids(pids) = &opts.targets {
        for &pid in pids {
            match inspector.inspect(pid) {
                Ok(p) if opts.async_mode.is_some() && p.layout.minor < FIRST_ASYNCIO_MINOR => {
                    return Err(AsyncioError::Unsupported {
                        pid,
                        version: p.version,
                    }
                    .into())
                }
                Ok(p) => initial.push(p),
                // A shell or launcher: its descendants may run Python.
                Err(InspectError::NotPython { .. } | InspectError::NoRuntime { .. })
                    if opts.follow_children =>
                {
                    follow.push(pid)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if !opts.wait {
        check_filters(&opts.filters, &opts.docker_root)?;
    }
    Ok(Preflight {
        initial,
        follow,
        kernel,
    })
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

/// Loads and attaches the kernel side for `opts`, with the ring buffer and
/// wake-up policy the rate, the CPU count and the mode call for.
fn start_sampler(
    opts: &SessionOptions,
    k: &kernel::KernelLayout,
) -> Result<(Sampler, DrainPolicy), BpfError> {
    let config = Config {
        task_fsbase: k.task_fsbase,
        task_pid: k.task_pid,
        task_tgid: k.task_tgid,
        task_state: k.task_state,
        switch_state_arg: k.switch_state_arg as u32,
        kernel_stacks: opts.kernel_stacks as u32,
        native_stacks: opts.native_stacks as u32,
        opcodes: opts.opcodes as u32,
        thread_flags: opts
            .mode
            .kernel_thread_flags(opts.keep_timeline, opts.show_gc),
    };
    log::debug!("kernel config: {config:?}");
    let drain = DrainPolicy::new(
        opts.rate_hz,
        crate::bpf::online_cpu_count()?,
        opts.mode.needs_off_cpu(),
    );
    log::debug!("drain policy: {drain:?}");
    let sampler = Sampler::start(
        config,
        opts.rate_hz,
        opts.mode.needs_off_cpu(),
        opts.debug_ebpf,
        &drain,
    )?;
    Ok((sampler, drain))
}

/// Runs a session until the duration ends, `stop` completes, or every
/// requested process has exited. Returns the profile and the summary.
/// `on_started` is called once sampling is on and the targets are followed
/// (`run` lets its command exec then).
///
/// With `windows`, the profile is cut into windows as it goes; the last one
/// is handed over when the run stops, and the profile returned is empty.
pub async fn run(
    opts: SessionOptions,
    ready: Preflight,
    stop: impl Future<Output = ()>,
    mut windows: Option<Windows>,
    on_started: impl FnOnce(),
) -> Result<(Profile, Summary), SessionError> {
    // Kernel frames (and the off-CPU `lock` reason drawn from them) exist
    // only with --kernel.
    let kallsyms = match opts.kernel_stacks {
        true => KernelSymbols::load().unwrap_or_default(),
        false => KernelSymbols::default(),
    };
    let started = Instant::now();
    let (mut sampler, drain) = start_sampler(&opts, &ready.kernel)?;
    let mut ring = ring_of(&mut sampler)?;
    let mut kernel_logs = KernelLogs::new(sampler.take_logger())?;
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel();
    let mut engine = Engine::new(opts, sampler, kallsyms, retry_tx);
    engine.start(ready.initial, &ready.follow);
    // What start-up allocated and freed (the first scan of /proc, the
    // binaries read) goes back to the system.
    crate::memory::give_back();
    let (rss, peak) = crate::memory::rss_kib();
    log::debug!("memory after start-up: RSS {rss} KiB, peak {peak} KiB");
    on_started();
    let until_deadline = sleep_for(engine.opts.duration);
    let mut reporter = crate::progress::Reporter::new(engine.opts.progress, engine.opts.duration);
    tokio::pin!(until_deadline, stop);
    let mut ticks = Ticks::new(
        windows.as_ref().map(|w| w.interval),
        drain.mode,
        housekeeping_interval(&engine.opts.targets),
    );
    let mut clock = DrainClock::default();
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.map_err(SessionError::Ring)?;
                match drain.mode {
                    DrainMode::Timer(_) => {
                        if !engine.drain(guard.get_inner_mut()) {
                            guard.clear_ready();
                        }
                    }
                    // The kernel woke us: drain a little later, so that
                    // one wake-up serves many records (or at once when it
                    // is the second one). With nothing profiled no sample
                    // can come: a process event woke us, handled at once
                    // (one wake-up per exec, not two, and no delay).
                    DrainMode::OnData(delay) => {
                        guard.clear_ready();
                        if engine.samples_expected() {
                            clock.woken(std::time::Instant::now(), delay);
                        } else {
                            let more = engine.drain(guard.get_inner_mut());
                            clock.drained(std::time::Instant::now(), more);
                        }
                    }
                }
            }
            // Only while samples can come: a process event finds the
            // reader caught up (nothing profiled, nothing left in the ring
            // once the last state's grace period is over), so it wakes it.
            _ = ticks.drain.tick(), if matches!(drain.mode, DrainMode::Timer(_)) && engine.samples_expected() => {
                engine.drain(ring.get_mut());
            }
            _ = sleep_until(clock.due()) => {
                let more = engine.drain(ring.get_mut());
                clock.drained(std::time::Instant::now(), more);
            }
            _ = kernel_logs.ready() => {}
            _ = ticks.window.tick(), if windows.is_some() => {
                if let Some(w) = windows.as_mut() {
                    // Every sample taken so far belongs to this window.
                    while engine.drain(ring.get_mut()) {}
                    engine.close_window(w);
                }
            }
            Some((pid, attempt)) = retry_rx.recv() => engine.retry(pid, attempt),
            _ = &mut until_deadline => break,
            _ = &mut stop => break,
            _ = ticks.live.tick(), if engine.opts.live.is_some() => {
                engine.send_snapshot(started.elapsed());
            }
            _ = ticks.stats.tick(), if reporter.enabled() => {
                reporter.update(engine.live_stats(started.elapsed()));
            }
            _ = ticks.check.tick(), if engine.housekeeping_due() => {
                engine.housekeeping();
                if engine.tracker.all_targets_gone(&engine.host) {
                    break;
                }
            }
        }
    }
    reporter.finish();
    // Nothing more is written from here: the counters read at the end
    // count exactly what the last drain and log flush see.
    engine.sampler.stop();
    // Whatever the kernel wrote before we stopped still counts.
    while engine.drain(ring.get_mut()) {}
    kernel_logs.flush();
    if let Some(w) = windows.as_mut() {
        engine.flush_off_cpu();
        engine.close_window(w);
    }
    Ok(engine.finish(started.elapsed()))
}

/// Completes after `duration`, or never.
async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Completes at `due`, or never.
async fn sleep_until(due: Option<std::time::Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// How often the loop frees the state of exited processes and checks
/// whether the `--pid` targets are gone: every 100 ms for those (the run
/// ends soon after its targets), every 500 ms for `--all-python`, which
/// never ends on its own, and only while there is something to free or
/// follow ([`Engine::housekeeping_due`]).
pub fn housekeeping_interval(targets: &Targets) -> Duration {
    match targets {
        Targets::AllPython => Duration::from_millis(500),
        Targets::Pids(_) => Duration::from_millis(100),
    }
}

/// The loop's timers.
struct Ticks {
    /// Housekeeping and the end of `--pid` targets.
    check: tokio::time::Interval,
    /// At 1 kHz and above samples do not wake the loop (see
    /// [`crate::drain`]): it drains on this timer.
    drain: tokio::time::Interval,
    /// The end of a window (continuous mode).
    window: tokio::time::Interval,
    /// Live progress (`--realtime-stats`, the bar).
    stats: tokio::time::Interval,
    /// Snapshots for the live view.
    live: tokio::time::Interval,
}

impl Ticks {
    fn new(window: Option<Duration>, drain_mode: DrainMode, check_every: Duration) -> Self {
        let every = window.unwrap_or(Duration::from_secs(3600));
        // Only polled in timer mode (an unpolled interval sets no timer).
        let drain_every = match drain_mode {
            DrainMode::Timer(every) => every,
            DrainMode::OnData(_) => Duration::from_secs(3600),
        };
        let mut drain = tokio::time::interval(drain_every);
        drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut check = tokio::time::interval(check_every);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Self {
            check,
            drain,
            window: tokio::time::interval_at(tokio::time::Instant::now() + every, every),
            stats: tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(1),
                Duration::from_secs(1),
            ),
            live: tokio::time::interval_at(
                tokio::time::Instant::now() + crate::top::FIRST_REFRESH,
                crate::top::REFRESH,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_python_housekeeps_less_often_than_pids() {
        assert_eq!(
            housekeeping_interval(&Targets::AllPython),
            Duration::from_millis(500)
        );
        assert_eq!(
            housekeeping_interval(&Targets::Pids(vec![1])),
            Duration::from_millis(100)
        );
    }
}
