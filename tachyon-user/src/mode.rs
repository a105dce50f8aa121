//! Sampling modes. Every sample carries flags; a mode is a filter over them,
//! so one recording can be re-filtered into any mode.

use tachyon_common::{
    SAMPLE_HOLDS_GIL, SAMPLE_IN_EXCEPTION, SAMPLE_IN_GC, SAMPLE_OFF_CPU, SAMPLE_ON_CPU,
};

/// What time a profile shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Mode {
    /// On-CPU samples plus the time threads spend off CPU (sleep, I/O,
    /// locks, waiting for a CPU), weighted in nanoseconds.
    #[default]
    Wall,
    /// On-CPU samples only.
    Cpu,
    /// On-CPU samples of threads holding the GIL.
    Gil,
    /// Samples (on or off CPU) of threads handling an exception.
    Exception,
}

impl Mode {
    /// The name used in profiles and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Wall => "wall",
            Mode::Cpu => "cpu",
            Mode::Gil => "gil",
            Mode::Exception => "exception",
        }
    }

    /// Parses a name written by [`Mode::name`].
    pub fn from_name(name: &str) -> Option<Mode> {
        [Mode::Wall, Mode::Cpu, Mode::Gil, Mode::Exception]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// Whether the kernel must report context switches for this mode.
    pub fn needs_off_cpu(self) -> bool {
        matches!(self, Mode::Wall | Mode::Exception)
    }

    /// The thread-state flags the kernel must find out for a run of this
    /// mode (`Config::thread_flags`; each costs reads of process memory on
    /// every sample): the mode's own, GC state for `<GC>` frames, and all
    /// of them when the timeline is kept (a recording can be re-filtered
    /// into any mode).
    pub fn kernel_thread_flags(self, keep_timeline: bool, show_gc: bool) -> u32 {
        let all = SAMPLE_HOLDS_GIL | SAMPLE_IN_EXCEPTION | SAMPLE_IN_GC;
        if keep_timeline {
            return all;
        }
        let own = match self {
            Mode::Wall | Mode::Cpu => 0,
            Mode::Gil => SAMPLE_HOLDS_GIL,
            Mode::Exception => SAMPLE_IN_EXCEPTION,
        };
        own | if show_gc { SAMPLE_IN_GC } else { 0 }
    }

    /// Whether a sample with these `SAMPLE_*` flags belongs in this mode.
    pub fn keeps(self, flags: u32) -> bool {
        let on_cpu = flags & SAMPLE_ON_CPU != 0;
        let off_cpu = flags & SAMPLE_OFF_CPU != 0;
        match self {
            Mode::Wall => on_cpu || off_cpu,
            Mode::Cpu => on_cpu,
            Mode::Gil => on_cpu && flags & SAMPLE_HOLDS_GIL != 0,
            Mode::Exception => flags & SAMPLE_IN_EXCEPTION != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_filter_by_flags() {
        let on = SAMPLE_ON_CPU;
        let off = SAMPLE_OFF_CPU;
        assert!(Mode::Wall.keeps(on) && Mode::Wall.keeps(off));
        assert!(Mode::Cpu.keeps(on) && !Mode::Cpu.keeps(off));
        assert!(!Mode::Gil.keeps(on) && Mode::Gil.keeps(on | SAMPLE_HOLDS_GIL));
        assert!(!Mode::Gil.keeps(off | SAMPLE_HOLDS_GIL));
        assert!(Mode::Exception.keeps(off | SAMPLE_IN_EXCEPTION) && !Mode::Exception.keeps(on));
        for m in [Mode::Wall, Mode::Cpu, Mode::Gil, Mode::Exception] {
            assert_eq!(Mode::from_name(m.name()), Some(m));
        }
    }

    #[test]
    fn the_kernel_finds_out_only_the_flags_a_run_uses() {
        let all = SAMPLE_HOLDS_GIL | SAMPLE_IN_EXCEPTION | SAMPLE_IN_GC;
        assert_eq!(Mode::Cpu.kernel_thread_flags(false, false), 0);
        assert_eq!(Mode::Wall.kernel_thread_flags(false, true), SAMPLE_IN_GC);
        assert_eq!(
            Mode::Gil.kernel_thread_flags(false, false),
            SAMPLE_HOLDS_GIL
        );
        assert_eq!(
            Mode::Exception.kernel_thread_flags(false, true),
            SAMPLE_IN_EXCEPTION | SAMPLE_IN_GC
        );
        // Every mode keeps what it filters on.
        for m in [Mode::Wall, Mode::Cpu, Mode::Gil, Mode::Exception] {
            let want = m.kernel_thread_flags(false, false);
            assert!(m.keeps(SAMPLE_ON_CPU | want));
            // A kept timeline can be re-filtered into any mode later.
            assert_eq!(m.kernel_thread_flags(true, false), all);
        }
    }
}
