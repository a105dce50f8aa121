//! One error line for the user: each cause said once.

use std::error::Error;

/// The error and its causes joined by `: `, leaving out a cause whose text
/// an earlier part already says (an error that prints its source, and then
/// the source itself, would otherwise say the same thing twice).
pub fn error_line(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("process {pid}: {source}")]
    struct Inspect {
        pid: u32,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from_raw_os_error(13);
        let e = anyhow::Error::new(Inspect { pid: 1, source: io });
        assert_eq!(
            error_line(e.as_ref()),
            "process 1: Permission denied (os error 13)"
        );
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(io).context("reading x.tbr");
        assert_eq!(
            error_line(e.as_ref()),
            "reading x.tbr: No such file or directory (os error 2)"
        );
    }
}
