//! The agent's counters, and the `--metrics ADDR` endpoint that serves
//! them in the Prometheus text format (`GET /metrics`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::session::WindowStats;

/// The label of per-sink series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: String,
}

/// Every counter the agent keeps; cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    pub windows: Counter,
    pub samples: Counter,
    pub lost: Counter,
    pub no_thread_state: Counter,
    pub processes: Gauge,
    pub delivered: Family<SinkLabel, Counter>,
    pub failures: Family<SinkLabel, Counter>,
    pub dropped: Family<SinkLabel, Counter>,
    pub rejected: Family<SinkLabel, Counter>,
    pub queued: Family<SinkLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tachyon");
        let m = Self {
            registry: Registry::default(),
            windows: Counter::default(),
            samples: Counter::default(),
            lost: Counter::default(),
            no_thread_state: Counter::default(),
            processes: Gauge::default(),
            delivered: Family::default(),
            failures: Family::default(),
            dropped: Family::default(),
            rejected: Family::default(),
            queued: Family::default(),
        };
        registry.register("windows", "Windows closed", m.windows.clone());
        registry.register("samples", "Samples in closed windows", m.samples.clone());
        registry.register(
            "samples_lost",
            "Samples the kernel could not hand over (ring buffer full)",
            m.lost.clone(),
        );
        registry.register(
            "ticks_without_thread_state",
            "Sampling ticks on a thread with no Python state",
            m.no_thread_state.clone(),
        );
        registry.register(
            "processes",
            "Python processes with samples in the last window",
            m.processes.clone(),
        );
        registry.register(
            "export_delivered",
            "Windows a sink delivered",
            m.delivered.clone(),
        );
        registry.register(
            "export_failures",
            "Failed delivery attempts (each retry counts)",
            m.failures.clone(),
        );
        registry.register(
            "export_dropped",
            "Windows dropped because a sink's queue was full",
            m.dropped.clone(),
        );
        registry.register(
            "export_rejected",
            "Windows (or parts) a sink refused for good",
            m.rejected.clone(),
        );
        registry.register(
            "export_queued",
            "Windows waiting for a sink",
            m.queued.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts a closed window.
    pub fn window(&self, st: &WindowStats) {
        self.windows.inc();
        self.samples.inc_by(st.samples);
        self.lost.inc_by(st.lost);
        self.no_thread_state.inc_by(st.no_thread_state);
        self.processes.set(st.processes as i64);
    }

    pub fn sink(name: &str) -> SinkLabel {
        SinkLabel {
            sink: name.to_string(),
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `listener` until the runtime stops.
pub async fn serve(listener: std::net::TcpListener, metrics: Arc<Metrics>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tachyon-bpf: --metrics: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let metrics = Arc::clone(&metrics);
                async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that goes away mid-request is no concern of ours.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn answer<B>(req: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(),
        ),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: the metrics are at /metrics\n".to_string(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_text_format() {
        let m = Metrics::new();
        m.window(&WindowStats {
            samples: 120,
            processes: 3,
            lost: 2,
            no_thread_state: 5,
        });
        m.delivered.get_or_create(&Metrics::sink("pyroscope")).inc();
        m.failures.get_or_create(&Metrics::sink("otlp")).inc_by(3);
        let text = m.render();
        for line in [
            "tachyon_windows_total 1",
            "tachyon_samples_total 120",
            "tachyon_samples_lost_total 2",
            "tachyon_ticks_without_thread_state_total 5",
            "tachyon_processes 3",
            "tachyon_export_delivered_total{sink=\"pyroscope\"} 1",
            "tachyon_export_failures_total{sink=\"otlp\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
