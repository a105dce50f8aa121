//! The `tachyon-bpf` binary.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tachyon::cli::Cli;
use tachyon::output::{write_atomically, writer_for, WriteOptions};
use tachyon::session::{self, SessionOptions, Targets};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tachyon-bpf: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let targets = if cli.all_python {
        Targets::AllPython
    } else if !cli.pid.is_empty() {
        Targets::Pids(cli.pid.clone())
    } else {
        bail!("nothing to profile: give --all-python or --pid PID");
    };
    let opts = SessionOptions {
        targets,
        rate_hz: cli.rate,
        duration: cli.duration,
        follow_children: cli.subprocesses,
        keep_timeline: false,
    };
    let initial = session::preflight(&opts)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (profile, summary) =
        rt.block_on(async { session::run(opts, initial, shutdown_signal()).await })?;
    let format = cli.output_format();
    let writer = writer_for(
        format,
        &WriteOptions {
            threads: cli.threads,
            title: None,
        },
    );
    match &cli.output {
        Some(path) => {
            write_atomically(path, |out| writer.write(&profile, out))?;
            eprintln!("{summary}");
            eprintln!("wrote {} profile to {}", format, path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            writer.write(&profile, &mut lock)?;
            lock.flush().context("writing to standard output")?;
            eprintln!("{summary}");
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term_fut = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term_fut => {}
    }
}
