//! `tachyon-bpf agent`: the same pipeline as a run, never stopping on its
//! own, cutting the profile into windows that go to the sinks.

use anyhow::Result;
use tachyon::cli::AgentArgs;
use tachyon::session::{WindowStats, Windows};
use tachyon::sink::DirSink;

pub fn run(args: AgentArgs) -> Result<()> {
    let opts = super::session_options(&args.sampling, args.duration, false)?;
    let sink = DirSink::new(&args.output_dir, args.keep)?;
    eprintln!(
        "tachyon-bpf agent: a window every {:.1} s into {}",
        args.interval.as_secs_f64(),
        args.output_dir.display()
    );
    let write = move |w: tachyon::profile::Profile, st: WindowStats| {
        let start = DirSink::file_name(w.meta.start_unix_ns);
        let result = sink.write(&w);
        let wrote = match &result {
            Ok(path) => format!("wrote {}", path.display()),
            Err(e) => format!("NOT WRITTEN: {e}"),
        };
        eprintln!(
            "window {start}: {:.1} s, {} samples, {} processes, {} lost, {} ticks without thread state; {wrote}",
            w.meta.duration_ns as f64 / 1e9,
            st.samples,
            st.processes,
            st.lost,
            st.no_thread_state,
        );
    };
    let windows = Windows {
        interval: args.interval,
        sink: Box::new(write),
    };
    let (_, summary) = super::sample(opts, Some(windows))?;
    eprintln!("{summary}");
    Ok(())
}
