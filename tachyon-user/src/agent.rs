//! `tachyon-bpf agent`: the same pipeline as a run, never stopping on its
//! own, cutting the profile into windows that go to the sinks.

use anyhow::Result;
use tachyon::cli::AgentArgs;
use tachyon::export::labels::{check_app_name, check_labels};
use tachyon::export::otlp::OtlpSink;
use tachyon::export::pyroscope::PyroscopeSink;
use tachyon::export::{bind_metrics, window_name, ExportOptions, Exporter, Sink, Window};
use tachyon::session::{WindowStats, Windows};
use tachyon::sink::DirSink;

/// The sinks the options name, every one checked before sampling starts.
fn export_options(args: &AgentArgs) -> Result<ExportOptions> {
    check_labels(&args.label)?;
    let mut sinks = Vec::new();
    if let Some(dir) = &args.output_dir {
        sinks.push(Sink::Dir(DirSink::new(dir, args.keep)?));
    }
    if let Some(url) = &args.pyroscope {
        check_app_name(&args.app_name)?;
        sinks.push(Sink::Pyroscope(PyroscopeSink::new(
            url,
            &args.app_name,
            &args.label,
        )?));
    }
    if let Some(url) = &args.otlp {
        sinks.push(Sink::Otlp(OtlpSink::new(url, &args.label)?));
    }
    let metrics = args.metrics.as_deref().map(bind_metrics).transpose()?;
    Ok(ExportOptions {
        sinks,
        queue: args.queue,
        flush_timeout: args.flush_timeout,
        metrics,
    })
}

pub fn run(args: AgentArgs) -> Result<()> {
    let opts = super::session_options(&args.sampling, args.mode.mode, args.duration, false)?;
    let export = export_options(&args)?;
    let sinks: Vec<String> = export
        .sinks
        .iter()
        .map(|s| format!("{} {}", s.name(), s.describe()))
        .collect();
    let metrics_at = export
        .metrics
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| format!("; metrics at http://{a}/metrics"))
        .unwrap_or_default();
    let exporter = Exporter::start(export)?;
    eprintln!(
        "tachyon-bpf agent: a window every {:.1} s to {}{metrics_at}",
        args.interval.as_secs_f64(),
        sinks.join(", ")
    );
    let shared = std::rc::Rc::new(exporter);
    let submit = std::rc::Rc::clone(&shared);
    let write = move |profile: tachyon::profile::Profile, stats: WindowStats| {
        let name = window_name(profile.meta.start_unix_ns);
        eprintln!(
            "{}",
            submit.submit(Window {
                profile,
                stats,
                name
            })
        );
    };
    let windows = Windows {
        interval: args.interval,
        sink: Box::new(write),
    };
    let result = super::sample(opts, Some(windows));
    // The sampling loop (and its handle on the exporter) is gone now.
    let exporter = std::rc::Rc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("the export queue is still in use"))?;
    let (_, summary) = result?;
    eprintln!("{summary}");
    eprintln!("{}", exporter.finish());
    Ok(())
}
