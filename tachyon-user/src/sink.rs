//! Where the agent's windows go. `DirSink`: one pprof file per window,
//! named by the window's start (UTC), the newest `keep` kept.

use std::path::{Path, PathBuf};

use crate::output::{write_atomically, OutputError, PprofWriter, ProfileWriter, WriteOptions};
use crate::profile::Profile;

/// Prefix and suffix of the window files, so pruning touches nothing else.
const PREFIX: &str = "tachyon-";
pub const SUFFIX: &str = ".pb.gz";

/// Why a window could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error(transparent)]
    Write(#[from] OutputError),
}

/// One pprof file per window in a directory.
pub struct DirSink {
    dir: PathBuf,
    keep: Option<usize>,
}

impl DirSink {
    /// Creates `dir` if needed.
    pub fn new(dir: &Path, keep: Option<usize>) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::Dir(dir.to_path_buf(), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keep,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a window that starts at `start_unix_ns`:
    /// `tachyon-20261201T160501.250Z.pb.gz` (sorts by time).
    pub fn file_name(start_unix_ns: u64) -> String {
        let ts = jiff::Timestamp::from_nanosecond(i128::from(start_unix_ns))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        format!("{PREFIX}{}{SUFFIX}", ts.strftime("%Y%m%dT%H%M%S%.3fZ"))
    }

    /// Writes the window (atomically) and prunes old windows; returns the
    /// file written.
    pub fn write(&self, window: &Profile) -> Result<PathBuf, SinkError> {
        let path = self.dir.join(Self::file_name(window.meta.start_unix_ns));
        let writer = PprofWriter::new(WriteOptions::default());
        write_atomically(&path, |out| writer.write(window, out))?;
        if let Some(keep) = self.keep {
            self.prune(keep)?;
        }
        Ok(path)
    }

    /// Deletes all but the newest `keep` window files.
    fn prune(&self, keep: usize) -> Result<(), SinkError> {
        let dir_err = |e| SinkError::Dir(self.dir.clone(), e);
        let mut files: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(dir_err)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            .collect();
        files.sort();
        let excess = files.len().saturating_sub(keep);
        for old in &files[..excess] {
            std::fs::remove_file(self.dir.join(old)).map_err(dir_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{fixture_profile, TestDir};
    use crate::output::to_pprof;

    #[test]
    fn names_sort_by_time() {
        assert_eq!(
            DirSink::file_name(1_764_605_101_250_000_000),
            "tachyon-20251201T160501.250Z.pb.gz"
        );
        assert!(
            DirSink::file_name(2_000_000_000_000_000_000)
                > DirSink::file_name(1_999_999_999_999_000_000)
        );
    }

    #[test]
    fn windows_are_written_and_the_newest_kept() {
        let dir = TestDir::new("sink");
        let sink = DirSink::new(&dir.path().join("w"), Some(2)).expect("dir");
        std::fs::write(dir.path().join("w/other.txt"), "x").expect("other file");
        let mut written = Vec::new();
        for i in 0..4u64 {
            let mut p = fixture_profile();
            p.meta.start_unix_ns = 1_764_605_101_000_000_000 + i * 15_000_000_000;
            written.push(sink.write(&p).expect("write"));
        }
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("w"))
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        left.sort();
        let newest: Vec<String> = written[2..]
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            [
                "other.txt".to_string(),
                newest[0].clone(),
                newest[1].clone()
            ]
        );
        // The file is the window's pprof.
        let bytes = std::fs::read(&written[3]).expect("read back");
        let mut gz = flate2::read::GzDecoder::new(&bytes[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut gz, &mut raw).expect("gunzip");
        let decoded = <crate::output::pprof_proto::Profile as prost::Message>::decode(&raw[..])
            .expect("pprof");
        assert_eq!(
            decoded.sample.len(),
            to_pprof(&fixture_profile()).sample.len()
        );
    }
}
