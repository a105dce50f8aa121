//! Differential flamegraph (`--diff-baseline FILE`): the current profile
//! drawn as a flamegraph whose colours show the change from a baseline (red:
//! more than in the baseline, blue: less), rendered by inferno's
//! `differential` module from the folded stacks of both.
//!
//! The baseline is a recording (`.tbr`, folded with the same options as the
//! current profile) or a collapsed file. Frame widths are the current
//! profile's; stacks only in the baseline get zero width.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use inferno::flamegraph::from_lines;

use super::flamegraph::inferno_options;
use super::recording::{decode_recording, looks_like_recording, RecordingError};
use super::stacks::{fold, folded_line, Roots};
use super::{OutputError, OutputFormat, ProfileWriter, WriteOptions};
use crate::profile::Profile;

/// Why a baseline could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file starts like a recording but is not a valid one.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// Neither a recording nor folded stacks.
    #[error("line {line} is not a folded stack (`frame;frame;... COUNT`)")]
    NotFolded { line: usize },
    /// A baseline was given for a format that cannot use it.
    #[error("--diff-baseline applies to flamegraph output only, not {0}")]
    WrongFormat(OutputFormat),
}

/// The profile to compare against.
#[derive(Clone)]
pub enum DiffBaseline {
    /// A whole profile (from a recording).
    Profile(Box<Profile>),
    /// Folded-stack text, one `stack count` per line.
    Folded(String),
}

impl fmt::Debug for DiffBaseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffBaseline::Profile(p) => write!(f, "Profile({} samples)", p.total_samples()),
            DiffBaseline::Folded(s) => write!(f, "Folded({} lines)", s.lines().count()),
        }
    }
}

impl DiffBaseline {
    /// Loads a recording or a collapsed file.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        Self::from_bytes(&std::fs::read(path)?)
    }

    /// A recording (by its magic bytes), else UTF-8 folded stacks.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BaselineError> {
        if looks_like_recording(bytes) {
            return Ok(DiffBaseline::Profile(Box::new(decode_recording(bytes)?)));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            BaselineError::NotFolded { line: line + 1 }
        })?;
        for (i, line) in text.lines().enumerate() {
            let valid = line.trim().is_empty()
                || line
                    .trim_end()
                    .rsplit_once(' ')
                    .is_some_and(|(stack, n)| !stack.is_empty() && n.parse::<f64>().is_ok());
            if !valid {
                return Err(BaselineError::NotFolded { line: i + 1 });
            }
        }
        Ok(DiffBaseline::Folded(text.to_string()))
    }

    /// The baseline as folded text, with the roots the current profile gets.
    fn folded(&self, roots: Roots) -> String {
        match self {
            DiffBaseline::Folded(s) => s.clone(),
            DiffBaseline::Profile(p) => folded_text(p, roots),
        }
    }
}

fn folded_text(profile: &Profile, roots: Roots) -> String {
    let mut s = String::new();
    for (labels, value) in fold(profile, roots) {
        s.push_str(&folded_line(&labels, value));
        s.push('\n');
    }
    s
}

/// Writes a differential SVG flamegraph of the profile against a baseline.
#[derive(Clone, Debug)]
pub struct DiffFlamegraphWriter {
    options: WriteOptions,
    baseline: DiffBaseline,
}

impl DiffFlamegraphWriter {
    pub fn new(options: WriteOptions, baseline: DiffBaseline) -> Self {
        Self { options, baseline }
    }
}

/// The writer for `format` compared against `baseline`: a
/// [`DiffFlamegraphWriter`] for [`OutputFormat::Flamegraph`], an error for
/// any other format.
pub fn diff_writer_for(
    format: OutputFormat,
    options: &WriteOptions,
    baseline: DiffBaseline,
) -> Result<Box<dyn ProfileWriter>, BaselineError> {
    match format {
        OutputFormat::Flamegraph => Ok(Box::new(DiffFlamegraphWriter::new(
            options.clone(),
            baseline,
        ))),
        other => Err(BaselineError::WrongFormat(other)),
    }
}

impl ProfileWriter for DiffFlamegraphWriter {
    /// Fails with [`OutputError::Empty`] when the current profile has no
    /// sample to draw.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let after = folded_text(profile, self.options.roots());
        if after.is_empty() {
            return Err(OutputError::Empty);
        }
        let before = self.baseline.folded(self.options.roots());
        let mut diff = Vec::new();
        inferno::differential::from_readers(
            inferno::differential::Options::default(),
            before.as_bytes(),
            after.as_bytes(),
            &mut diff,
        )?;
        let diff =
            String::from_utf8(diff).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // inferno emits the stacks in hash order: sort for stable output.
        let mut lines: Vec<&str> = diff.lines().collect();
        lines.sort_unstable();

        let mut opt = inferno_options(profile, &self.options);
        from_lines(&mut opt, lines, &mut *out)?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, small_profile, TestDir};
    use crate::output::writer_for;

    /// The fixture with one stack's samples halved: the baseline.
    fn baseline_profile() -> Profile {
        let mut p = fixture_profile();
        let key = *p.sorted_keys().last().unwrap();
        p.counts.get_mut(&key).unwrap().samples = 1;
        let key = p.sorted_keys()[0];
        p.counts.get_mut(&key).unwrap().samples += 10;
        p
    }

    fn render(baseline: DiffBaseline, threads: bool) -> String {
        let opts = WriteOptions {
            threads,
            ..Default::default()
        };
        let mut out = Vec::new();
        diff_writer_for(OutputFormat::Flamegraph, &opts, baseline)
            .unwrap()
            .write(&fixture_profile(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn recording(p: &Profile) -> Vec<u8> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Recording, &WriteOptions::default())
            .write(p, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn golden_fixture() {
        let base = DiffBaseline::from_bytes(&recording(&baseline_profile())).unwrap();
        assert_golden("fixture.diff.svg", render(base, false).as_bytes());
    }

    #[test]
    fn recording_and_collapsed_baselines_agree() {
        let base = baseline_profile();
        for threads in [false, true] {
            let from_rec = DiffBaseline::from_bytes(&recording(&base)).unwrap();
            let from_text = DiffBaseline::from_bytes(
                folded_text(
                    &base,
                    Roots {
                        threads,
                        ..Default::default()
                    },
                )
                .as_bytes(),
            )
            .unwrap();
            assert!(matches!(from_text, DiffBaseline::Folded(_)));
            assert_eq!(render(from_rec, threads), render(from_text, threads));
        }
    }

    #[test]
    fn differences_are_coloured() {
        let base = DiffBaseline::from_bytes(&recording(&baseline_profile())).unwrap();
        let svg = render(base, false);
        // Stacks that shrank are blue, stacks that grew are red, and the
        // widths are the current profile's.
        assert!(
            svg.contains("weird:name (gen.py) (2 samples, 4.55%; +2.27%)"),
            "no positive delta shown"
        );
        assert!(
            svg.contains("main (/srv/my app/main.py:35) (15 samples, 34.09%; -22.73%)"),
            "no negative delta shown"
        );
        assert!(svg.contains("fill=\"rgb(100,100,255)\""), "no blue frame");
        let total = fixture_profile().total_samples();
        assert!(svg.contains(&format!("total_samples=\"{total}\"")));

        // Against itself nothing changes: every frame white-ish, no deltas.
        let same = DiffBaseline::from_bytes(&recording(&fixture_profile())).unwrap();
        let svg = render(same, false);
        assert!(!svg.contains("%; +") && !svg.contains("%; -"));
        assert!(svg.contains("%; 0.00%)"));
    }

    #[test]
    fn bad_baselines_are_clear_errors() {
        let err = DiffBaseline::from_bytes(b"a;b 3\nnot folded\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2 is not a folded stack (`frame;frame;... COUNT`)"
        );
        let mut rec = recording(&small_profile("cpu"));
        rec.truncate(rec.len() - 3);
        let err = DiffBaseline::from_bytes(&rec).unwrap_err();
        assert!(
            matches!(
                err,
                BaselineError::Recording(RecordingError::Truncated { .. })
            ),
            "{err}"
        );
        let dir = TestDir::new("diff-missing");
        let err = DiffBaseline::load(&dir.path().join("nope.tbr")).unwrap_err();
        assert!(matches!(err, BaselineError::Io(_)), "{err}");
        let base = DiffBaseline::Folded(String::new());
        let err = diff_writer_for(OutputFormat::Collapsed, &WriteOptions::default(), base)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "--diff-baseline applies to flamegraph output only, not collapsed"
        );
    }
}
