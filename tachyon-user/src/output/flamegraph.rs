//! Interactive SVG flamegraph, rendered by `inferno` from folded stacks.
//!
//! The stacks are those of the collapsed format (same roots, labels and
//! values). Colours come from inferno's Python palette (application code red,
//! standard library yellow, `site-packages` aqua) with shades derived from a
//! hash of the frame name, so the same profile always renders to the same
//! bytes.

use std::io::Write;

use inferno::flamegraph::color::{MultiPalette, Palette};
use inferno::flamegraph::{from_lines, Options};

use super::stacks::{fold, folded_line, value_unit};
use super::{OutputError, ProfileWriter, WriteOptions, DEFAULT_TITLE};
use crate::profile::Profile;

/// inferno's options for our flamegraphs (plain and differential): title,
/// Python palette, deterministic colours, the profile's value unit.
pub(crate) fn inferno_options(profile: &Profile, options: &WriteOptions) -> Options<'static> {
    let mut opt = Options::default();
    opt.title = options
        .title
        .clone()
        .unwrap_or_else(|| DEFAULT_TITLE.to_string());
    opt.colors = Palette::Multi(MultiPalette::Python);
    opt.deterministic = true;
    opt.count_name = value_unit(profile).count_name().to_string();
    opt
}

/// Writes an SVG flamegraph.
#[derive(Clone, Debug, Default)]
pub struct FlamegraphWriter {
    options: WriteOptions,
}

impl FlamegraphWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { options }
    }
}

impl ProfileWriter for FlamegraphWriter {
    /// Fails with [`OutputError::Empty`] when there is no sample to draw.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let lines: Vec<String> = fold(profile, self.options.roots())
            .into_iter()
            .map(|(labels, value)| folded_line(&labels, value))
            .collect();
        if lines.is_empty() {
            return Err(OutputError::Empty);
        }

        let mut opt = inferno_options(profile, &self.options);
        from_lines(&mut opt, lines.iter().map(String::as_str), &mut *out)?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, small_profile};
    use crate::output::{writer_for, OutputFormat};

    fn render(profile: &Profile, options: &WriteOptions) -> Result<String, OutputError> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Flamegraph, options).write(profile, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn golden_fixture() {
        let svg = render(&fixture_profile(), &WriteOptions::default()).unwrap();
        assert_golden("fixture.svg", svg.as_bytes());
    }

    #[test]
    fn rendering_is_deterministic() {
        let p = fixture_profile();
        let opts = WriteOptions {
            threads: true,
            title: None,
            ..Default::default()
        };
        assert_eq!(render(&p, &opts).unwrap(), render(&p, &opts).unwrap());
    }

    #[test]
    fn title_and_totals() {
        let p = fixture_profile();
        let svg = render(&p, &WriteOptions::default()).unwrap();
        assert!(svg.contains(">tachyon-bpf</text>"));
        assert!(svg.contains(&format!("total_samples=\"{}\"", p.total_samples())));

        let opts = WriteOptions {
            threads: true,
            title: Some("größe & <co>".to_string()),
            ..Default::default()
        };
        let svg = render(&p, &opts).unwrap();
        assert!(svg.contains("größe &amp; &lt;co&gt;"));
        assert!(svg.contains("thread worker-1 (tid 101)"));
    }

    #[test]
    fn wall_profiles_count_microseconds() {
        let svg = render(&small_profile("wall"), &WriteOptions::default()).unwrap();
        assert!(svg.contains("all (4,500 µs, 100%)"), "{svg}");
    }

    #[test]
    fn empty_profile_is_an_error() {
        let err = render(&Profile::default(), &WriteOptions::default()).unwrap_err();
        assert!(matches!(err, OutputError::Empty), "{err}");
    }
}
