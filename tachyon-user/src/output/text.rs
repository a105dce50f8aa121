//! text: a table of the top functions, for reading in a terminal, in the
//! style of CPython 3.15's `python -m profiling.sampling` default output:
//!
//! ```text
//! 44 samples in 2.000 s at 100 Hz (mode cpu), 2 processes, 5 threads
//!
//! Profile Stats:
//!        nsamples   sample%  tottime (s)    cumul%  cumtime (s)  filename:lineno(function)
//!           10/10      22.7        0.455      22.7        0.455  /srv/my app/models.py:10(Outer.Inner.method)
//! ```
//!
//! Functions are `(file, name, first_line)` over all processes and threads
//! (see [`super::functions`]): `nsamples` is `direct/cumulative` samples
//! (executing / on the stack, recursion counted once), the percentages are
//! shares of all samples, and the times are estimated as
//! `samples / all samples × duration`. Each time column picks its unit (s,
//! ms or μs) from its largest shown value, as CPython does.
//!
//! Rows are ordered by [`WriteOptions::sort`] (ties by file, line, name) and
//! cut to [`WriteOptions::limit`] rows ([`DEFAULT_LIMIT`] when unset, all
//! when 0).
//!
//! With `--opcodes` a second table follows: the instructions the innermost
//! Python frames were executing, by samples, as
//! `filename:lineno:col(function) OPNAME` (the line being executed, and the
//! instruction's first column on 3.11+), cut to the same limit.

use std::io::Write;

use super::functions::{FuncStats, FunctionTable};
use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::{FrameKind, Profile};

/// Rows shown when [`WriteOptions::limit`] is unset.
pub const DEFAULT_LIMIT: usize = 15;

/// Order of the rows of the text table (names as in CPython's
/// `profiling.sampling --sort`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum SortOrder {
    /// Most direct (executing) samples first.
    #[default]
    Nsamples,
    /// Most estimated time executing first (same order as nsamples).
    Tottime,
    /// Most estimated time on the stack first.
    Cumtime,
    /// Highest share of samples executing first (same order as nsamples).
    SamplePct,
    /// Highest share of samples on the stack first.
    CumulPct,
    /// Most samples on the stack first (same order as cumtime).
    NsamplesCumul,
    /// By function name, then file and line.
    Name,
    /// By file, then line and name.
    File,
}

impl SortOrder {
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            SortOrder::Nsamples => "nsamples",
            SortOrder::Tottime => "tottime",
            SortOrder::Cumtime => "cumtime",
            SortOrder::SamplePct => "sample-pct",
            SortOrder::CumulPct => "cumul-pct",
            SortOrder::NsamplesCumul => "nsamples-cumul",
            SortOrder::Name => "name",
            SortOrder::File => "file",
        }
    }
}

/// Writes the text table.
#[derive(Clone, Debug, Default)]
pub struct TextWriter {
    options: WriteOptions,
}

impl TextWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { options }
    }
}

/// `(unit name, scale from seconds)` for a column whose largest value is
/// `max` seconds.
fn time_unit(max: f64) -> (&'static str, f64) {
    if max >= 1.0 {
        ("s", 1.0)
    } else if max >= 0.001 {
        ("ms", 1e3)
    } else {
        ("μs", 1e6)
    }
}

/// Control characters (newlines, tabs) would break the table.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `file:first_line(name)`, or the bare name for frames without a file.
fn location(f: &FuncStats) -> String {
    if f.key.file.is_empty() {
        clean(&f.key.name)
    } else {
        format!(
            "{}:{}({})",
            clean(&f.key.file),
            f.key.first_line,
            clean(&f.key.name)
        )
    }
}

/// `--opcodes`: the table of the instructions executing, by samples.
fn write_instructions(
    profile: &Profile,
    table: &FunctionTable,
    limit: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    // (file, line, col, function, opcode) → samples whose innermost Python
    // frame was there.
    let mut rows: std::collections::BTreeMap<(String, u32, Option<u32>, String, String), u64> =
        Default::default();
    for (key, c) in &profile.counts {
        let leaf = profile
            .stacks
            .get(key.stack as usize)
            .and_then(|s| {
                s.iter()
                    .rev()
                    .filter_map(|&f| profile.frames.get(f as usize))
                    .find(|f| f.kind == FrameKind::Python)
            })
            .filter(|f| f.instr.is_some());
        let Some(f) = leaf else { continue };
        let col = f.instr.as_ref().and_then(|i| i.col);
        let op = f.opcode().unwrap_or("?").to_string();
        *rows
            .entry((f.file.clone(), f.line, col, f.name.clone(), op))
            .or_default() += c.samples;
    }
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let all = rows.len();
    rows.truncate(limit);
    writeln!(out, "Instructions (--opcodes):")?;
    writeln!(
        out,
        "{:>15}  {:>8}  filename:lineno:col(function) instruction",
        "nsamples", "sample%"
    )?;
    for ((file, line, col, name, op), n) in &rows {
        let at = match col {
            Some(col) => format!("{}:{line}:{col}({})", clean(file), clean(name)),
            None => format!("{}:{line}({})", clean(file), clean(name)),
        };
        writeln!(out, "{:>15}  {:>8.1}  {at} {op}", n, table.percent(*n))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Showing {} of {} (--limit).",
        rows.len(),
        plural(all, "instruction", "instructions")
    )?;
    writeln!(out)?;
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl ProfileWriter for TextWriter {
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let table = FunctionTable::new(profile);
        let threads: usize = profile.processes.values().map(|p| p.threads.len()).sum();
        let mode = if profile.meta.mode.is_empty() {
            String::new()
        } else {
            format!(" (mode {})", profile.meta.mode)
        };
        writeln!(
            out,
            "{} in {:.3} s at {} Hz{mode}, {}, {}",
            plural(table.total_samples as usize, "sample", "samples"),
            table.duration_s,
            profile.meta.rate_hz,
            plural(profile.processes.len(), "process", "processes"),
            plural(threads, "thread", "threads"),
        )?;
        writeln!(out)?;
        if table.funcs.is_empty() {
            writeln!(out, "No samples were collected.")?;
            out.flush()?;
            return Ok(());
        }

        let mut rows: Vec<&FuncStats> = table.funcs.iter().collect();
        // The table is ordered by (file, line, name): stable sorts keep that
        // order among ties.
        let sort = self.options.sort;
        match sort {
            SortOrder::Nsamples | SortOrder::Tottime | SortOrder::SamplePct => {
                rows.sort_by_key(|f| std::cmp::Reverse(f.self_samples))
            }
            SortOrder::Cumtime | SortOrder::CumulPct | SortOrder::NsamplesCumul => {
                rows.sort_by_key(|f| std::cmp::Reverse(f.cum_samples))
            }
            SortOrder::Name => rows.sort_by(|a, b| a.key.name.cmp(&b.key.name)),
            SortOrder::File => {}
        }
        let limit = match self.options.limit {
            None => DEFAULT_LIMIT,
            Some(0) => rows.len(),
            Some(n) => n,
        };
        let all = rows.len();
        rows.truncate(limit);

        let max_tt = rows.iter().map(|f| table.seconds(f.self_samples));
        let max_ct = rows.iter().map(|f| table.seconds(f.cum_samples));
        let (tt_unit, tt_scale) = time_unit(max_tt.fold(0.0, f64::max));
        let (ct_unit, ct_scale) = time_unit(max_ct.fold(0.0, f64::max));
        let tt_head = format!("tottime ({tt_unit})");
        let ct_head = format!("cumtime ({ct_unit})");
        let tt_w = tt_head.chars().count().max(12);
        let ct_w = ct_head.chars().count().max(12);

        writeln!(out, "Profile Stats:")?;
        writeln!(
            out,
            "{:>15}  {:>8}  {tt_head:>tt_w$}  {:>8}  {ct_head:>ct_w$}  filename:lineno(function)",
            "nsamples", "sample%", "cumul%"
        )?;
        for f in &rows {
            writeln!(
                out,
                "{:>15}  {:>8.1}  {:>tt_w$.3}  {:>8.1}  {:>ct_w$.3}  {}",
                format!("{}/{}", f.self_samples, f.cum_samples),
                table.percent(f.self_samples),
                table.seconds(f.self_samples) * tt_scale,
                table.percent(f.cum_samples),
                table.seconds(f.cum_samples) * ct_scale,
                location(f),
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "Showing {} of {}, sorted by {} (--sort, --limit).",
            rows.len(),
            plural(all, "function", "functions"),
            sort.name()
        )?;
        writeln!(out)?;
        let with_ops = profile.frames.iter().any(|f| f.instr.is_some());
        if with_ops {
            write_instructions(profile, &table, limit, out)?;
        }
        writeln!(out, "Legend:")?;
        for line in [
            "nsamples: direct/cumulative samples (executing / on the call stack)",
            "sample%: share of all samples executing in the function",
            "tottime: estimated time executing in the function (share × duration)",
            "cumul%: share of all samples with the function on the call stack",
            "cumtime: estimated time with the function on the call stack",
            "filename:lineno(function): file, first line and name of the function",
        ] {
            writeln!(out, "  {line}")?;
        }
        if with_ops {
            for line in [
                "instruction: what the innermost Python frame was executing (specialised form on",
                "  3.11+; ? where the bytecode could not be read), at lineno:col (col from 3.11,",
                "  0-based as in co_positions()); markers above the frame (<GC>, native and",
                "  kernel frames, off-CPU) count for it",
            ] {
                writeln!(out, "  {line}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, opcodes_profile, small_profile};
    use crate::output::{writer_for, OutputFormat};

    fn render(profile: &Profile, sort: SortOrder, limit: Option<usize>) -> String {
        let opts = WriteOptions {
            sort,
            limit,
            ..Default::default()
        };
        let mut out = Vec::new();
        writer_for(OutputFormat::Text, &opts)
            .write(profile, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The table rows, as whitespace-separated columns (the location joined
    /// back with spaces).
    fn rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .skip_while(|l| !l.trim_start().starts_with("nsamples"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let mut row: Vec<String> = cols[..5].iter().map(|s| s.to_string()).collect();
                row.push(cols[5..].join(" "));
                row
            })
            .collect()
    }

    #[test]
    fn opcodes_add_a_table_of_instructions() {
        let p = opcodes_profile();
        let text = render(&p, SortOrder::Nsamples, None);
        assert_golden("fixture.opcodes.txt", text.as_bytes());
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("Instructions (--opcodes):"))
            .skip(2)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(
            table[0].split_whitespace().collect::<Vec<_>>(),
            ["17", "68.0", "/srv/loop.py:5:16(hot)", "BINARY_OP_ADD_INT"]
        );
        // The <GC> sample counts for its Python leaf, the add (4 + 1).
        assert!(table.contains(&"              5      20.0  old.py:2(work) BINARY_ADD"));
        assert!(table
            .iter()
            .any(|l| l.ends_with("/srv/loop.py:4:13(hot) ?")));
        assert!(!render(&fixture_profile(), SortOrder::Nsamples, None).contains("Instructions"));
    }

    #[test]
    fn golden_fixture() {
        let p = fixture_profile();
        assert_golden(
            "fixture.txt",
            render(&p, SortOrder::Nsamples, None).as_bytes(),
        );
    }

    #[test]
    fn golden_fixture_cumtime_all() {
        let p = fixture_profile();
        assert_golden(
            "fixture.cumtime.txt",
            render(&p, SortOrder::Cumtime, Some(0)).as_bytes(),
        );
    }

    #[test]
    fn numbers_follow_the_fixture() {
        // 44 samples over 2 s; Outer.Inner.method is the leaf of 10.
        let text = render(&fixture_profile(), SortOrder::Nsamples, None);
        assert!(text
            .starts_with("44 samples in 2.000 s at 100 Hz (mode cpu), 2 processes, 5 threads\n"));
        let rows = rows(&text);
        assert_eq!(
            rows[0],
            [
                "10/10",
                "22.7",
                "454.545",
                "22.7",
                "454.545",
                "/srv/my app/models.py:10(Outer.Inner.method)"
            ]
        );
        // fib: 9 samples, 60 nested frames counted once.
        assert_eq!(rows[1][0], "9/9");
        assert_eq!(rows[1][5], "fib.py:1(fib)");
        // The header picks ms: the largest shown time is 0.68 s.
        assert!(text.contains("tottime (ms)"), "{text}");
        assert!(text.contains("cumtime (ms)"), "{text}");
        assert_eq!(rows.len(), 14); // fewer functions than the default limit
        assert!(text.contains("Showing 14 of 14 functions, sorted by nsamples"));
    }

    #[test]
    fn sort_and_limit() {
        let p = fixture_profile();
        let top = |sort, limit| -> Vec<String> {
            rows(&render(&p, sort, limit))
                .into_iter()
                .map(|r| r[5].clone())
                .collect()
        };
        // By cumulative: <module> and main of main.py are on 15 stacks; the
        // tie is broken by file, then line.
        assert_eq!(
            top(SortOrder::Cumtime, Some(2)),
            [
                "/srv/my app/main.py:1(<module>)",
                "/srv/my app/main.py:30(main)"
            ]
        );
        assert_eq!(
            top(SortOrder::CumulPct, Some(2)),
            top(SortOrder::Cumtime, Some(2))
        );
        assert_eq!(
            top(SortOrder::Tottime, Some(3)),
            top(SortOrder::Nsamples, Some(3))
        );
        assert_eq!(
            top(SortOrder::SamplePct, Some(3)),
            top(SortOrder::Nsamples, Some(3))
        );
        assert_eq!(
            top(SortOrder::Name, Some(3)),
            [
                "/srv/my app/main.py:23(<lambda>)",
                "/srv/my app/main.py:1(<module>)",
                "fib.py:1(<module>)"
            ]
        );
        assert_eq!(
            top(SortOrder::File, Some(2)),
            ["<unknown>", "/srv/my app/größe.py:5(größe)"]
        );
        assert_eq!(top(SortOrder::Nsamples, Some(1)).len(), 1);
        assert_eq!(top(SortOrder::Nsamples, Some(0)).len(), 14);
        let text = render(&p, SortOrder::NsamplesCumul, Some(4));
        assert!(text.contains("Showing 4 of 14 functions, sorted by nsamples-cumul"));
    }

    #[test]
    fn units_follow_the_largest_time() {
        // 3 samples in 30 ms: every time is below 1 s, so ms.
        let text = render(&small_profile("cpu"), SortOrder::Nsamples, None);
        let rows = rows(&text);
        assert_eq!(
            rows[0],
            [
                "3/3",
                "100.0",
                "30.000",
                "100.0",
                "30.000",
                "app.py:15(work)"
            ]
        );
        assert_eq!(
            rows[1],
            ["0/3", "0.0", "0.000", "100.0", "30.000", "app.py:1(main)"]
        );
        assert!(text.contains("tottime (ms)"));

        let mut p = small_profile("cpu");
        p.meta.duration_ns = 3_000_000_000;
        assert!(render(&p, SortOrder::Nsamples, None).contains("tottime (s)"));
        p.meta.duration_ns = 300_000;
        assert!(render(&p, SortOrder::Nsamples, None).contains("tottime (μs)"));
    }

    #[test]
    fn default_limit_is_15() {
        use crate::profile::{FrameInfo, StackKey, TimedSample};
        let mut p = Profile::default();
        for i in 0..20u32 {
            let f = p.intern_frame(FrameInfo::python(&format!("f{i:02}"), "m.py", i, i));
            let stack = p.intern_stack(&[f]);
            for _ in 0..=i {
                p.add_sample(TimedSample {
                    time_ns: 0,
                    key: StackKey {
                        pid: 1,
                        tid: 1,
                        stack,
                    },
                    weight_ns: 0,
                    flags: 0,
                    cpu: 0,
                });
            }
        }
        let text = render(&p, SortOrder::Nsamples, None);
        let rows = rows(&text);
        assert_eq!(rows.len(), DEFAULT_LIMIT);
        assert_eq!(rows[0][0], "20/20");
        assert_eq!(rows[14][5], "m.py:5(f05)");
        assert!(text.contains("Showing 15 of 20 functions"));
    }

    #[test]
    fn empty_profile() {
        let text = render(&Profile::default(), SortOrder::Nsamples, None);
        assert_eq!(
            text,
            "0 samples in 0.000 s at 0 Hz, 0 processes, 0 threads\n\nNo samples were collected.\n"
        );
    }
}
