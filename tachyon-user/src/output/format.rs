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
    /// pprof: gzipped `profile.proto`.
    Pprof,
    /// A binary recording of the whole profile, for `tachyon-bpf replay`.
    Recording,
    /// A table of the top functions (the default on standard output).
    Text,
    /// Python's pstats (`marshal`), as `cProfile -o` writes.
    Pstats,
    /// JSON Lines: a header, then one object per (pid, tid, stack).
    Jsonl,
    /// speedscope's JSON file format.
    Speedscope,
    /// The Firefox Profiler's processed profile format (JSON).
    Gecko,
    /// An HTML report: source lines with their sample counts.
    Heatmap,
}

impl OutputFormat {
    /// Every format, in the order shown to users.
    pub const ALL: &'static [OutputFormat] = &[
        OutputFormat::Collapsed,
        OutputFormat::Flamegraph,
        OutputFormat::Pprof,
        OutputFormat::Recording,
        OutputFormat::Text,
        OutputFormat::Pstats,
        OutputFormat::Jsonl,
        OutputFormat::Speedscope,
        OutputFormat::Gecko,
        OutputFormat::Heatmap,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Collapsed => "collapsed",
            OutputFormat::Flamegraph => "flamegraph",
            OutputFormat::Speedscope => "speedscope",
            OutputFormat::Gecko => "gecko",
            OutputFormat::Heatmap => "heatmap",
            OutputFormat::Pprof => "pprof",
            OutputFormat::Recording => "recording",
            OutputFormat::Text => "text",
            OutputFormat::Pstats => "pstats",
            OutputFormat::Jsonl => "jsonl",
        }
    }

    /// One-line description for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            OutputFormat::Collapsed => "folded stacks (flamegraph.pl / inferno input)",
            OutputFormat::Flamegraph => "interactive SVG flamegraph",
            OutputFormat::Speedscope => "speedscope JSON (www.speedscope.app)",
            OutputFormat::Gecko => "Firefox Profiler JSON with a timeline (profiler.firefox.com)",
            OutputFormat::Heatmap => "HTML report of source lines with their sample counts",
            OutputFormat::Pprof => "gzipped pprof protobuf (go tool pprof, Pyroscope, speedscope)",
            OutputFormat::Recording => {
                "binary recording of every sample, for `tachyon-bpf replay` (alias: binary)"
            }
            OutputFormat::Text => "table of the top functions (default on standard output)",
            OutputFormat::Pstats => "Python pstats file (pstats.Stats, snakeviz)",
            OutputFormat::Jsonl => "JSON Lines: a header, then one object per stack",
        }
    }

    /// File extensions (lowercase, without the dot) that select this format.
    /// The first one is the conventional extension for the format.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            OutputFormat::Collapsed => &["collapsed", "folded"],
            OutputFormat::Flamegraph => &["svg"],
            // Plain `.json` is left unmapped: it could be either JSON format.
            OutputFormat::Speedscope => &["speedscope.json"],
            OutputFormat::Gecko => &["gecko.json"],
            OutputFormat::Heatmap => &["html", "htm"],
            OutputFormat::Pprof => &["pb.gz", "pprof"],
            OutputFormat::Recording => &["tbr"],
            OutputFormat::Text => &["txt"],
            OutputFormat::Pstats => &["pstats", "prof"],
            OutputFormat::Jsonl => &["jsonl"],
        }
    }

    /// Other names accepted for the format.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            OutputFormat::Recording => &["binary"],
            _ => &[],
        }
    }

    /// Whether the writer needs [`Profile::timeline`](crate::profile::Profile::timeline)
    /// (so the run must call `keep_timeline`).
    pub fn needs_timeline(self) -> bool {
        matches!(self, OutputFormat::Recording | OutputFormat::Gecko)
    }

    /// Infers the format from the extension of `path` (case-insensitive).
    /// Extensions may have several parts (`pb.gz`): the file name must end
    /// with `.EXT` and have something before it.
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        path.extension()?;
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        Self::ALL.iter().copied().find(|f| {
            f.extensions().iter().any(|ext| {
                name.len() > ext.len() + 1
                    && name.ends_with(ext)
                    && name[..name.len() - ext.len()].ends_with('.')
            })
        })
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
            .find(|f| {
                f.name().eq_ignore_ascii_case(wanted)
                    || f.aliases().iter().any(|a| a.eq_ignore_ascii_case(wanted))
            })
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
        Some(
            clap::builder::PossibleValue::new(self.name())
                .help(self.description())
                .aliases(self.aliases().iter().copied()),
        )
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
            "unknown output format `pdf` (expected one of: collapsed, flamegraph, pprof, recording, text, pstats, jsonl, speedscope, gecko, heatmap)"
        );
    }

    #[test]
    fn format_from_path() {
        let cases = [
            ("out.svg", Some(OutputFormat::Flamegraph)),
            ("/tmp/dir.x/OUT.SVG", Some(OutputFormat::Flamegraph)),
            ("out.collapsed", Some(OutputFormat::Collapsed)),
            ("out.folded", Some(OutputFormat::Collapsed)),
            ("out.txt", Some(OutputFormat::Text)),
            ("out.pstats", Some(OutputFormat::Pstats)),
            ("out.PROF", Some(OutputFormat::Pstats)),
            ("out.jsonl", Some(OutputFormat::Jsonl)),
            ("out.pb.gz", Some(OutputFormat::Pprof)),
            ("/a.b/OUT.PB.GZ", Some(OutputFormat::Pprof)),
            ("out.pprof", Some(OutputFormat::Pprof)),
            ("out.gz", None),
            (".pb.gz", None),
            ("out.tbr", Some(OutputFormat::Recording)),
            ("out.html", Some(OutputFormat::Heatmap)),
            ("OUT.HTM", Some(OutputFormat::Heatmap)),
            ("out.speedscope.json", Some(OutputFormat::Speedscope)),
            ("out.gecko.json", Some(OutputFormat::Gecko)),
            ("/a.gecko.json/Out.Gecko.JSON", Some(OutputFormat::Gecko)),
            ("outgecko.json", None),
            (".gecko.json", None),
            ("out.json", None),
            ("out", None),
            (".svg", None),
        ];
        for (path, want) in cases {
            assert_eq!(OutputFormat::from_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn aliases_and_timeline_needs() {
        assert_eq!(
            "binary".parse::<OutputFormat>(),
            Ok(OutputFormat::Recording)
        );
        assert_eq!(
            <OutputFormat as ValueEnum>::from_str("binary", false),
            Ok(OutputFormat::Recording)
        );
        assert!(OutputFormat::Recording.needs_timeline());
        assert!(!OutputFormat::Pprof.needs_timeline());
    }

    #[test]
    fn json_formats_and_timeline_needs() {
        assert!(OutputFormat::Gecko.needs_timeline());
        assert!(!OutputFormat::Speedscope.needs_timeline());
        assert!(!OutputFormat::Heatmap.needs_timeline());
        assert_eq!(
            "speedscope".parse::<OutputFormat>(),
            Ok(OutputFormat::Speedscope)
        );
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
