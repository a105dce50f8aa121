//! Live progress on stderr while a run samples: `--realtime-stats` (one
//! line, updated each second: elapsed, samples per second, lost,
//! processes, threads) and, on a terminal with a `--duration`, a progress
//! bar (indicatif). Nothing of this in pipes or CI logs unless asked.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a run shows while it samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing (pipes, CI logs, runs without a duration).
    #[default]
    Off,
    /// `--realtime-stats`: the stats line, rewritten in place on a
    /// terminal, a new line each second elsewhere.
    Stats,
    /// A progress bar towards the duration, with the stats as its message.
    Bar,
}

impl Progress {
    /// The default for a run: the stats when asked, a bar when stderr is
    /// a terminal and the run has an end, else nothing.
    pub fn choose(realtime_stats: bool, duration: Option<Duration>) -> Self {
        match (
            realtime_stats,
            duration.is_some() && std::io::stderr().is_terminal(),
        ) {
            (true, _) => Progress::Stats,
            (false, true) => Progress::Bar,
            (false, false) => Progress::Off,
        }
    }
}

/// The run's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub elapsed: Duration,
    pub samples: u64,
    pub lost: u64,
    pub processes: usize,
    pub threads: usize,
    /// Ticks of threads without Python state (the live view's header).
    pub no_thread_state: u64,
    /// Frames that could not be named.
    pub unsymbolized: u64,
}

/// The stats line: `12.0 s, 10012 samples/s, 0 lost, 3 processes, 12 threads`.
pub fn stats_line(s: &LiveStats, samples_per_s: f64) -> String {
    format!(
        "{:.1} s, {:.0} samples/s, {} lost, {} process{}, {} thread{}",
        s.elapsed.as_secs_f64(),
        samples_per_s,
        s.lost,
        s.processes,
        if s.processes == 1 { "" } else { "es" },
        s.threads,
        if s.threads == 1 { "" } else { "s" },
    )
}

/// Shows [`LiveStats`] as [`Progress`] says.
pub struct Reporter {
    kind: Progress,
    bar: Option<ProgressBar>,
    terminal: bool,
    last: LiveStats,
    drawn: bool,
}

impl Reporter {
    pub fn new(kind: Progress, duration: Option<Duration>) -> Self {
        let bar = match (kind, duration) {
            (Progress::Bar, Some(d)) => {
                let bar = ProgressBar::with_draw_target(
                    Some(d.as_millis() as u64),
                    ProgressDrawTarget::stderr(),
                );
                if let Ok(style) =
                    ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}")
                {
                    bar.set_style(style);
                }
                Some(bar)
            }
            _ => None,
        };
        Self {
            kind,
            bar,
            terminal: std::io::stderr().is_terminal(),
            last: LiveStats::default(),
            drawn: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.kind != Progress::Off
    }

    /// Shows `now`; the rate is over the time since the last update.
    pub fn update(&mut self, now: LiveStats) {
        let dt = now.elapsed.saturating_sub(self.last.elapsed).as_secs_f64();
        let rate = match dt > 0.0 {
            true => now.samples.saturating_sub(self.last.samples) as f64 / dt,
            false => 0.0,
        };
        let line = stats_line(&now, rate);
        self.last = now;
        match (&self.bar, self.kind) {
            (Some(bar), _) => {
                bar.set_position(now.elapsed.as_millis() as u64);
                bar.set_message(line);
            }
            (None, Progress::Stats) => {
                let mut err = std::io::stderr().lock();
                let _ = match self.terminal {
                    true => write!(err, "\r\x1b[Ktachyon-bpf: {line}"),
                    false => writeln!(err, "tachyon-bpf: {line}"),
                };
                let _ = err.flush();
                self.drawn = true;
            }
            _ => {}
        }
    }

    /// Leaves stderr clean for the summary.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.drawn && self.terminal {
            eprintln!();
        }
        self.drawn = false;
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_line_says_everything_once() {
        let s = LiveStats {
            elapsed: Duration::from_millis(12_040),
            samples: 120_000,
            lost: 3,
            processes: 1,
            threads: 12,
            ..Default::default()
        };
        assert_eq!(
            stats_line(&s, 10_012.4),
            "12.0 s, 10012 samples/s, 3 lost, 1 process, 12 threads"
        );
    }

    #[test]
    fn nothing_unless_asked_or_on_a_terminal() {
        assert_eq!(Progress::choose(true, None), Progress::Stats);
        // The test runner's stderr is not a terminal.
        if !std::io::stderr().is_terminal() {
            assert_eq!(
                Progress::choose(false, Some(Duration::from_secs(3))),
                Progress::Off
            );
        }
        assert_eq!(Progress::choose(false, None), Progress::Off);
    }
}
