//! The list of output formats, their names and file extensions.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::error::UnknownFormat;

/// An output format. Names (for the CLI) and extensions (for inferring the
/// format from the output path) are defined once, in the methods below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputFormat {
    /// Brendan Gregg's folded stacks, one line per stack.
    Collapsed,
    /// An interactive SVG flamegraph.
    Flamegraph,
}

impl OutputFormat {
    /// Every format, in the order shown to users.
    pub const ALL: &'static [OutputFormat] = &[OutputFormat::Collapsed, OutputFormat::Flamegraph];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Collapsed => "collapsed",
            OutputFormat::Flamegraph => "flamegraph",
        }
    }

    /// One-line description for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            OutputFormat::Collapsed => "folded stacks (flamegraph.pl / inferno input)",
            OutputFormat::Flamegraph => "interactive SVG flamegraph",
        }
    }

    /// File extensions (lowercase, without the dot) that select this format.
    /// The first one is the conventional extension for the format.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            OutputFormat::Collapsed => &["collapsed", "folded", "txt"],
            OutputFormat::Flamegraph => &["svg"],
        }
    }

    /// Infers the format from the extension of `path` (case-insensitive).
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.extensions().contains(&ext.as_str()))
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownFormat {
                name: s.to_string(),
                expected: Self::ALL
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl clap::ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.description()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_round_trip() {
        for &f in OutputFormat::ALL {
            assert_eq!(f.name().parse::<OutputFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
            assert_eq!(
                <OutputFormat as ValueEnum>::from_str(f.name(), false),
                Ok(f)
            );
        }
        assert_eq!(
            "FlameGraph".parse::<OutputFormat>(),
            Ok(OutputFormat::Flamegraph)
        );
        let err = "pdf".parse::<OutputFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown output format `pdf` (expected one of: collapsed, flamegraph)"
        );
    }

    #[test]
    fn format_from_path() {
        let cases = [
            ("out.svg", Some(OutputFormat::Flamegraph)),
            ("/tmp/dir.x/OUT.SVG", Some(OutputFormat::Flamegraph)),
            ("out.collapsed", Some(OutputFormat::Collapsed)),
            ("out.folded", Some(OutputFormat::Collapsed)),
            ("out.txt", Some(OutputFormat::Collapsed)),
            ("out.html", None),
            ("out", None),
            (".svg", None),
        ];
        for (path, want) in cases {
            assert_eq!(OutputFormat::from_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn every_format_has_a_unique_name_and_extensions() {
        let mut names: Vec<_> = OutputFormat::ALL.iter().map(|f| f.name()).collect();
        let mut exts: Vec<_> = OutputFormat::ALL
            .iter()
            .flat_map(|f| f.extensions().iter().copied())
            .collect();
        let (n, e) = (names.len(), exts.len());
        names.sort_unstable();
        names.dedup();
        exts.sort_unstable();
        exts.dedup();
        assert_eq!((names.len(), exts.len()), (n, e));
    }
}
