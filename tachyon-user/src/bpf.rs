//! Loading the eBPF programs, attaching them, and the maps userspace writes.

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{PerfEvent, Program, RawTracePoint};
use aya::util::online_cpus;
use aya::{Ebpf, EbpfLoader};
use aya_log::EbpfLogger;
use tachyon_common::{counter, Config, ProcInfo, PyOffsets, MAX_VERSION_SLOTS};

use crate::drain::DrainPolicy;
use crate::python::layout::{version_slot, LAYOUTS};

/// The kernel object built by `cargo xtask build-ebpf` (see build.rs).
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("TACHYON_EBPF_OBJECT"));

/// Why the kernel side could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("eBPF object has no {0}")]
    Missing(&'static str),
    #[error("kernel-side logging (--debug-ebpf): {0}")]
    Log(#[source] aya_log::Error),
    #[error("cannot turn on the kernel's eBPF run statistics (BPF_ENABLE_STATS): {0}")]
    Stats(#[source] aya::sys::SyscallError),
    #[error("cannot list online CPUs: {0}")]
    Cpus(std::io::Error),
    #[error(
        "all {MAX_VERSION_SLOTS} layout slots are in use (too many distinct interpreter layouts)"
    )]
    SlotsFull,
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> BpfError {
    move |source| BpfError::Map { name, source }
}

fn prog_err(name: &'static str) -> impl Fn(aya::programs::ProgramError) -> BpfError {
    move |source| BpfError::Program { name, source }
}

/// The floor (`tachyon-bpf floor`): the empty `floor` program on every
/// CPU's cpu-clock at a rate, with the kernel's run statistics on, so that
/// it can say how many times it ran.
pub struct Floor {
    ebpf: Ebpf,
    /// `BPF_ENABLE_STATS`: run counts are kept while this is open.
    _stats: std::os::fd::OwnedFd,
    pub cpus: usize,
}

impl Floor {
    pub fn start(rate_hz: u64) -> Result<Self, BpfError> {
        let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(BpfError::Stats)?;
        let mut ebpf = EbpfLoader::new()
            .btf(None)
            .map_max_entries("EVENTS", crate::drain::MIN_RING_BYTES)
            .load(EBPF_OBJECT)?;
        let prog: &mut PerfEvent = ebpf
            .program_mut("floor")
            .ok_or(BpfError::Missing("floor"))?
            .try_into()
            .map_err(prog_err("floor"))?;
        prog.load().map_err(prog_err("floor"))?;
        let cpus = attach_on_every_cpu(prog, "floor", rate_hz)?;
        Ok(Self {
            ebpf,
            _stats: stats,
            cpus,
        })
    }

    /// How many times the program ran so far, on all CPUs, and the time it
    /// ran for.
    pub fn runs(&self) -> Result<(u64, std::time::Duration), BpfError> {
        let prog: &PerfEvent = self
            .ebpf
            .program("floor")
            .ok_or(BpfError::Missing("floor"))?
            .try_into()
            .map_err(prog_err("floor"))?;
        let info = prog.info().map_err(prog_err("floor"))?;
        Ok((info.run_count(), info.run_time()))
    }
}

/// Attaches `prog` to the cpu-clock event of every online CPU at `rate_hz`;
/// returns how many CPUs.
fn attach_on_every_cpu(
    prog: &mut PerfEvent,
    name: &'static str,
    rate_hz: u64,
) -> Result<usize, BpfError> {
    let cpus = online_cpus().map_err(|(_, e)| BpfError::Cpus(e))?;
    for &cpu in &cpus {
        prog.attach(
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            PerfEventScope::AllProcessesOneCpu { cpu },
            // cpu-clock counts nanoseconds: a period gives exact timing.
            SamplePolicy::Period(1_000_000_000 / rate_hz.max(1)),
            false,
        )
        .map_err(prog_err(name))?;
    }
    Ok(cpus.len())
}

/// How many CPUs are online (the sampler attaches on each).
pub fn online_cpu_count() -> Result<usize, BpfError> {
    Ok(online_cpus().map_err(|(_, e)| BpfError::Cpus(e))?.len())
}

/// The loaded and attached sampler.
pub struct Sampler {
    /// Keeps programs and links alive.
    ebpf: Ebpf,
    procs: BpfHashMap<MapData, u32, ProcInfo>,
    /// `OFF_CPU`: threads (tid → tgid) whose next switch-in the kernel
    /// reports (wall mode).
    off_cpu: BpfHashMap<MapData, u32, u32>,
    /// `PY_OFFSETS`, and what each slot holds: the table's rows at their
    /// version slots, layouts built at run time in free slots.
    offsets: Array<MapData, PyOffsets>,
    slots: Vec<Option<PyOffsets>>,
    counters: PerCpuArray<MapData, u64>,
    events: Option<RingBuf<MapData>>,
    /// Number of CPUs the perf program is attached on.
    pub cpus: usize,
    /// The kernel side's log records (`--debug-ebpf`).
    logger: Option<EbpfLogger<&'static dyn log::Log>>,
}

/// `AYA_LOG_LEVEL` of the eBPF object: 0 turns every log statement off
/// (the verifier then drops them); 4 is `debug`.
const LOG_OFF: u8 = 0;
const LOG_DEBUG: u8 = 4;

impl Sampler {
    /// Loads the programs, writes the offset tables and configuration, and
    /// attaches the sampler on every online CPU at `rate_hz` (and, with
    /// `off_cpu`, the context-switch tracepoint of wall mode). The ring
    /// buffer's size and wake-up policy come from `drain` (see
    /// [`crate::drain`]).
    pub fn start(
        config: Config,
        rate_hz: u64,
        off_cpu: bool,
        debug: bool,
        drain: &DrainPolicy,
    ) -> Result<Self, BpfError> {
        let level = if debug { LOG_DEBUG } else { LOG_OFF };
        let wake_on_data = u32::from(drain.wake_on_data());
        // No BTF for the loader: the object has no CO-RE relocations (the
        // kernel's layout comes from userspace). Its parse of vmlinux BTF
        // (about 20 MiB, made by `EbpfLoader::new` whatever we ask) is
        // dropped here and given back to the system once loaded.
        let mut ebpf = EbpfLoader::new()
            .btf(None)
            .override_global("AYA_LOG_LEVEL", &level, true)
            .override_global("EVENTS_WAKEUP_BYTES", &drain.wakeup_bytes, true)
            .override_global("EVENTS_WAKE_ON_DATA", &wake_on_data, true)
            .map_max_entries("EVENTS", drain.ring_bytes)
            .load(EBPF_OBJECT)?;
        crate::memory::give_back();
        let logger = if debug {
            Some(EbpfLogger::init(&mut ebpf).map_err(BpfError::Log)?)
        } else {
            None
        };

        let mut offsets: Array<_, PyOffsets> = Array::try_from(
            ebpf.take_map("PY_OFFSETS")
                .ok_or(BpfError::Missing("PY_OFFSETS"))?,
        )
        .map_err(map_err("PY_OFFSETS"))?;
        let mut slots = vec![None; MAX_VERSION_SLOTS as usize];
        for l in LAYOUTS {
            let slot = version_slot(l.minor);
            if slot < MAX_VERSION_SLOTS {
                offsets
                    .set(slot, l.kernel, 0)
                    .map_err(map_err("PY_OFFSETS"))?;
                slots[slot as usize] = Some(l.kernel);
            }
        }
        let mut cfg: Array<_, Config> =
            Array::try_from(ebpf.take_map("CONFIG").ok_or(BpfError::Missing("CONFIG"))?)
                .map_err(map_err("CONFIG"))?;
        cfg.set(0, config, 0).map_err(map_err("CONFIG"))?;

        let procs = BpfHashMap::try_from(
            ebpf.take_map("PY_PROCS")
                .ok_or(BpfError::Missing("PY_PROCS"))?,
        )
        .map_err(map_err("PY_PROCS"))?;
        let off_cpu_map = BpfHashMap::try_from(
            ebpf.take_map("OFF_CPU")
                .ok_or(BpfError::Missing("OFF_CPU"))?,
        )
        .map_err(map_err("OFF_CPU"))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("COUNTERS")
                .ok_or(BpfError::Missing("COUNTERS"))?,
        )
        .map_err(map_err("COUNTERS"))?;
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").ok_or(BpfError::Missing("EVENTS"))?)
            .map_err(map_err("EVENTS"))?;

        let mut tracepoints = vec![
            "sched_process_exec",
            "sched_process_exit",
            "sched_process_fork",
        ];
        if off_cpu {
            tracepoints.push("sched_switch");
        }
        // Raw tracepoints: attached by name, no tracefs and no parse of
        // kernel BTF (the arguments were checked against it in
        // `kernel::kernel_layout`).
        for name in tracepoints {
            let tp: &mut RawTracePoint = ebpf
                .program_mut(name)
                .ok_or(BpfError::Missing("tracepoint program"))?
                .try_into()
                .map_err(prog_err(name))?;
            tp.load().map_err(prog_err(name))?;
            tp.attach(name).map_err(prog_err(name))?;
        }

        let sample: &mut PerfEvent = ebpf
            .program_mut("sample")
            .ok_or(BpfError::Missing("sample"))?
            .try_into()
            .map_err(prog_err("sample"))?;
        sample.load().map_err(prog_err("sample"))?;
        let cpus = attach_on_every_cpu(sample, "sample", rate_hz)?;
        Ok(Self {
            ebpf,
            procs,
            off_cpu: off_cpu_map,
            offsets,
            slots,
            counters,
            events: Some(events),
            cpus,
            logger,
        })
    }

    /// The `PY_OFFSETS` slot holding `kernel`, written into a free slot the
    /// first time a layout built at run time is seen.
    pub fn slot_for(&mut self, kernel: &PyOffsets) -> Result<u32, BpfError> {
        if let Some(i) = self.slots.iter().position(|s| s.as_ref() == Some(kernel)) {
            return Ok(i as u32);
        }
        // Slot 0 stays empty: an untouched entry is all zeros.
        let free = (1..self.slots.len())
            .find(|&i| self.slots[i].is_none())
            .ok_or(BpfError::SlotsFull)?;
        self.offsets
            .set(free as u32, *kernel, 0)
            .map_err(map_err("PY_OFFSETS"))?;
        self.slots[free] = Some(*kernel);
        Ok(free as u32)
    }

    /// Starts sampling a process.
    pub fn track(&mut self, pid: u32, info: ProcInfo) -> Result<(), BpfError> {
        self.procs.insert(pid, info, 0).map_err(map_err("PY_PROCS"))
    }

    /// Stops sampling a process (it is fine if it was not tracked).
    pub fn untrack(&mut self, pid: u32) {
        let _ = self.procs.remove(&pid);
    }

    /// Asks the kernel to report thread `tid` (of process `tgid`) when it
    /// next comes onto a CPU, as for a thread it saw leave.
    pub fn expect_switch_in(&mut self, tid: u32, tgid: u32) -> Result<(), BpfError> {
        self.off_cpu
            .insert(tid, tgid, 0)
            .map_err(map_err("OFF_CPU"))
    }

    /// The kernel has not reported thread `tid`'s switch-in yet.
    pub fn awaits_switch_in(&self, tid: u32) -> bool {
        self.off_cpu.get(&tid, 0).is_ok()
    }

    /// Takes back [`Sampler::expect_switch_in`] (fine if the kernel
    /// already reported it).
    pub fn forget_switch_in(&mut self, tid: u32) {
        let _ = self.off_cpu.remove(&tid);
    }

    /// The kernel side's log records, taken once (`--debug-ebpf`).
    pub fn take_logger(&mut self) -> Option<EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    /// The ring buffer, taken once by the event loop.
    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// Stops sampling for good: detaches and unloads every program, so
    /// that nothing more is written. What they wrote (ring buffer, log
    /// records, counters) stays readable: a final drain then sees every
    /// record the counters count.
    pub fn stop(&mut self) {
        for (name, prog) in self.ebpf.programs_mut() {
            let r = match prog {
                Program::PerfEvent(p) => p.unload(),
                Program::RawTracePoint(p) => p.unload(),
                _ => Ok(()),
            };
            if let Err(e) = r {
                log::debug!("unloading {name}: {e}");
            }
        }
    }

    /// Counter totals over all CPUs, indexed by `tachyon_common::counter`.
    pub fn counters(&self) -> [u64; counter::COUNT as usize] {
        let mut out = [0u64; counter::COUNT as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            if let Ok(values) = self.counters.get(&(i as u32), 0) {
                *slot = values.iter().sum();
            }
        }
        out
    }
}
