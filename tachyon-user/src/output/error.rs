//! Errors of the output layer.

use std::io;
use std::path::PathBuf;

/// Why a profile could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing to the output stream failed (no file path known).
    #[error("writing output: {0}")]
    Io(#[from] io::Error),

    /// Writing, syncing or renaming a file failed. The message names the file
    /// and includes the OS error (e.g. `No space left on device`).
    #[error("cannot write {}: {error}", path.display())]
    File {
        /// The destination asked for (not the temporary file).
        path: PathBuf,
        error: io::Error,
    },

    /// The profile holds no samples, and the format cannot represent that
    /// (e.g. a flamegraph needs at least one stack).
    #[error("the profile has no samples to write")]
    Empty,
}

impl OutputError {
    /// The underlying I/O error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            OutputError::Io(e) | OutputError::File { error: e, .. } => Some(e),
            OutputError::Empty => None,
        }
    }
}

/// An output format name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{name}` (expected one of: {expected})")]
pub struct UnknownFormat {
    pub name: String,
    /// Comma-separated list of the known names.
    pub expected: String,
}
