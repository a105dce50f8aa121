//! `tachyon-bpf run`: start a command, profile it from its first Python
//! instruction until it exits, write the profile, exit with its status.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tachyon::cli::RunArgs;
use tachyon::launch::{self, Launched};
use tachyon::session;

use super::{emit_or_save, load_baseline, options_for, recv, warn_if_empty, EMPTY_PROFILE};

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let s = &args.sampling;
    if s.all_python || !s.pid.is_empty() || !s.container.is_empty() || !s.cgroup.is_empty() {
        bail!(
            "run profiles the command it starts: --all-python, --pid, --container and --cgroup attach to running processes (use them without `run`)"
        );
    }
    let out = &args.out;
    // Everything about the output and the command is checked before the
    // command starts.
    let format = out.output_format()?;
    let target = out.target()?;
    let baseline = load_baseline(out.diff_baseline.as_deref(), format)?;
    let argv = launch::command_line(args.module.as_deref(), &args.command)?;
    let who = launch::invoking_user()?;
    // The target is the command, followed once it is forked.
    let mut opts = options_for(
        s,
        session::Targets::Pids(Vec::new()),
        Vec::new(),
        args.mode,
        args.duration,
        format.needs_timeline(),
    );
    opts.progress = tachyon::progress::Progress::choose(args.realtime_stats, args.duration);
    let mut ready = session::preflight(&opts)?;

    let mut child = launch::spawn_gated(&argv, who.as_ref())?;
    ready.follow.push(child.pid);
    let exit: Rc<Cell<Option<i32>>> = Rc::new(Cell::new(None));
    // What the runtime's waiter reaped, kept even when the session ended
    // first (every process gone) and dropped the future waiting for it.
    let reaped: Arc<OnceLock<i32>> = Arc::new(OnceLock::new());
    let released: Rc<Cell<Option<launch::LaunchError>>> = Rc::new(Cell::new(None));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async {
        let stop = until_exit(child.pid, exit.clone(), reaped.clone());
        let on_started = || {
            if let Err(e) = child.release() {
                released.set(Some(e));
            }
        };
        session::run(opts, ready, stop, None, on_started).await
    });
    child.restore_terminal();
    let (profile, summary) = match result {
        Ok(r) => r,
        Err(e) => {
            // The command never ran (its gate closes with us).
            return Err(e.into());
        }
    };
    if let Some(e) = released.take() {
        // The child exits at once (127); reap it unless the run did.
        if exit.get().is_none() {
            let _ = launch::wait_exit(child.pid);
        }
        return Err(e.into());
    }
    eprintln!("{summary}");
    let empty = warn_if_empty(&summary);
    emit_or_save(&profile, format, &out.write_options(), baseline, &target)?;
    let code = match exit.get() {
        Some(code) => code,
        None => wait_after_duration(&child, &reaped),
    };
    Ok(match (code, empty) {
        (0, true) => ExitCode::from(EMPTY_PROFILE),
        (code, _) => ExitCode::from(code.clamp(0, 255) as u8),
    })
}

/// The profile was written at --duration while the command runs on: wait
/// for it, as a shell would.
fn wait_after_duration(child: &Launched, reaped: &OnceLock<i32>) -> i32 {
    if let Some(&code) = reaped.get() {
        return code;
    }
    eprintln!(
        "tachyon-bpf: waiting for the command (pid {}) to exit",
        child.pid
    );
    if let Some(code) = launch::try_wait_exit(child.pid) {
        return code;
    }
    // The runtime's waiter, still blocked in waitpid when the session
    // ended, reaped it: its status is on the way.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Some(&code) = reaped.get() {
            return code;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    127
}

/// Completes when the command exits (its status goes into `exit`). Ctrl-C,
/// SIGTERM and SIGHUP sent to tachyon-bpf are passed to the command's
/// process group (a terminal's Ctrl-C reaches it directly: it holds the
/// foreground); a second one stops profiling at once.
async fn until_exit(pid: u32, exit: Rc<Cell<Option<i32>>>, reaped: Arc<OnceLock<i32>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let waiter = tokio::task::spawn_blocking(move || {
        let code = launch::wait_exit(pid);
        let _ = reaped.set(code);
        code
    });
    tokio::pin!(waiter);
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut forwarded = 0;
    loop {
        let sig = tokio::select! {
            code = &mut waiter => {
                exit.set(Some(code.unwrap_or(127)));
                return;
            }
            _ = recv(&mut int) => libc::SIGINT,
            _ = recv(&mut term) => libc::SIGTERM,
            _ = recv(&mut hup) => libc::SIGHUP,
        };
        forwarded += 1;
        if forwarded > 1 {
            eprintln!(
                "tachyon-bpf: signalled again: writing the profile without waiting for the command"
            );
            return;
        }
        // SAFETY: kill on our child's process group.
        unsafe { libc::kill(-(pid as libc::pid_t), sig) };
    }
}
