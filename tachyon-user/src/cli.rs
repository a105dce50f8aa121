//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::async_stacks::AsyncMode;
use crate::mode::Mode;
use crate::output::{
    resolve_format, GroupBy, OutputFormat, SortOrder, Target, TargetError, WriteOptions,
};

/// System-wide eBPF sampling profiler for CPython 3.8–3.15.
#[derive(Debug, Parser)]
#[command(
    name = "tachyon-bpf",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    #[command(flatten)]
    pub mode: ModeArg,

    /// Stop after this many seconds (default: until Ctrl-C, or until every
    /// --pid process has exited).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    #[command(flatten)]
    pub out: OutputArgs,

    /// Print a line on stderr, updated every second: elapsed time,
    /// samples per second, lost samples, processes, threads (on a terminal
    /// with --duration a progress bar is shown anyway).
    #[arg(long)]
    pub realtime_stats: bool,

    /// Show the live table of functions (as `tachyon-bpf top`) instead of
    /// the stats line; needs a terminal. The profile is written at the end
    /// as without it.
    #[arg(long, conflicts_with = "realtime_stats")]
    pub live: bool,

    /// A subcommand instead of a profiling run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to sample and how (a run and the agent share these).
#[derive(Debug, Args)]
pub struct SamplingArgs {
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

    /// Samples per second on each CPU: `99`, `1000`, `10k`, `10khz`.
    #[arg(short, long, default_value = "100", value_parser = parse_rate)]
    pub rate: u64,

    /// Append the kernel stack of each sample above the Python leaf
    /// (syscalls, page faults, locks).
    #[arg(long)]
    pub kernel: bool,

    /// Hide the `<GC>` marker shown while the garbage collector runs.
    #[arg(long)]
    pub no_gc: bool,

    /// Append the native (C) frames the Python leaf is running, walked with
    /// frame pointers; where a binary has none, the stack says so.
    #[arg(long)]
    pub native: bool,

    /// Show the instruction each frame was executing (opcode name, the
    /// specialised form on 3.11+) and, on 3.11+, its source columns:
    /// `func (file:line:col) [BINARY_OP_ADD_INT]`.
    #[arg(long)]
    pub opcodes: bool,

    /// Profile only the Python processes of this container (name, id or id
    /// prefix); repeatable, combinable with --all-python (implied without
    /// --pid). Processes that start in it later are picked up.
    #[arg(long, value_name = "NAME|ID")]
    pub container: Vec<String>,

    /// Profile only the Python processes in this cgroup or below it (e.g.
    /// `/docker`, `/kubepods/burstable/pod<uid>`); repeatable.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,

    /// Start even when no process matches --container or --cgroup yet.
    #[arg(long)]
    pub wait: bool,

    /// Docker's data root, where container names and images are read.
    #[arg(long, value_name = "DIR", default_value = crate::container::DEFAULT_DOCKER_ROOT)]
    pub docker_root: PathBuf,

    /// Show asyncio stacks per task (Python 3.14+): the running task's
    /// frames under a `NAME (<task>)` frame and the chain of tasks awaiting
    /// it, instead of the event loop's internals.
    #[arg(long)]
    pub async_aware: bool,

    /// With --async-aware: `running` shows the task running at each sample;
    /// `all` also the tasks that wait.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = AsyncMode::Running, requires = "async_aware")]
    pub async_mode: AsyncMode,

    /// Stream the kernel side's diagnostics to stderr: why a thread had no
    /// Python state, where a stack walk stopped, lost samples (also on with
    /// `RUST_LOG=tachyon_ebpf=debug`). Off, they cost nothing.
    #[arg(long)]
    pub debug_ebpf: bool,

    /// The profiler's niceness, -20 to 19. Default: -10 when started at
    /// the default 0, so that it drains its buffer in time when every CPU
    /// is busy (it needs a few percent of one core); a niceness it was
    /// started with (`nice -n 5 tachyon-bpf …`) is kept. A command that
    /// `run` starts keeps the caller's.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = parse_nice)]
    pub nice: Option<i32>,
}

/// `--mode` (short `-m` where it means nothing else).
#[derive(Debug, Args)]
pub struct ModeArg {
    /// What time to show: wall (on-CPU plus off-CPU time, the default), cpu
    /// (on-CPU only), gil (threads holding the GIL), exception (threads
    /// handling an exception).
    #[arg(short, long, value_enum, default_value_t = Mode::Wall)]
    pub mode: Mode,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a recording (made with `-o FILE.tbr`) in any output format,
    /// exactly as the run would have written it.
    Replay(ReplayArgs),
    /// Run until stopped, cutting the profile into windows that go to
    /// --output-dir, Pyroscope and/or an OTLP receiver (the fleet agent).
    Agent(Box<AgentArgs>),
    /// Start a command and profile it from its first Python instruction
    /// until it exits; exit with its exit status.
    Run(Box<RunArgs>),
    /// Print every thread's current Python stack once, running or asleep.
    Dump(DumpArgs),
    /// A full-screen table of the functions the processes run, refreshed
    /// every second (keys: q quit, s sort, t window, p pause, / filter).
    Top(Box<TopArgs>),
    /// The floor, for benchmarks: an empty eBPF program on every CPU's
    /// cpu-clock at the rate; prints how many times it ran.
    #[command(hide = true)]
    Floor(FloorArgs),
}

/// `tachyon-bpf top [the sampling options] [-o FILE]`.
#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    #[command(flatten)]
    pub mode: ModeArg,

    /// Stop after this many seconds (default: until `q`, Ctrl-C, or until
    /// every --pid process has exited).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Where the profile goes when the view closes; without --output
    /// nothing is written.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `tachyon-bpf floor --rate N [--duration S]` (hidden).
#[derive(Debug, Args)]
pub struct FloorArgs {
    /// Ticks per second on each CPU.
    #[arg(short, long, default_value = "100", value_parser = parse_rate)]
    pub rate: u64,

    /// Stop after this long (default: until SIGINT, SIGTERM or SIGHUP).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `tachyon-bpf dump (--pid PID... | --all-python) [--json]`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Dump this process (repeatable).
    #[arg(
        short,
        long = "pid",
        value_name = "PID",
        required_unless_present = "all_python"
    )]
    pub pid: Vec<u32>,

    /// Dump every Python process on the machine.
    #[arg(long, conflicts_with = "pid")]
    pub all_python: bool,

    /// One JSON object per process, one per line.
    #[arg(long)]
    pub json: bool,
}

/// `tachyon-bpf run [OPTIONS] -- CMD [ARGS…]`, `run [OPTIONS] SCRIPT.py
/// [ARGS…]`, `run [OPTIONS] -m MODULE [ARGS…]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// What time to show, as the main command's --mode (here without `-m`,
    /// which names a module).
    #[arg(long, value_enum, default_value_t = Mode::Wall)]
    pub mode: Mode,

    /// Run a module with `python3` from PATH, as `python3 -m MODULE`.
    #[arg(short = 'm', long = "module", value_name = "MODULE")]
    pub module: Option<String>,

    /// Stop profiling after this many seconds (the command runs on; its
    /// exit is still waited for).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    #[command(flatten)]
    pub out: OutputArgs,

    /// As the main command's --realtime-stats.
    #[arg(long)]
    pub realtime_stats: bool,

    /// Show the live table of functions (as `tachyon-bpf top`) while the
    /// command runs; its stdout and stderr go to a log file, named at the
    /// end. Needs a terminal.
    #[arg(long, conflicts_with = "realtime_stats")]
    pub live: bool,

    /// The command and its arguments (after `--`), or SCRIPT.py and its
    /// arguments (run with `python3` from PATH), or the module's arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

/// `tachyon-bpf agent [SINKS] [OPTIONS]`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("sinks")
        .args(["output_dir", "pyroscope", "otlp"])
        .required(true)
        .multiple(true)
))]
pub struct AgentArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    #[command(flatten)]
    pub mode: ModeArg,

    /// Length of a window, e.g. `15`, `15s`, `500ms`, `2m`.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Write each window here as `tachyon-<UTC start>.pb.gz` (pprof).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Keep only the newest N window files in --output-dir.
    #[arg(long, value_name = "N", requires = "output_dir")]
    pub keep: Option<usize>,

    /// Send each window to this Pyroscope server's ingest API
    /// (`http://pyroscope:4040`), one series per container.
    #[arg(long, value_name = "URL")]
    pub pyroscope: Option<String>,

    /// Send each window to this OTLP/HTTP receiver
    /// (`http://collector:4318`; the path `/v1development/profiles` is
    /// added when the URL has none), OpenTelemetry profiles schema.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,

    /// The application name of Pyroscope series.
    #[arg(long, value_name = "NAME", default_value = "python")]
    pub app_name: String,

    /// Add this label to every series (Pyroscope) and resource (OTLP),
    /// e.g. `--label node=$NODE_NAME`; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::export::labels::parse_label)]
    pub label: Vec<(String, String)>,

    /// Windows each sink may hold while it is unreachable; past that the
    /// oldest is dropped (and counted).
    #[arg(long, value_name = "N", default_value = "20")]
    pub queue: usize,

    /// When the agent stops, how long it may spend delivering the windows
    /// still queued.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub flush_timeout: Duration,

    /// Serve the agent's counters at http://ADDR/metrics (Prometheus), e.g.
    /// `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// Stop after this long (default: until SIGINT, SIGTERM or SIGHUP; the
    /// open window is exported either way).
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `tachyon-bpf replay FILE [OPTIONS]`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording to read.
    #[arg(value_name = "FILE")]
    pub recording: PathBuf,

    #[command(flatten)]
    pub out: OutputArgs,

    /// Re-filter the recording into this mode (e.g. `cpu` or `gil` from a
    /// wall-mode recording); the samples keep their flags.
    #[arg(short, long, value_enum)]
    pub mode: Option<Mode>,
}

/// Where and how a profile is written (a run and `replay` share these).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the profile here (format from --format or the extension; `-`
    /// is standard output). Checked before sampling starts; a FIFO or
    /// character device is written into, never replaced. Without it, a
    /// table of the top functions goes to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format (default: from the extension of --output; text on
    /// standard output). A file name whose extension names no format is an
    /// error.
    #[arg(short, long, value_enum)]
    pub format: Option<OutputFormat>,

    /// Root each stack at a thread frame under its process.
    #[arg(long)]
    pub threads: bool,

    /// Draw a differential flamegraph against this baseline: a recording
    /// (.tbr) or a collapsed file. Red: more than in the baseline, blue: less.
    #[arg(long, value_name = "FILE")]
    pub diff_baseline: Option<PathBuf>,

    /// Row order of the text table.
    #[arg(long, value_enum, value_name = "KEY", default_value_t = SortOrder::Nsamples)]
    pub sort: SortOrder,

    /// Rows of the text table (default: 15; 0 for all).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Frames above each stack in folded stacks and flame graphs:
    /// `container` (a container frame above the process frame of each
    /// process that ran in one), `process`, or `none` (merge all
    /// processes); `auto` is `container` when any process ran in one.
    #[arg(long, value_enum, value_name = "BY", default_value_t = GroupBy::Auto)]
    pub group_by: GroupBy,
}

impl OutputArgs {
    /// The output format: `--format`, else the extension of `-o`, else
    /// text on standard output; a file name that names no format is an
    /// error.
    pub fn output_format(&self) -> Result<OutputFormat, TargetError> {
        resolve_format(self.format, self.output.as_deref())
    }

    /// Where the profile goes, checked (see [`Target`]).
    pub fn target(&self) -> Result<Target, TargetError> {
        match &self.output {
            None => Ok(Target::Stdout),
            Some(p) => Target::check(p),
        }
    }

    /// The writer options these flags ask for.
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            threads: self.threads,
            title: None,
            sort: self.sort,
            limit: self.limit,
            group_by: self.group_by,
        }
    }
}

/// Parses a niceness within [`crate::priority::NICE_RANGE`].
pub fn parse_nice(s: &str) -> Result<i32, String> {
    let n: i32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a niceness (an integer from -20 to 19)"))?;
    if !crate::priority::NICE_RANGE.contains(&n) {
        return Err(format!("niceness {n} is outside -20 to 19"));
    }
    Ok(n)
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
    let t = s.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (seconds, or with ms, s, m or h)"))?;
    let v = v * scale;
    if !(v > 0.0 && v.is_finite() && v < 1e9) {
        return Err(format!("duration {s} must be positive"));
    }
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn nices_parse_within_range() {
        assert_eq!(parse_nice("-10"), Ok(-10));
        assert_eq!(parse_nice("19"), Ok(19));
        assert_eq!(parse_nice("-20"), Ok(-20));
        assert!(parse_nice("-21").is_err());
        assert!(parse_nice("20").is_err());
        assert!(parse_nice("high").is_err());
        let cli =
            Cli::try_parse_from(["tachyon-bpf", "--pid", "1", "--nice", "-5"]).expect("parses");
        assert_eq!(cli.sampling.nice, Some(-5));
        let cli = Cli::try_parse_from(["tachyon-bpf", "--pid", "1"]).expect("parses");
        assert_eq!(cli.sampling.nice, None);
    }

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
    fn plain_seconds_parse() {
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn agent_subcommand() {
        let cli = Cli::parse_from([
            "tachyon-bpf",
            "agent",
            "--all-python",
            "--interval",
            "2s",
            "--output-dir",
            "/tmp/w",
            "--keep",
            "5",
            "--container",
            "web",
        ]);
        let Some(Command::Agent(a)) = cli.command else {
            panic!("no agent subcommand");
        };
        assert!(a.sampling.all_python);
        assert_eq!(a.sampling.container, ["web"]);
        assert_eq!(a.interval, Duration::from_secs(2));
        assert_eq!(
            (a.output_dir, a.keep),
            (Some(PathBuf::from("/tmp/w")), Some(5))
        );
        assert!(
            Cli::try_parse_from(["tachyon-bpf", "agent", "--all-python"]).is_err(),
            "needs a sink"
        );
        let cli = Cli::parse_from([
            "tachyon-bpf",
            "agent",
            "--all-python",
            "--pyroscope",
            "http://p:4040",
            "--otlp",
            "http://c:4318",
            "--label",
            "node=n1",
            "--metrics",
            "127.0.0.1:0",
        ]);
        let Some(Command::Agent(a)) = cli.command else {
            panic!("no agent subcommand");
        };
        assert_eq!(a.label, [("node".to_string(), "n1".to_string())]);
        assert_eq!((a.queue, a.flush_timeout), (20, Duration::from_secs(10)));
        let bad = Cli::try_parse_from([
            "tachyon-bpf",
            "agent",
            "--otlp",
            "http://c",
            "--label",
            "no equals",
        ])
        .expect_err("a bad label is refused");
        assert!(bad.to_string().contains("KEY=VALUE"), "{bad}");
    }

    #[test]
    fn format_from_extension() {
        let cli = Cli::parse_from(["tachyon-bpf", "--all-python", "-o", "p.svg"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Flamegraph);
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-o", "p.svg", "-f", "collapsed"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Collapsed);
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-o", "p.pb.gz"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Pprof);
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-f", "binary"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Recording);
    }

    #[test]
    fn text_on_stdout_and_its_options() {
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Text);
        assert_eq!((cli.out.sort, cli.out.limit), (SortOrder::Nsamples, None));
        for (file, want) in [
            ("p.collapsed", OutputFormat::Collapsed),
            ("p.txt", OutputFormat::Text),
            ("p.pstats", OutputFormat::Pstats),
            ("p.prof", OutputFormat::Pstats),
            ("p.jsonl", OutputFormat::Jsonl),
        ] {
            let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-o", file]);
            assert_eq!(cli.out.output_format().unwrap(), want, "{file}");
        }
        // A name that names no format is an error, never a guess.
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-o", "p.unknown"]);
        assert!(cli.out.output_format().is_err());
        let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "-f", "collapsed"]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Collapsed);

        let cli = Cli::parse_from([
            "tachyon-bpf",
            "-p",
            "1",
            "--sort",
            "cumul-pct",
            "--limit",
            "3",
        ]);
        assert_eq!(
            (cli.out.sort, cli.out.limit),
            (SortOrder::CumulPct, Some(3))
        );
        for (name, want) in [
            ("nsamples", SortOrder::Nsamples),
            ("tottime", SortOrder::Tottime),
            ("cumtime", SortOrder::Cumtime),
            ("sample-pct", SortOrder::SamplePct),
            ("nsamples-cumul", SortOrder::NsamplesCumul),
            ("name", SortOrder::Name),
            ("file", SortOrder::File),
        ] {
            let cli = Cli::parse_from(["tachyon-bpf", "-p", "1", "--sort", name]);
            assert_eq!(cli.out.sort, want);
            assert_eq!(want.name(), name);
        }
        assert!(Cli::try_parse_from(["tachyon-bpf", "-p", "1", "--sort", "calls"]).is_err());
        assert!(Cli::try_parse_from(["tachyon-bpf", "-p", "1", "--limit", "-1"]).is_err());
        let cli = Cli::parse_from([
            "tachyon-bpf",
            "replay",
            "r.tbr",
            "-f",
            "text",
            "--sort",
            "name",
        ]);
        let Some(Command::Replay(r)) = cli.command else {
            panic!("no replay subcommand");
        };
        assert_eq!(
            (r.out.output_format().unwrap(), r.out.sort, r.out.limit),
            (OutputFormat::Text, SortOrder::Name, None)
        );
    }

    #[test]
    fn replay_subcommand() {
        // The top-level flags work as before, with no subcommand.
        let cli = Cli::parse_from(["tachyon-bpf", "--pid", "1", "-o", "x.svg", "--threads"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.sampling.pid, vec![1]);
        assert_eq!(cli.out.output_format().unwrap(), OutputFormat::Flamegraph);

        let cli = Cli::parse_from([
            "tachyon-bpf",
            "replay",
            "run.tbr",
            "-o",
            "out.svg",
            "--threads",
            "--diff-baseline",
            "base.collapsed",
        ]);
        let Some(Command::Replay(r)) = cli.command else {
            panic!("no replay subcommand");
        };
        assert_eq!(r.recording, PathBuf::from("run.tbr"));
        assert!(r.out.threads);
        assert_eq!(r.out.output_format().unwrap(), OutputFormat::Flamegraph);
        assert_eq!(r.out.diff_baseline, Some(PathBuf::from("base.collapsed")));
        let cli = Cli::parse_from(["tachyon-bpf", "replay", "run.tbr", "-f", "pprof"]);
        let Some(Command::Replay(r)) = cli.command else {
            panic!("no replay subcommand");
        };
        assert_eq!(r.out.output_format().unwrap(), OutputFormat::Pprof);
        assert_eq!(r.out.output, None);

        // Profiling flags do not mix with replay; a recording is required.
        assert!(Cli::try_parse_from(["tachyon-bpf", "--pid", "1", "replay", "x.tbr"]).is_err());
        assert!(Cli::try_parse_from(["tachyon-bpf", "replay"]).is_err());
        let cli = Cli::parse_from(["tachyon-bpf", "--all-python", "--diff-baseline", "b.tbr"]);
        assert_eq!(cli.out.diff_baseline, Some(PathBuf::from("b.tbr")));
    }
}
