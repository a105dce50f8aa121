//! Output writers: turn a [`Profile`] into a file format.
//!
//! Each format lives in its own module and implements [`ProfileWriter`].
//! Adding a format means: one module, one [`OutputFormat`] variant, one row
//! in [`OutputFormat::ALL`], one arm in each of [`OutputFormat::name`],
//! [`OutputFormat::description`], [`OutputFormat::extensions`] and
//! [`writer_for`].
//!
//! Files are written through [`write_atomically`], so a failed or interrupted
//! run never leaves a truncated profile behind.

mod atomic;
mod collapsed;
mod diff;
mod error;
mod flamegraph;
mod format;
mod functions;
mod gecko;
mod heatmap;
mod json;
mod jsonl;
mod pprof;
mod pstats;
mod recording;
#[cfg(test)]
mod replay_tests;
mod speedscope;
mod stacks;
mod target;
mod text;

#[cfg(test)]
pub(crate) mod fixture;

use std::io::Write;

use crate::profile::Profile;

pub use atomic::write_atomically;
pub use collapsed::CollapsedWriter;
pub use diff::{diff_writer_for, BaselineError, DiffBaseline, DiffFlamegraphWriter};
pub use error::{OutputError, UnknownFormat};
pub use flamegraph::FlamegraphWriter;
pub use format::OutputFormat;
pub use gecko::GeckoWriter;
pub use heatmap::{HeatmapWriter, SourceRoot};
pub use jsonl::{JsonlWriter, JSONL_FORMAT, JSONL_VERSION};
pub use pprof::{proto as pprof_proto, to_proto as to_pprof, PprofWriter};
pub use pstats::PstatsWriter;
pub use recording::{
    decode_recording, encode_recording, read_recording, RecordingError, RecordingWriter,
    RECORDING_MAGIC, RECORDING_VERSION,
};
pub use speedscope::SpeedscopeWriter;
pub use stacks::{sanitize_label, value_unit, GroupBy, Roots, ValueUnit};
pub use target::{resolve_format, Target, TargetError};
pub use text::{SortOrder, TextWriter, DEFAULT_LIMIT};

/// Renders a profile in one format.
pub trait ProfileWriter {
    /// Writes `profile` to `out`. Writers are deterministic: the same profile
    /// gives the same bytes.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError>;
}

/// Options shared by all writers; each writer uses the ones that apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Add a thread frame (`thread NAME (tid N)`) under the process frame.
    /// Without it, identical stacks of different threads of one process merge.
    pub threads: bool,
    /// Title for formats that show one (default `tachyon-bpf`).
    pub title: Option<String>,
    /// Row order of the `text` table.
    pub sort: SortOrder,
    /// Rows of the `text` table: `None` for [`DEFAULT_LIMIT`], `Some(0)`
    /// for all.
    pub limit: Option<usize>,
    /// Container and process frames above the stacks.
    pub group_by: GroupBy,
}

impl WriteOptions {
    /// The frames above each stack.
    pub fn roots(&self) -> Roots {
        Roots {
            threads: self.threads,
            group_by: self.group_by,
        }
    }
}

/// Default title of formats that show one.
pub const DEFAULT_TITLE: &str = "tachyon-bpf";

/// The writer for `format`.
pub fn writer_for(format: OutputFormat, options: &WriteOptions) -> Box<dyn ProfileWriter> {
    match format {
        OutputFormat::Collapsed => Box::new(CollapsedWriter::new(options.clone())),
        OutputFormat::Flamegraph => Box::new(FlamegraphWriter::new(options.clone())),
        OutputFormat::Pprof => Box::new(PprofWriter::new(options.clone())),
        OutputFormat::Recording => Box::new(RecordingWriter::new(options.clone())),
        OutputFormat::Text => Box::new(TextWriter::new(options.clone())),
        OutputFormat::Pstats => Box::new(PstatsWriter::new(options.clone())),
        OutputFormat::Jsonl => Box::new(JsonlWriter::new(options.clone())),
        OutputFormat::Speedscope => Box::new(SpeedscopeWriter::new(options.clone())),
        OutputFormat::Gecko => Box::new(GeckoWriter::new(options.clone())),
        OutputFormat::Heatmap => Box::new(HeatmapWriter::new(options.clone())),
    }
}
