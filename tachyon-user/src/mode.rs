//! Sampling modes. Every sample carries flags; a mode is a filter over them,
//! so one recording can be re-filtered into any mode.

use tachyon_common::{SAMPLE_HOLDS_GIL, SAMPLE_IN_EXCEPTION, SAMPLE_OFF_CPU, SAMPLE_ON_CPU};

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
}
