//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::output::OutputFormat;

/// System-wide eBPF sampling profiler for CPython 3.8–3.15.
#[derive(Debug, Parser)]
#[command(name = "tachyon-bpf", version, about)]
pub struct Cli {
    /// Profile every Python process on the machine, including those started
    /// during the run (containers included).
    #[arg(long, conflicts_with = "pid")]
    pub all_python: bool,

    /// Profile this process (repeatable).
    #[arg(short, long = "pid", value_name = "PID")]
    pub pid: Vec<u32>,

    /// Also profile processes the given pids fork or exec into Python.
    #[arg(long)]
    pub subprocesses: bool,

    /// Stop after this many seconds (default: until Ctrl-C, or until every
    /// --pid process has exited).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Samples per second on each CPU: `99`, `1000`, `10k`, `10khz`.
    #[arg(short, long, default_value = "100", value_parser = parse_rate)]
    pub rate: u64,

    /// Write the profile here (format from --format or the extension).
    /// Without it, collapsed stacks go to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format (default: from the extension of --output, else collapsed).
    #[arg(short, long, value_enum)]
    pub format: Option<OutputFormat>,

    /// Root each stack at a thread frame under its process.
    #[arg(long)]
    pub threads: bool,
}

/// Parses `99`, `1000`, `10k`, `10khz`, `2.5kHz`, `100hz`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let num = lower.strip_suffix("hz").unwrap_or(&lower);
    let (num, mult) = match num.strip_suffix('k') {
        Some(n) => (n, 1000.0),
        None => (num, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a rate (try 99, 1000, 10k or 10khz)"))?;
    let hz = (v * mult).round();
    if !(1.0..=1_000_000.0).contains(&hz) {
        return Err(format!("rate {s} is out of range (1 Hz to 1 MHz)"));
    }
    Ok(hz as u64)
}

/// Parses seconds, fractional allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("duration {s} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

impl Cli {
    /// The output format: `--format`, else the extension, else collapsed.
    pub fn output_format(&self) -> OutputFormat {
        self.format
            .or_else(|| self.output.as_deref().and_then(OutputFormat::from_path))
            .unwrap_or(OutputFormat::Collapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("99"), Ok(99));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("10k"), Ok(10_000));
        assert_eq!(parse_rate("10khz"), Ok(10_000));
        assert_eq!(parse_rate("10kHz"), Ok(10_000));
        assert_eq!(parse_rate("2.5k"), Ok(2_500));
        assert_eq!(parse_rate("100Hz"), Ok(100));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn format_from_extension() {
        let cli = Cli::parse_from(["tachyon-bpf", "--all-python", "-o", "p.svg"]);
        assert_eq!(cli.output_format(), OutputFormat::Flamegraph);
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-o", "p.svg", "-f", "collapsed"]);
        assert_eq!(cli.output_format(), OutputFormat::Collapsed);
    }
}
