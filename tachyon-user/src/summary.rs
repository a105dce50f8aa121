//! The totals printed at the end of a run: what was collected and every
//! way in which something was lost, so a degradation never hides.

use std::time::Duration;

/// Totals printed at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub duration: Duration,
    pub processes: usize,
    pub threads: usize,
    /// Threads shown by their `comm` because their `threading` name could
    /// not be read (no reader for the process, or not among `threading`'s
    /// threads while the run could read them).
    pub thread_names_unread: usize,
    pub samples: u64,
    pub lost: u64,
    pub truncated: u64,
    pub unsymbolized: u64,
    pub read_errors: u64,
    pub no_thread_state: u64,
    pub events_lost: u64,
    /// `--native` samples whose native walk broke off (no frame pointers).
    pub native_incomplete: u64,
    /// Processes whose state was freed when they exited or exec'd.
    pub processes_freed: u64,
    /// Cache entries dropped to stay within the memory bounds (code
    /// objects, frames, binaries).
    pub cache_evictions: u64,
    /// Times a continuous run compacted its frame and stack tables.
    pub interning_compactions: u64,
    /// Code-object reads refused because a process spent its per-second
    /// read budget (see [`crate::budget`]).
    pub reads_over_budget: u64,
    /// Of `no_thread_state`, the ticks answered from the kernel's memory of
    /// a recent miss (no thread-list walk).
    pub no_thread_state_remembered: u64,
    /// Frame walks ended by a frame list that came round (marked truncated).
    pub frame_cycles: u64,
    /// `--all-python`: the look at every process running at the start.
    pub start_scan: Option<StartScan>,
    /// Code objects the kernel reported with their names and line tables
    /// (`EVENT_CODE`), and how many of them named frames.
    pub code_reports: u64,
    pub named_from_reports: u64,
    /// Code reports lost to a full ring buffer.
    pub code_reports_lost: u64,
    /// Wall mode: threads that were asleep when their process began to be
    /// profiled.
    pub asleep: Option<AsleepCounts>,
    /// `--async-aware`: samples shown under their asyncio task, and those
    /// that could not be.
    pub asyncio: Option<crate::async_stacks::AsyncStats>,
}

/// Threads found asleep when their process began to be profiled (wall
/// mode): counted from then, not from their first wake-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsleepCounts {
    /// Booked as away from that moment, with the stack read from userspace.
    pub seeded: u64,
    /// Python threads whose stack could not be read or whose kernel thread
    /// could not be told (they count from their first wake-up).
    pub unread: u64,
}

/// What finding the Python processes among all running ones cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartScan {
    /// Processes looked at.
    pub processes: usize,
    /// Distinct mapped files whose ELF headers and symbols were read.
    pub files: usize,
    pub elapsed: std::time::Duration,
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
        writeln!(f, "  thread names unread:  {}", self.thread_names_unread)?;
        writeln!(f, "  samples:              {}", self.samples)?;
        writeln!(f, "  samples lost:         {}", self.lost)?;
        writeln!(f, "  stacks truncated:     {}", self.truncated)?;
        writeln!(f, "  frames unsymbolized:  {}", self.unsymbolized)?;
        writeln!(f, "  stacks with read errors: {}", self.read_errors)?;
        writeln!(f, "  ticks without thread state: {}", self.no_thread_state)?;
        writeln!(f, "  process events lost:  {}", self.events_lost)?;
        writeln!(f, "  process states freed: {}", self.processes_freed)?;
        writeln!(
            f,
            "  code reports:         {} ({} named from them)",
            self.code_reports, self.named_from_reports
        )?;
        writeln!(f, "  code reports lost:    {}", self.code_reports_lost)?;
        write!(f, "  cache evictions:      {}", self.cache_evictions)?;
        if let Some(a) = self.asleep {
            write!(f, "\n  threads asleep at start: {}", a.seeded)?;
            write!(f, "\n  asleep threads unread: {}", a.unread)?;
        }
        if self.interning_compactions > 0 {
            write!(
                f,
                "\n  frame tables compacted: {}",
                self.interning_compactions
            )?;
        }
        if self.no_thread_state_remembered > 0 {
            write!(
                f,
                "\n  thread-state misses remembered (no walk): {}",
                self.no_thread_state_remembered
            )?;
        }
        if self.frame_cycles > 0 {
            write!(f, "\n  cyclic frame lists:   {}", self.frame_cycles)?;
        }
        if self.reads_over_budget > 0 {
            write!(
                f,
                "\n  code reads over budget: {} (a process asked for more than {} code objects or {} MiB a second)",
                self.reads_over_budget,
                crate::budget::READS_PER_SECOND,
                crate::budget::BYTES_PER_SECOND >> 20
            )?;
        }
        if let Some(scan) = self.start_scan {
            write!(
                f,
                "\n  start-up scan:        {} processes, {} files read, {:.1} ms",
                scan.processes,
                scan.files,
                scan.elapsed.as_secs_f64() * 1e3
            )?;
        }
        if let Some(a) = self.asyncio {
            write!(
                f,
                "\n  samples in asyncio tasks: {} ({} without the task's frame, {} with an unreadable task)",
                a.in_tasks, a.no_task_frame, a.unreadable
            )?;
            if a.waiting > 0 {
                write!(
                    f,
                    "\n  waiting tasks booked: {} (--async-mode all)",
                    a.waiting
                )?;
            }
        }
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
