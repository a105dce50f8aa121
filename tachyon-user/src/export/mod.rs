//! Where the agent's windows go, without ever holding up sampling.
//!
//! The sampling loop hands each closed window to [`Exporter::submit`],
//! which only pushes it onto one bounded queue per sink ([`queue`]) and
//! returns. A thread of its own runs one worker per sink: it encodes the
//! window for its sink (a pprof file, Pyroscope uploads, an OTLP request),
//! delivers it, and retries with backoff ([`http::backoff`]) while the sink
//! is down. When a queue is full the oldest window goes and is counted.
//! [`Exporter::finish`] closes the queues and gives the workers a bounded
//! time to deliver what is left. The same thread serves `--metrics`.

pub mod http;
pub mod labels;
pub mod metrics;
pub mod otlp;
pub mod pyroscope;
pub mod queue;

use std::sync::Arc;
use std::time::{Duration, Instant};

use self::http::{DeliveryError, HttpPost};
use self::metrics::Metrics;
use self::otlp::OtlpSink;
use self::pyroscope::PyroscopeSink;
use self::queue::{Entry, WindowQueue};
use crate::profile::Profile;
use crate::session::WindowStats;
use crate::sink::DirSink;

/// A bad sink option, found at start.
#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    #[error("{flag} {url:?}: {why}")]
    Url {
        flag: String,
        url: String,
        why: String,
    },
    #[error(transparent)]
    Label(#[from] labels::LabelError),
    #[error(transparent)]
    Dir(#[from] crate::sink::SinkError),
    #[error("--metrics {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("the export thread: {0}")]
    Thread(std::io::Error),
    #[error("no sink: give --output-dir DIR, --pyroscope URL or --otlp URL")]
    NoSink,
}

/// One closed window.
pub struct Window {
    pub profile: Profile,
    pub stats: WindowStats,
    /// `tachyon-<UTC start>` (the `--output-dir` file's stem), for messages.
    pub name: String,
}

/// A destination.
pub enum Sink {
    Dir(DirSink),
    Pyroscope(PyroscopeSink),
    Otlp(OtlpSink),
}

/// What one delivery attempt sends.
enum Delivery {
    File,
    Post(HttpPost),
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Dir(_) => "dir",
            Sink::Pyroscope(_) => "pyroscope",
            Sink::Otlp(_) => "otlp",
        }
    }

    /// Where it goes, for the start line.
    pub fn describe(&self) -> String {
        match self {
            Sink::Dir(d) => d.dir().display().to_string(),
            Sink::Pyroscope(p) => p.endpoint().to_string(),
            Sink::Otlp(o) => o.endpoint().to_string(),
        }
    }

    fn prepare(&self, w: &Window) -> Vec<Delivery> {
        match self {
            Sink::Dir(_) => vec![Delivery::File],
            Sink::Pyroscope(p) => p
                .requests(&w.profile)
                .into_iter()
                .map(Delivery::Post)
                .collect(),
            Sink::Otlp(o) => vec![Delivery::Post(o.request(&w.profile))],
        }
    }

    async fn deliver(
        &self,
        client: &reqwest::Client,
        w: &Window,
        d: &Delivery,
    ) -> Result<(), DeliveryError> {
        match (self, d) {
            (Sink::Dir(dir), _) => dir.write(&w.profile).map(|_| ()).map_err(Into::into),
            (Sink::Otlp(_), Delivery::Post(post)) => {
                let body = http::send(client, post).await?;
                OtlpSink::check_response(&body)
            }
            (_, Delivery::Post(post)) => http::send(client, post).await.map(|_| ()),
            (_, Delivery::File) => Ok(()),
        }
    }
}

/// What the agent exports to, as given on the command line.
pub struct ExportOptions {
    pub sinks: Vec<Sink>,
    /// Windows each sink may hold back while it is down.
    pub queue: usize,
    /// Time left to deliver queued windows when the agent stops.
    pub flush_timeout: Duration,
    /// `--metrics ADDR`, bound at start.
    pub metrics: Option<std::net::TcpListener>,
}

/// Binds `--metrics ADDR` (an error at start, not later).
pub fn bind_metrics(addr: &str) -> Result<std::net::TcpListener, SinkConfigError> {
    let err = |source| SinkConfigError::Metrics {
        addr: addr.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// A sink's queue and name, as the sampling side sees it.
struct Lane {
    name: &'static str,
    queue: Arc<WindowQueue<Window>>,
}

/// The export side of the agent.
pub struct Exporter {
    lanes: Vec<Lane>,
    metrics: Arc<Metrics>,
    thread: Option<std::thread::JoinHandle<()>>,
    flush_timeout: Duration,
    /// Tells the thread to stop waiting after the flush timeout.
    closing: Arc<tokio::sync::Notify>,
}

impl Exporter {
    /// Starts the export thread.
    pub fn start(options: ExportOptions) -> Result<Self, SinkConfigError> {
        if options.sinks.is_empty() {
            return Err(SinkConfigError::NoSink);
        }
        let metrics = Arc::new(Metrics::new());
        let client = http::client()?;
        let closing = Arc::new(tokio::sync::Notify::new());
        let mut lanes = Vec::new();
        let mut workers = Vec::new();
        for sink in options.sinks {
            let queue = Arc::new(WindowQueue::new(options.queue));
            lanes.push(Lane {
                name: sink.name(),
                queue: Arc::clone(&queue),
            });
            workers.push(Worker {
                sink,
                queue,
                metrics: Arc::clone(&metrics),
                client: client.clone(),
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SinkConfigError::Thread)?;
        let (m, c, timeout) = (
            Arc::clone(&metrics),
            Arc::clone(&closing),
            options.flush_timeout,
        );
        let listener = options.metrics;
        let thread = std::thread::Builder::new()
            .name("tachyon-export".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Some(l) = listener {
                        tokio::spawn(metrics::serve(l, m));
                    }
                    let mut set = tokio::task::JoinSet::new();
                    for w in workers {
                        set.spawn(w.run());
                    }
                    let all_done = async { while set.join_next().await.is_some() {} };
                    let deadline = async {
                        c.notified().await;
                        tokio::time::sleep(timeout).await;
                    };
                    tokio::select! {
                        _ = all_done => {}
                        _ = deadline => {}
                    }
                });
            })
            .map_err(SinkConfigError::Thread)?;
        Ok(Self {
            lanes,
            metrics,
            thread: Some(thread),
            flush_timeout: options.flush_timeout,
            closing,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Queues a closed window for every sink; never waits. Returns the
    /// stderr line for it.
    pub fn submit(&self, window: Window) -> String {
        self.metrics.window(&window.stats);
        let line = format!(
            "window {}: {:.1} s, {} samples, {} processes, {} lost, {} ticks without thread state",
            window.name,
            window.profile.meta.duration_ns as f64 / 1e9,
            window.stats.samples,
            window.stats.processes,
            window.stats.lost,
            window.stats.no_thread_state,
        );
        let window = Arc::new(window);
        for lane in &self.lanes {
            let label = Metrics::sink(lane.name);
            if let Some(old) = lane.queue.push(Arc::clone(&window)) {
                self.metrics.dropped.get_or_create(&label).inc();
                eprintln!(
                    "tachyon-bpf: {}: queue full: window {} dropped",
                    lane.name, old.item.name
                );
            }
            self.metrics
                .queued
                .get_or_create(&label)
                .set(lane.queue.len() as i64);
        }
        format!("{line}; {}", self.export_state())
    }

    /// `dir 4 delivered; pyroscope 3 delivered, 1 queued, 5 failed attempts`.
    pub fn export_state(&self) -> String {
        let parts: Vec<String> = self
            .lanes
            .iter()
            .map(|lane| {
                let label = Metrics::sink(lane.name);
                let mut s = format!(
                    "{} {} delivered",
                    lane.name,
                    self.metrics.delivered.get_or_create(&label).get()
                );
                let queued = lane.queue.len();
                // The window just queued is not news.
                if queued > 1 {
                    s += &format!(", {} queued", queued - 1);
                }
                for (what, family) in [
                    ("failed attempts", &self.metrics.failures),
                    ("dropped", &self.metrics.dropped),
                    ("rejected", &self.metrics.rejected),
                ] {
                    let n = family.get_or_create(&label).get();
                    if n > 0 {
                        s += &format!(", {n} {what}");
                    }
                }
                s
            })
            .collect();
        parts.join("; ")
    }

    /// Closes the queues and waits (up to the flush timeout) for the
    /// workers to deliver what is queued. Returns the closing line.
    pub fn finish(mut self) -> String {
        for lane in &self.lanes {
            lane.queue.close();
        }
        self.closing.notify_one();
        let started = Instant::now();
        if let Some(t) = self.thread.take() {
            // The thread ends by itself within the flush timeout.
            let _ = t.join();
        }
        let left: Vec<String> = self
            .lanes
            .iter()
            .filter(|l| !l.queue.is_empty())
            .map(|l| format!("{} windows not delivered to {}", l.queue.len(), l.name))
            .collect();
        let mut line = format!("export: {}", self.export_state_final());
        if !left.is_empty() {
            line += &format!(
                "; {} (gave up after {:.1} s)",
                left.join(", "),
                started.elapsed().max(self.flush_timeout).as_secs_f64()
            );
        }
        line
    }

    fn export_state_final(&self) -> String {
        let parts: Vec<String> = self
            .lanes
            .iter()
            .map(|lane| {
                let label = Metrics::sink(lane.name);
                format!(
                    "{} {} delivered, {} failed attempts, {} dropped, {} rejected",
                    lane.name,
                    self.metrics.delivered.get_or_create(&label).get(),
                    self.metrics.failures.get_or_create(&label).get(),
                    self.metrics.dropped.get_or_create(&label).get(),
                    self.metrics.rejected.get_or_create(&label).get(),
                )
            })
            .collect();
        parts.join("; ")
    }
}

/// Delivers one sink's windows in order.
struct Worker {
    sink: Sink,
    queue: Arc<WindowQueue<Window>>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Worker {
    async fn run(self) {
        let label = Metrics::sink(self.sink.name());
        while let Some(entry) = self.queue.next().await {
            self.deliver(&entry, &label).await;
            self.metrics
                .queued
                .get_or_create(&label)
                .set(self.queue.len() as i64);
        }
    }

    /// Delivers `entry` (every part of it), retrying what failed, until it
    /// is done, refused for good, or dropped from the queue.
    async fn deliver(&self, entry: &Entry<Window>, label: &metrics::SinkLabel) {
        let name = self.sink.name();
        let w = &entry.item;
        let mut pending = self.sink.prepare(w);
        let mut attempt = 0u32;
        loop {
            let mut failed = Vec::new();
            let mut last_error = None;
            for d in pending {
                match self.sink.deliver(&self.client, w, &d).await {
                    Ok(()) => {}
                    Err(e) if e.retryable() => {
                        last_error = Some(e);
                        failed.push(d);
                    }
                    Err(e) => {
                        self.metrics.rejected.get_or_create(label).inc();
                        eprintln!("tachyon-bpf: {name}: window {}: refused: {e}", w.name);
                    }
                }
            }
            let Some(error) = last_error else {
                if self.queue.remove(entry.seq) {
                    self.metrics.delivered.get_or_create(label).inc();
                    if attempt > 0 {
                        eprintln!(
                            "tachyon-bpf: {name}: window {} delivered after {} failed attempts",
                            w.name, attempt
                        );
                    }
                }
                return;
            };
            attempt += 1;
            self.metrics.failures.get_or_create(label).inc();
            let wait = http::backoff(attempt, fastrand::f64());
            eprintln!(
                "tachyon-bpf: {name}: window {}: attempt {attempt} failed: {error}; retrying in {:.1} s",
                w.name,
                wait.as_secs_f64()
            );
            // A new window, or the agent stopping, cuts the wait short.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.queue.changed() => {}
            }
            if !self.queue.holds(entry.seq) {
                // Dropped meanwhile (counted when it was).
                return;
            }
            pending = failed;
        }
    }
}

/// The name of a window: its `--output-dir` file's stem.
pub fn window_name(start_unix_ns: u64) -> String {
    DirSink::file_name(start_unix_ns)
        .trim_end_matches(crate::sink::SUFFIX)
        .to_string()
}
