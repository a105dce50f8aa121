//! The `tachyon-bpf` binary.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tachyon::cli::{Cli, Command, DumpArgs, OutputArgs, ReplayArgs, SamplingArgs};
use tachyon::container::PlaceFilter;
use tachyon::mode::Mode;
use tachyon::output::{
    diff_writer_for, read_recording, write_atomically, writer_for, BaselineError, DiffBaseline,
    OutputFormat, ProfileWriter, Target, WriteOptions,
};
use tachyon::profile::Profile;
use tachyon::session::{self, SessionOptions, Summary, Targets, Windows};

mod agent;
mod floor_command;
mod run_command;
mod top_command;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let sampling = match &mut cli.command {
        Some(Command::Agent(a)) => &mut a.sampling,
        Some(Command::Run(r)) => &mut r.sampling,
        Some(Command::Top(t)) => &mut t.sampling,
        _ => &mut cli.sampling,
    };
    let default_filter = if sampling.debug_ebpf {
        "warn,tachyon_ebpf=debug"
    } else {
        "warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .format_timestamp(None)
        .init();
    sampling.debug_ebpf |= log::log_enabled!(target: "tachyon_ebpf", log::Level::Debug);
    let nice = sampling.nice;
    // `run` sets it once its command is forked (the command keeps ours).
    // Without the privileges to sample the run fails with that error alone.
    if matches!(
        cli.command,
        None | Some(Command::Agent(_)) | Some(Command::Top(_))
    ) && tachyon::kernel::check_privileges().is_ok()
    {
        if let Err(e) = raise_priority(nice) {
            eprintln!("tachyon-bpf: error: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command.take() {
        Some(Command::Replay(args)) => replay(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Agent(args)) => agent::run(*args).map(|()| ExitCode::SUCCESS),
        Some(Command::Run(args)) => run_command::run(*args),
        Some(Command::Dump(args)) => dump(args),
        Some(Command::Top(args)) => top_command::run(*args),
        Some(Command::Floor(args)) => floor_command::run(args).map(|()| ExitCode::SUCCESS),
        None => attach(Attach {
            sampling: &cli.sampling,
            mode: cli.mode.mode,
            duration: cli.duration,
            out: &cli.out,
            realtime_stats: cli.realtime_stats,
            live: cli.live,
            write_without_output: true,
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "tachyon-bpf: error: {}",
                tachyon::report::error_line(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

/// Sets the profiler's niceness (`--nice`, see [`tachyon::priority`]):
/// before any thread starts, so that every thread has it. A failure is an
/// error when `--nice` asked for it, a warning otherwise.
pub(crate) fn raise_priority(requested: Option<i32>) -> Result<()> {
    match tachyon::priority::apply(requested) {
        Ok(Some(n)) => log::debug!("niceness {n}"),
        Ok(None) => {}
        Err(e) if requested.is_some() => return Err(e).context("--nice"),
        Err(e) => {
            eprintln!("tachyon-bpf: warning: {e}; samples may be lost when every CPU is busy")
        }
    }
    Ok(())
}

/// The session options the sampling flags ask for.
fn session_options(
    s: &SamplingArgs,
    mode: Mode,
    duration: Option<Duration>,
    keep_timeline: bool,
) -> Result<SessionOptions> {
    let filters: Vec<PlaceFilter> = s
        .container
        .iter()
        .map(|c| PlaceFilter::Container(c.clone()))
        .chain(s.cgroup.iter().map(|c| PlaceFilter::Cgroup(c.clone())))
        .collect();
    let targets = if s.all_python || (s.pid.is_empty() && !filters.is_empty()) {
        Targets::AllPython
    } else if !s.pid.is_empty() {
        Targets::Pids(s.pid.clone())
    } else {
        bail!(
            "nothing to profile: give --all-python, --pid PID, --container NAME or --cgroup PATH"
        );
    };
    Ok(options_for(
        s,
        targets,
        filters,
        mode,
        duration,
        keep_timeline,
    ))
}

/// The session options for `targets` and `filters`, the rest from the
/// sampling flags.
fn options_for(
    s: &SamplingArgs,
    targets: Targets,
    filters: Vec<PlaceFilter>,
    mode: Mode,
    duration: Option<Duration>,
    keep_timeline: bool,
) -> SessionOptions {
    SessionOptions {
        targets,
        rate_hz: s.rate,
        duration,
        follow_children: s.subprocesses,
        keep_timeline,
        mode,
        kernel_stacks: s.kernel,
        show_gc: !s.no_gc,
        native_stacks: s.native,
        async_mode: s.async_aware.then_some(s.async_mode),
        opcodes: s.opcodes,
        debug_ebpf: s.debug_ebpf,
        filters,
        wait: s.wait,
        docker_root: s.docker_root.clone(),
        progress: tachyon::progress::Progress::Off,
        live: None,
    }
}

/// Runs a session on a single-threaded runtime until it stops.
fn sample(opts: SessionOptions, windows: Option<Windows>) -> Result<(Profile, Summary)> {
    let ready = session::preflight(&opts)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(rt.block_on(async { session::run(opts, ready, shutdown_signal(), windows, || {}).await })?)
}

/// An attaching run: the default command and `top`.
struct Attach<'a> {
    sampling: &'a SamplingArgs,
    mode: Mode,
    duration: Option<Duration>,
    out: &'a OutputArgs,
    realtime_stats: bool,
    /// The live view instead of the stats line.
    live: bool,
    /// Without -o, the text table goes to stdout (the default command);
    /// otherwise nothing is written (`top`).
    write_without_output: bool,
}

fn attach(a: Attach) -> Result<ExitCode> {
    let out = a.out;
    if a.live {
        tachyon::top::check_terminal()?;
    }
    // Everything about the output is checked before sampling starts.
    let format = out.output_format()?;
    let target = out.target()?;
    let baseline = load_baseline(out.diff_baseline.as_deref(), format)?;
    let mut opts = session_options(a.sampling, a.mode, a.duration, format.needs_timeline())?;
    let (profile, summary) = match a.live {
        true => top_command::sample_live(opts)?,
        false => {
            opts.progress = tachyon::progress::Progress::choose(a.realtime_stats, a.duration);
            sample(opts, None)?
        }
    };
    eprintln!("{summary}");
    let empty = warn_if_empty(&summary);
    if out.output.is_some() || a.write_without_output {
        emit_or_save(&profile, format, &out.write_options(), baseline, &target)?;
    }
    Ok(if empty {
        ExitCode::from(EMPTY_PROFILE)
    } else {
        ExitCode::SUCCESS
    })
}

/// The exit status of a run whose profile is empty.
const EMPTY_PROFILE: u8 = 2;

/// Says so when a run collected no sample (its profile is still written):
/// a profile that ends up empty is never a silent success.
fn warn_if_empty(summary: &Summary) -> bool {
    if summary.samples > 0 {
        return false;
    }
    eprintln!(
        "tachyon-bpf: warning: the profile is empty: no sample of a Python thread in {:.1} s (exit status 2)",
        summary.duration.as_secs_f64()
    );
    true
}

/// `tachyon-bpf dump`: each process's threads, now. With --all-python,
/// a process that cannot be read is skipped (said on stderr); with --pid,
/// it is an error.
fn dump(args: DumpArgs) -> Result<ExitCode> {
    use tachyon::dump::{dump_process, render_json, render_text};
    use tachyon::python::process::{InspectError, Inspector};
    let mut inspector = Inspector::new();
    let me = std::process::id();
    let pids: Vec<u32> = match args.all_python {
        true => tachyon::procfs::all_pids()
            .into_iter()
            .filter(|&p| p != me)
            .collect(),
        false => args.pid.clone(),
    };
    let mut out = String::new();
    let mut dumped = 0;
    for pid in pids {
        match dump_process(&mut inspector, pid) {
            Ok(d) => {
                dumped += 1;
                if let Some(why) = &d.names_unread {
                    eprintln!("tachyon-bpf: process {pid}: thread names unread: {why}");
                }
                if args.json {
                    out.push_str(&render_json(&d).to_string());
                    out.push('\n');
                } else {
                    if dumped > 1 {
                        out.push('\n');
                    }
                    out.push_str(&render_text(&d));
                }
            }
            Err(tachyon::dump::DumpError::Inspect(
                InspectError::NotPython { .. }
                | InspectError::NoProcess(_)
                | InspectError::Exited(_)
                | InspectError::NoRuntime { .. },
            )) if args.all_python => {}
            Err(e) if args.all_python => eprintln!("tachyon-bpf: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    print!("{out}");
    if dumped == 0 && args.all_python {
        eprintln!("tachyon-bpf: warning: no Python process to dump");
        return Ok(ExitCode::from(EMPTY_PROFILE));
    }
    Ok(ExitCode::SUCCESS)
}

/// [`emit`], or, when the profile cannot be written, a recording of it in
/// the temporary folder, named in the error: nothing collected is lost.
fn emit_or_save(
    profile: &Profile,
    format: OutputFormat,
    options: &WriteOptions,
    baseline: Option<DiffBaseline>,
    target: &Target,
) -> Result<()> {
    emit(profile, format, options, baseline, target).map_err(|e| match save_recording(profile) {
        Ok(saved) => e.context(format!(
            "the profile is saved as {} (write it with `tachyon-bpf replay {} -o FILE`)",
            saved.display(),
            saved.display()
        )),
        Err(e2) => e.context(format!("and it could not be saved either: {e2}")),
    })
}

/// Saves `profile` as a recording in the temporary folder.
fn save_recording(profile: &Profile) -> Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("tachyon-bpf-{}.tbr", std::process::id()));
    let writer = writer_for(OutputFormat::Recording, &WriteOptions::default());
    write_atomically(&path, |w| writer.write(profile, w))?;
    Ok(path)
}

/// `tachyon-bpf replay`: reads a recording and writes it through the same
/// writers as a run.
fn replay(args: ReplayArgs) -> Result<()> {
    let out = &args.out;
    let format = out.output_format()?;
    let target = out.target()?;
    let baseline = load_baseline(out.diff_baseline.as_deref(), format)?;
    let mut profile = read_recording(&args.recording)
        .with_context(|| format!("reading {}", args.recording.display()))?;
    if let Some(mode) = args.mode {
        if !profile.retain_samples(|s| mode.keeps(s.flags)) {
            bail!(
                "{} has no sample timeline to re-filter",
                args.recording.display()
            );
        }
        profile.meta.mode = mode.name().to_string();
    }
    emit(&profile, format, &out.write_options(), baseline, &target)
}

/// Writes `profile` in `format` to `target`.
fn emit(
    profile: &Profile,
    format: OutputFormat,
    options: &WriteOptions,
    baseline: Option<DiffBaseline>,
    target: &Target,
) -> Result<()> {
    let writer = make_writer(format, options, baseline)?;
    target.write(|out| writer.write(profile, out))?;
    if *target != Target::Stdout {
        eprintln!("wrote {} profile to {}", format, target.display());
    }
    Ok(())
}

/// Reads `--diff-baseline` up front, so a bad file fails before profiling.
fn load_baseline(path: Option<&Path>, format: OutputFormat) -> Result<Option<DiffBaseline>> {
    let Some(path) = path else {
        return Ok(None);
    };
    if format != OutputFormat::Flamegraph {
        return Err(BaselineError::WrongFormat(format).into());
    }
    let baseline = DiffBaseline::load(path)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    Ok(Some(baseline))
}

/// The writer for `format`, differential when there is a baseline.
fn make_writer(
    format: OutputFormat,
    options: &WriteOptions,
    baseline: Option<DiffBaseline>,
) -> Result<Box<dyn ProfileWriter>> {
    Ok(match baseline {
        Some(b) => diff_writer_for(format, options, b)?,
        None => writer_for(format, options),
    })
}

/// Completes when `s` is delivered (never when it could not be set up).
async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Completes on Ctrl-C, SIGTERM or SIGHUP: the run stops and writes what
/// it collected. From then on, a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let name = tokio::select! {
        _ = recv(&mut int) => "interrupted",
        _ = recv(&mut term) => "terminated",
        _ = recv(&mut hup) => "hung up",
    };
    eprintln!("tachyon-bpf: {name}: writing the profile (Ctrl-C again to exit at once)");
    exit_on_next_signal();
}

/// Replaces the handlers of SIGINT, SIGTERM and SIGHUP with one that exits
/// at once, saying so.
fn exit_on_next_signal() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    extern "C" fn exit_now(_: libc::c_int) {
        const MSG: &[u8] = b"tachyon-bpf: interrupted again: exiting without writing the profile\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a
        // static buffer of MSG.len() bytes.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(130);
        }
    }
    let action = SigAction::new(
        SigHandler::Handler(exit_now),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only calls async-signal-safe functions.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            log::warn!("cannot install the second-{sig} handler: {e}");
        }
    }
}
