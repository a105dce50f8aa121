//! One HTTP upload, and whether a failed one is worth retrying.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{StatusCode, Url};

use super::SinkConfigError;

/// Time allowed for one upload, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most of an error response kept for the message.
const ERROR_BODY: usize = 200;

/// A prepared upload (kept for retries: the body is shared, not copied).
#[derive(Clone, Debug)]
pub struct HttpPost {
    pub url: Url,
    /// What it holds, for messages (`container web (0123456789ab)`).
    pub what: String,
    pub content: Content,
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Content {
    /// `multipart/form-data` with one file field.
    Multipart {
        field: &'static str,
        file_name: &'static str,
        bytes: Bytes,
    },
    /// A plain body.
    Body {
        content_type: &'static str,
        /// `Content-Encoding`, e.g. `gzip`.
        encoding: Option<&'static str>,
        bytes: Bytes,
    },
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No answer: connection refused, reset, timed out, DNS.
    #[error("{0}")]
    Transport(String),
    /// An answer that is not a success.
    #[error("HTTP {status}{}", body_suffix(.body))]
    Status { status: StatusCode, body: String },
    /// The server took the request but rejected part of it (OTLP partial
    /// success); retrying would not help.
    #[error("{0}")]
    Rejected(String),
    /// Writing a window file failed.
    #[error(transparent)]
    File(#[from] crate::sink::SinkError),
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl DeliveryError {
    /// Whether trying again later may succeed: no answer, a server error,
    /// 408 (timeout) or 429 (throttled); a file that could not be written
    /// (the disk may be full now and not later). Other client errors mean
    /// the request itself is wrong.
    pub fn retryable(&self) -> bool {
        match self {
            DeliveryError::Transport(_) | DeliveryError::File(_) => true,
            DeliveryError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            DeliveryError::Rejected(_) => false,
        }
    }
}

/// Parses a sink URL given on the command line: absolute, http or https,
/// with a host.
pub fn parse_url(flag: &str, url: &str) -> Result<Url, SinkConfigError> {
    let parsed = Url::parse(url).map_err(|e| SinkConfigError::Url {
        flag: flag.to_string(),
        url: url.to_string(),
        why: e.to_string(),
    })?;
    let bad = |why: &str| SinkConfigError::Url {
        flag: flag.to_string(),
        url: url.to_string(),
        why: why.to_string(),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("no query or fragment expected"));
    }
    Ok(parsed)
}

/// The client every sink shares.
pub fn client() -> Result<reqwest::Client, SinkConfigError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("tachyon-bpf/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SinkConfigError::Client(crate::report::error_line(&e)))
}

/// Sends `post`; returns the response body of a success.
pub async fn send(client: &reqwest::Client, post: &HttpPost) -> Result<Bytes, DeliveryError> {
    let request = client.post(post.url.clone());
    let request = match &post.content {
        Content::Multipart {
            field,
            file_name,
            bytes,
        } => {
            let part = reqwest::multipart::Part::stream(reqwest::Body::from(bytes.clone()))
                .file_name(*file_name);
            request.multipart(reqwest::multipart::Form::new().part(*field, part))
        }
        Content::Body {
            content_type,
            encoding,
            bytes,
        } => {
            let r = request
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(bytes.clone());
            match encoding {
                Some(e) => r.header(reqwest::header::CONTENT_ENCODING, *e),
                None => r,
            }
        }
    };
    let transport = |e: reqwest::Error| DeliveryError::Transport(crate::report::error_line(&e));
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        Ok(body)
    } else {
        let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY)])
            .trim()
            .replace(['\n', '\r'], " ");
        Err(DeliveryError::Status { status, body: text })
    }
}

/// The wait before retry `attempt` (1, 2, …): 0.5 s doubling up to 30 s,
/// each within ±20% so that a fleet of agents does not retry in step.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 0.5 * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    let capped = base.min(30.0);
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_secs_f64(capped * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("--otlp", "http://collector:4318").is_ok());
        assert!(parse_url("--otlp", "https://c.example/v1development/profiles").is_ok());
        for bad in [
            "collector:4318",
            "unix:/x",
            "http://",
            "http://c?x=1",
            "",
            "http://c#f",
        ] {
            let e = parse_url("--otlp", bad).expect_err(bad);
            assert!(e.to_string().contains("--otlp"), "{e}");
        }
    }

    #[test]
    fn retry_only_what_may_succeed_later() {
        let status = |s: u16| DeliveryError::Status {
            status: StatusCode::from_u16(s).expect("status"),
            body: String::new(),
        };
        assert!(DeliveryError::Transport("refused".into()).retryable());
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(status(s).retryable(), "{s}");
        }
        for s in [400, 401, 404, 413, 415] {
            assert!(!status(s).retryable(), "{s}");
        }
        assert!(!DeliveryError::Rejected("bad".into()).retryable());
        assert_eq!(status(503).to_string(), "HTTP 503 Service Unavailable");
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        assert_eq!(backoff(1, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(2, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(4, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(30, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(600));
    }
}
