//! `tachyon-bpf top` and `--live` on an attaching run: the run's live
//! table on the terminal instead of the stats line.

use std::process::ExitCode;

use anyhow::{Context, Result};
use tachyon::cli::TopArgs;
use tachyon::profile::Profile;
use tachyon::session::{self, SessionOptions, Summary};
use tachyon::top::{self, screen};

use super::{attach, shutdown_signal, Attach};

/// `tachyon-bpf top`: an attaching run with the live view, which writes a
/// profile only when given -o.
pub fn run(args: TopArgs) -> Result<ExitCode> {
    attach(Attach {
        sampling: &args.sampling,
        mode: args.mode.mode,
        duration: args.duration,
        out: &args.out,
        realtime_stats: false,
        live: true,
        write_without_output: false,
    })
}

/// What the screen says about the run.
pub fn context(opts: &SessionOptions) -> screen::Context {
    screen::Context {
        what: format!("{} mode at {} Hz", opts.mode.name(), opts.rate_hz),
        window_secs: top::WINDOW_SECS,
    }
}

/// Runs a session with the live view until it stops: at `q`, Ctrl-C (a
/// key in the view), SIGTERM or SIGHUP, the end of --duration, or when
/// every --pid process has exited.
pub fn sample_live(mut opts: SessionOptions) -> Result<(Profile, Summary)> {
    let ready = session::preflight(&opts)?;
    let (log_path, log) = top::log_file("top", None)?;
    let (feed, rx) = top::channel();
    opts.live = Some(feed);
    let screen = top::Screen::start(context(&opts), rx, &log)?;
    let quit = screen.quit_signal();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime");
    let result = rt.map(|rt| {
        rt.block_on(async {
            let stop = async {
                tokio::select! {
                    _ = shutdown_signal() => {}
                    _ = quit.notified() => {}
                }
            };
            session::run(opts, ready, stop, None, || {}).await
        })
    });
    let drawn = screen.finish();
    top::replay_log(&log_path, &log);
    match drawn {
        Ok(cost) => eprintln!("tachyon-bpf: {cost}"),
        Err(e) => eprintln!("tachyon-bpf: warning: the live view failed: {e}"),
    }
    Ok(result??)
}
