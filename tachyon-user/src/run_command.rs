//! `tachyon-bpf run`: start a command, profile it from its first Python
//! instruction until it exits, write the profile, exit with its status.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tachyon::cli::RunArgs;
use tachyon::launch::{self, Launched, Reaper};
use tachyon::session;
use tachyon::top;
use tokio::sync::Notify;

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
    if args.live {
        top::check_terminal()?;
    }
    // The target is the command, followed once it is forked.
    let mut opts = options_for(
        s,
        session::Targets::Pids(Vec::new()),
        Vec::new(),
        args.mode,
        args.duration,
        format.needs_timeline(),
    );
    if !args.live {
        opts.progress = tachyon::progress::Progress::choose(args.realtime_stats, args.duration);
    }
    let mut ready = session::preflight(&opts)?;
    // With --live, the command's output goes to a log: the screen is ours.
    let log = match args.live {
        true => Some(top::log_file("run", who.as_ref().map(|w| (w.uid, w.gid)))?),
        false => None,
    };
    let io = launch::ChildIo {
        output: log.as_ref().map(|(_, f)| f.as_raw_fd()),
    };

    let mut child = launch::spawn_gated(&argv, who.as_ref(), io)?;
    // Forked: the command keeps the caller's niceness.
    super::raise_priority(s.nice)?;
    let reaper = Reaper::start(child.pid)?;
    ready.follow.push(child.pid);
    // Our own messages while the screen is up: shown after it.
    let own_log = match args.live {
        true => Some(top::log_file("top", None)?),
        false => None,
    };
    let screen = match &own_log {
        Some((_, file)) => {
            let (feed, rx) = top::channel();
            opts.live = Some(feed);
            Some(top::Screen::start(
                super::top_command::context(&opts),
                rx,
                file,
            )?)
        }
        None => None,
    };
    let quit = screen.as_ref().map(top::Screen::quit_signal);
    let exit: Rc<Cell<Option<i32>>> = Rc::new(Cell::new(None));
    let released: Rc<Cell<Option<launch::LaunchError>>> = Rc::new(Cell::new(None));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async {
        let stop = until_exit(&reaper, child.pid, exit.clone(), quit);
        let on_started = || {
            if let Err(e) = child.release() {
                released.set(Some(e));
            }
        };
        session::run(opts, ready, stop, None, on_started).await
    });
    child.restore_terminal();
    let drawn = screen.map(top::Screen::finish);
    if let Some((path, file)) = &own_log {
        top::replay_log(path, file);
    }
    if let Some((path, _)) = &log {
        top::report_log(path, "the command's output is in");
    }
    match drawn {
        Some(Ok(cost)) => eprintln!("tachyon-bpf: {cost}"),
        Some(Err(e)) => eprintln!("tachyon-bpf: warning: the live view failed: {e}"),
        None => {}
    }
    let (profile, summary) = match result {
        Ok(r) => r,
        Err(e) => {
            // The command never ran (its gate closes with us).
            return Err(e.into());
        }
    };
    if let Some(e) = released.take() {
        // The child exits at once (127); the reaper reaps it.
        let _ = reaper.wait();
        return Err(e.into());
    }
    eprintln!("{summary}");
    let empty = warn_if_empty(&summary);
    emit_or_save(&profile, format, &out.write_options(), baseline, &target)?;
    let code = match exit.get() {
        Some(code) => code,
        None => wait_after_duration(&child, &reaper),
    };
    Ok(match (code, empty) {
        (0, true) => ExitCode::from(EMPTY_PROFILE),
        (code, _) => ExitCode::from(code.clamp(0, 255) as u8),
    })
}

/// The profile was written at --duration while the command runs on: wait
/// for it, as a shell would.
fn wait_after_duration(child: &Launched, reaper: &Reaper) -> i32 {
    if let Some(code) = reaper.status() {
        return code;
    }
    eprintln!(
        "tachyon-bpf: waiting for the command (pid {}) to exit",
        child.pid
    );
    reaper.wait()
}

/// Completes when the command exits (its status goes into `exit`). Ctrl-C,
/// SIGTERM and SIGHUP sent to tachyon-bpf are passed to the command's
/// process group (a terminal's Ctrl-C reaches it directly: it holds the
/// foreground), and so is quitting the live view (as SIGINT); a second one
/// stops profiling at once.
async fn until_exit(
    reaper: &Reaper,
    pid: u32,
    exit: Rc<Cell<Option<i32>>>,
    quit: Option<Arc<Notify>>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let waiter = reaper.exited();
    tokio::pin!(waiter);
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut forwarded = 0;
    loop {
        let sig = tokio::select! {
            code = &mut waiter => {
                exit.set(Some(code));
                return;
            }
            _ = quitting(quit.as_deref()) => libc::SIGINT,
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

/// Completes when the live view is quit; never without one.
async fn quitting(quit: Option<&Notify>) {
    match quit {
        Some(q) => q.notified().await,
        None => std::future::pending().await,
    }
}
