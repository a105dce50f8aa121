//! `tachyon-bpf floor` (hidden, for the benchmark): an empty eBPF program
//! on every CPU's cpu-clock at the rate, until the duration ends or a
//! signal comes; then how many times it ran. What the workload loses to it
//! is the platform's price of sampling at that rate, which no eBPF
//! sampler can go below.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tachyon::bpf::Floor;
use tachyon::cli::FloorArgs;

use super::recv;

pub fn run(args: FloorArgs) -> Result<()> {
    tachyon::kernel::check_privileges()?;
    let floor = Floor::start(args.rate)?;
    let started = Instant::now();
    eprintln!(
        "tachyon-bpf floor: an empty program at {} Hz on {} CPUs",
        args.rate, floor.cpus
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(wait(args.duration));
    let elapsed = started.elapsed();
    let (runs, ran_for) = floor.runs()?;
    let secs = elapsed.as_secs_f64();
    println!(
        "floor: {runs} runs in {secs:.3} s on {} CPUs ({:.1} a second per CPU at {} Hz), {:.0} ns per run",
        floor.cpus,
        runs as f64 / secs.max(1e-9) / floor.cpus.max(1) as f64,
        args.rate,
        ran_for.as_nanos() as f64 / runs.max(1) as f64
    );
    Ok(())
}

/// Until `duration` passes or SIGINT, SIGTERM or SIGHUP comes.
async fn wait(duration: Option<Duration>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = sleep => {}
        _ = recv(&mut int) => {}
        _ = recv(&mut term) => {}
        _ = recv(&mut hup) => {}
    }
}
