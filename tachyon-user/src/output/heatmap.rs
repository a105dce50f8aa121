//! An HTML "heatmap" report: every source line that was sampled, with its
//! self and cumulative sample counts and a colour scale, one section per
//! source file, in a single self-contained HTML file.
//!
//! Counts per (file, line): *self* counts the samples whose innermost frame
//! is at that line, *total* the samples with any frame at that line (once
//! per sample, however deep the recursion). With `--opcodes` a column
//! breaks each line's self count down by the instruction the innermost
//! frame was executing (`BINARY_OP_ADD_INT 357 (96%)`), hottest first. For `wall` profiles the counts
//! are microseconds of weight instead (see [`super::value_unit`]). Files are
//! ordered by total, hottest first; lines by number.
//!
//! Source text is read only when it can be read safely (see
//! [`read_source`]): the file is opened under `/proc/PID/root` of a process
//! that ran it (so a process in a container shows its own file), with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)` and `O_NOFOLLOW` (no
//! symbolic link anywhere in the path, no escape from that root), must be a
//! regular file and at most [`MAX_SOURCE_BYTES`] long. The file names come
//! from the profiled code (`compile(src, "/root/secret.txt", "exec")`), so
//! it is opened and read with the rights of that process, never the
//! profiler's: its filesystem uid, gid and groups as they were when it was
//! first tracked ([`crate::profile::ProcessOwner`]), in a thread of its own
//! ([`as_process`]), and only while the pid is still that process (same
//! start time, same credentials). A profile without owners (read from a
//! recording) shows no source text. Otherwise the section shows the counts
//! without source and says why. Names that are not files
//! (`<string>`, `<frozen importlib._bootstrap>`) and relative paths get
//! counts only. Of a file's text, the sampled lines are shown with
//! [`CONTEXT`] lines around them; other runs of lines are folded into one
//! row. Everything from the profile or the files is HTML-escaped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::stacks::{value_unit, ValueUnit};
use super::{OutputError, ProfileWriter, WriteOptions, DEFAULT_TITLE};
use crate::procfs;
use crate::profile::{FrameKind, ProcessOwner, Profile};

mod as_process;

/// Source lines shown around each sampled line.
const CONTEXT: u32 = 3;

/// Larger source files are not shown.
pub const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Where source files are looked up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SourceRoot {
    /// Under `/proc/PID/root` of a process that ran the file, with its
    /// rights; only processes with an [`ProcessOwner`] (live ones).
    #[default]
    Process,
    /// Under this directory, as if it were every process's root (tests).
    Dir(PathBuf),
    /// Never read source files.
    None,
}

/// Writes the HTML heatmap.
#[derive(Clone, Debug, Default)]
pub struct HeatmapWriter {
    options: WriteOptions,
    root: SourceRoot,
}

impl HeatmapWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self {
            options,
            root: SourceRoot::Process,
        }
    }

    /// Reads source files from `root` instead.
    pub fn with_source_root(mut self, root: SourceRoot) -> Self {
        self.root = root;
        self
    }
}

/// Why the source text of a file is not shown.
#[derive(Debug)]
pub enum NoSource {
    NotAFile,
    Relative,
    NoRoot(u32, io::Error),
    Symlink,
    NotRegular,
    TooLarge(u64),
    Open(io::Error),
    /// The profiled process itself could not read it.
    Denied,
    /// No live process to read it from (a replayed recording).
    NotKept,
    /// The process is gone, or its pid is another process's now.
    Gone(u32),
    /// The process's credentials changed since it was first tracked.
    OwnerChanged(u32),
    /// The process's credentials could not be taken to read the file.
    Credentials(io::Error),
}

impl std::fmt::Display for NoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoSource::NotAFile => f.write_str("not a file name"),
            NoSource::Relative => {
                f.write_str("relative path (the working directory of the process is not known)")
            }
            NoSource::NoRoot(pid, e) => write!(f, "cannot open the root of process {pid}: {e}"),
            NoSource::Symlink => f.write_str("the path goes through a symbolic link"),
            NoSource::NotRegular => f.write_str("not a regular file"),
            NoSource::TooLarge(n) => write!(
                f,
                "file too large ({n} bytes; at most {MAX_SOURCE_BYTES} are read)"
            ),
            NoSource::Open(e) => write!(f, "cannot read the file: {e}"),
            NoSource::Denied => f.write_str("not readable by the profiled process's user"),
            NoSource::NotKept => f.write_str(
                "source text is not kept in recordings (it is read only from a running \
                 process, with its rights)",
            ),
            NoSource::Gone(pid) => write!(
                f,
                "the process is gone (pid {pid} exited or is another process now)"
            ),
            NoSource::OwnerChanged(pid) => {
                write!(f, "the user of process {pid} changed while it was profiled")
            }
            NoSource::Credentials(e) => write!(
                f,
                "cannot take the rights of the profiled process to read it: {e}"
            ),
        }
    }
}

/// Whether `name` (a code object's file name) names a file at all.
fn is_file_name(name: &str) -> bool {
    let pseudo = name.starts_with('<') && name.ends_with('>');
    !name.is_empty() && !pseudo
}

/// Opens `root` (a directory, e.g. `/proc/PID/root`) as a path handle.
fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(fd)
}

/// Reads the source file `file` (absolute, as the process knows it) under
/// the directory `root`, safely: resolved with `root` as `/` (`..` and
/// absolute names cannot leave it), refusing any symbolic link on the way
/// and on the final component, opened non-blocking (a FIFO cannot hang the
/// writer), only if it is a regular file of at most [`MAX_SOURCE_BYTES`].
pub fn read_source(root: &Path, file: &str) -> Result<String, NoSource> {
    if !is_file_name(file) {
        return Err(NoSource::NotAFile);
    }
    if !file.starts_with('/') {
        return Err(NoSource::Relative);
    }
    let root_fd = open_root(root).map_err(NoSource::Open)?;
    read_source_at(root_fd.as_fd(), file)
}

fn read_source_at(root: std::os::fd::BorrowedFd<'_>, file: &str) -> Result<String, NoSource> {
    let how = OpenHow::new()
        .flags(
            OFlag::O_RDONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
        )
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = openat2(root, file.trim_start_matches('/'), how).map_err(|e| match e {
        // ELOOP: a symbolic link in the path (RESOLVE_NO_SYMLINKS / O_NOFOLLOW).
        Errno::ELOOP => NoSource::Symlink,
        Errno::EACCES => NoSource::Denied,
        e => NoSource::Open(e.into()),
    })?;
    let mut f = File::from(fd);
    let meta = f.metadata().map_err(NoSource::Open)?;
    if !meta.file_type().is_file() {
        return Err(NoSource::NotRegular);
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(NoSource::TooLarge(meta.len()));
    }
    let mut bytes = Vec::new();
    (&mut f)
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(NoSource::Open)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(NoSource::TooLarge(bytes.len() as u64));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// HTML-escapes `s` for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Counts of one file.
#[derive(Default)]
struct FileCounts {
    /// line → (self, total); line 0 = unknown line.
    lines: BTreeMap<u32, (u64, u64)>,
    /// Total of the file: samples with any frame in it.
    total: u64,
    /// Process key → samples, to pick whose root to read the file from.
    pids: HashMap<u32, u64>,
    /// Functions seen per line (names), for the tooltip.
    functions: BTreeMap<u32, Vec<String>>,
    /// line → instruction → self (`--opcodes`).
    instructions: BTreeMap<u32, BTreeMap<String, u64>>,
}

/// `BINARY_OP_ADD_INT 357 (96%), STORE_FAST 7 (2%)`: a line's self count
/// by instruction, hottest first (ties by name).
fn instruction_breakdown(ops: &BTreeMap<String, u64>, self_total: u64) -> String {
    let mut v: Vec<(&String, &u64)> = ops.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .map(|(op, &n)| {
            let pct = if self_total > 0 {
                (n as f64 * 100.0 / self_total as f64).round() as u64
            } else {
                0
            };
            format!("{op} {n} ({pct}%)")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn aggregate(profile: &Profile, unit: ValueUnit) -> BTreeMap<String, FileCounts> {
    let mut files: BTreeMap<String, FileCounts> = BTreeMap::new();
    let mut keys: Vec<_> = profile.counts.iter().collect();
    keys.sort_by_key(|(k, _)| **k);
    for (key, c) in keys {
        let value = match unit {
            ValueUnit::Samples => c.samples,
            ValueUnit::Microseconds => c.weight_ns.saturating_add(500) / 1000,
        };
        if value == 0 {
            continue;
        }
        let Some(stack) = profile.stacks.get(key.stack as usize) else {
            continue;
        };
        let frames: Vec<_> = stack
            .iter()
            .filter_map(|&f| profile.frames.get(f as usize))
            .filter(|f| f.kind == FrameKind::Python && !f.file.is_empty())
            .collect();
        let mut seen_lines = HashSet::new();
        let mut seen_files = HashSet::new();
        for f in &frames {
            let counts = files.entry(f.file.clone()).or_default();
            if seen_lines.insert((f.file.as_str(), f.line)) {
                counts.lines.entry(f.line).or_default().1 += value;
                let names = counts.functions.entry(f.line).or_default();
                if !names.contains(&f.name) {
                    names.push(f.name.clone());
                }
            }
            if seen_files.insert(f.file.as_str()) {
                counts.total += value;
                *counts.pids.entry(key.pid).or_default() += value;
            }
        }
        // Self: the innermost frame of the stack, if it is a Python frame.
        if let Some(leaf) = stack.last().and_then(|&f| profile.frames.get(f as usize)) {
            if leaf.kind == FrameKind::Python && !leaf.file.is_empty() {
                if let Some(counts) = files.get_mut(&leaf.file) {
                    counts.lines.entry(leaf.line).or_default().0 += value;
                    if let Some(op) = leaf.opcode() {
                        *counts
                            .instructions
                            .entry(leaf.line)
                            .or_default()
                            .entry(op.to_string())
                            .or_default() += value;
                    }
                }
            }
        }
    }
    files
}

/// Background colour for a count: white to red, by share of `max`.
fn heat(value: u64, max: u64) -> String {
    if value == 0 || max == 0 {
        return String::new();
    }
    let frac = value as f64 / max as f64;
    // Lightness 96% (barely warm) down to 62% (hot, text still readable).
    let lightness = (96.0 - 34.0 * frac).round() as u32;
    format!(" style=\"background:hsl(8,100%,{lightness}%)\"")
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em;font-family:monospace}\
table{border-collapse:collapse}td,th{padding:0 .6em;vertical-align:top}\
th{text-align:left;border-bottom:1px solid #999}td.n{text-align:right;font-family:monospace;color:#333}\
td.src{font-family:monospace;white-space:pre;tab-size:4}tr.gap td{color:#999}\
.note{color:#a33;font-style:italic}.legend span{display:inline-block;width:3em;text-align:center}";

/// Style of the instructions column (`--opcodes` only).
const OPS_STYLE: &str = "td.ops{font-family:monospace;font-size:.85em;color:#444}";

impl ProfileWriter for HeatmapWriter {
    /// Fails with [`OutputError::Empty`] when no Python frame has a file.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let unit = value_unit(profile);
        let files = aggregate(profile, unit);
        if files.is_empty() {
            return Err(OutputError::Empty);
        }
        // `--opcodes`: a column of instructions per line.
        let with_ops = profile.frames.iter().any(|f| f.instr.is_some());
        let mut order: Vec<(&String, &FileCounts)> = files.iter().collect();
        order.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(b.0)));
        let max = files
            .values()
            .flat_map(|f| f.lines.values().map(|&(_, t)| t))
            .max()
            .unwrap_or(0);
        let title = self.options.title.as_deref().unwrap_or(DEFAULT_TITLE);
        let count_name = unit.count_name();
        let grand_total = match unit {
            ValueUnit::Samples => profile.total_samples(),
            ValueUnit::Microseconds => profile.total_weight_ns().saturating_add(500) / 1000,
        };

        writeln!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{} — source heatmap</title>\n<style>{STYLE}{}</style>\n</head>\n<body>\n\
             <h1>{} — source heatmap</h1>",
            escape(title),
            if with_ops { OPS_STYLE } else { "" },
            escape(title)
        )?;
        writeln!(
            out,
            "<p>{grand_total} {count_name} in all. <b>self</b>: {count_name} whose innermost \
             frame is at the line; <b>total</b>: {count_name} with the line anywhere on the \
             stack. Colour: total, relative to the hottest line ({max} {count_name}).</p>"
        )?;
        write!(out, "<p class=\"legend\">")?;
        for pct in [10u64, 25, 50, 75, 100] {
            write!(out, "<span{}>{pct}%</span>", heat(pct, 100))?;
        }
        writeln!(out, "</p>")?;

        writeln!(out, "<table>\n<tr><th>file</th><th>total</th></tr>")?;
        for (i, (name, counts)) in order.iter().enumerate() {
            writeln!(
                out,
                "<tr><td><a href=\"#file-{i}\">{}</a></td><td class=\"n\">{}</td></tr>",
                escape(name),
                counts.total
            )?;
        }
        writeln!(out, "</table>")?;

        for (i, (name, counts)) in order.iter().enumerate() {
            writeln!(
                out,
                "<h2 id=\"file-{i}\">{}</h2>\n<p>total {} {count_name}</p>",
                escape(name),
                counts.total
            )?;
            let source = self.source(profile, name, counts);
            let text = match &source {
                Ok(text) => Some(text.as_str()),
                Err(why) => {
                    writeln!(
                        out,
                        "<p class=\"note\">source not shown: {}</p>",
                        escape(&why.to_string())
                    )?;
                    None
                }
            };
            let ops_head = if with_ops {
                "<th>instructions (self)</th>"
            } else {
                ""
            };
            writeln!(
                out,
                "<table>\n<tr><th>line</th><th>self</th><th>total</th>{ops_head}<th>source</th></tr>"
            )?;
            let row = |out: &mut dyn Write, line: u32, code: &str| -> io::Result<()> {
                let (selfc, total) = counts.lines.get(&line).copied().unwrap_or((0, 0));
                let tip = counts
                    .functions
                    .get(&line)
                    .map(|names| format!(" title=\"{}\"", escape(&names.join(", "))))
                    .unwrap_or_default();
                let shown = |v: u64| if v == 0 { String::new() } else { v.to_string() };
                let line_label = if line == 0 {
                    "?".to_string()
                } else {
                    line.to_string()
                };
                let ops = if with_ops {
                    let text = counts
                        .instructions
                        .get(&line)
                        .map(|ops| instruction_breakdown(ops, selfc))
                        .unwrap_or_default();
                    format!("<td class=\"ops\">{}</td>", escape(&text))
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "<tr{}{tip}><td class=\"n\">{line_label}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td>{ops}<td class=\"src\">{}</td></tr>",
                    heat(total, max),
                    shown(selfc),
                    shown(total),
                    escape(code)
                )
            };
            let gap_row = |out: &mut dyn Write, n: u32| {
                let s = if n == 1 { "" } else { "s" };
                let ops = if with_ops { "<td></td>" } else { "" };
                writeln!(
                    out,
                    "<tr class=\"gap\"><td class=\"n\">⋮</td><td></td><td></td>{ops}\
                     <td class=\"src\">({n} line{s} without samples)</td></tr>"
                )
            };
            if let Some(&(s, t)) = counts.lines.get(&0) {
                if s + t > 0 {
                    row(out, 0, "(line unknown)")?;
                }
            }
            match text {
                Some(text) => {
                    let lines: Vec<&str> = text.lines().collect();
                    // Sampled lines with CONTEXT lines around them; each
                    // run of other lines is one gap row.
                    let near_sample = |n: u32| {
                        let from = n.saturating_sub(CONTEXT).max(1);
                        counts.lines.range(from..=n + CONTEXT).next().is_some()
                    };
                    let mut gap = 0;
                    for (i, code) in lines.iter().enumerate() {
                        let n = i as u32 + 1;
                        if !near_sample(n) {
                            gap += 1;
                            continue;
                        }
                        if gap > 0 {
                            gap_row(out, gap)?;
                            gap = 0;
                        }
                        row(out, n, code)?;
                    }
                    if gap > 0 {
                        gap_row(out, gap)?;
                    }
                    // Sampled lines past the end of the file (it changed?).
                    for &line in counts.lines.keys() {
                        if line as usize > lines.len() {
                            row(out, line, "(past the end of the file)")?;
                        }
                    }
                }
                None => {
                    for &line in counts.lines.keys().filter(|&&l| l > 0) {
                        row(out, line, "")?;
                    }
                }
            }
            writeln!(out, "</table>")?;
        }
        writeln!(out, "</body>\n</html>")?;
        out.flush()?;
        Ok(())
    }
}

impl HeatmapWriter {
    /// The text of `file`, from the root of the process with the most
    /// samples in it (then the next ones), or why it cannot be shown.
    fn source(
        &self,
        profile: &Profile,
        file: &str,
        counts: &FileCounts,
    ) -> Result<String, NoSource> {
        if !is_file_name(file) {
            return Err(NoSource::NotAFile);
        }
        if !file.starts_with('/') {
            return Err(NoSource::Relative);
        }
        match &self.root {
            SourceRoot::None => Err(NoSource::Open(io::Error::other("source reading is off"))),
            SourceRoot::Dir(dir) => read_source(dir, file),
            SourceRoot::Process => {
                let mut pids: Vec<(u32, u64)> = counts.pids.iter().map(|(&p, &n)| (p, n)).collect();
                pids.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let mut last = None;
                for (key, _) in pids {
                    // Only a process seen alive by this run, with its owner.
                    let result = match profile.processes.get(&key) {
                        Some(info) => match &info.owner {
                            Some(owner) => read_as_process(profile.pid_of(key), owner, file),
                            None => Err(NoSource::NotKept),
                        },
                        None => Err(NoSource::NotKept),
                    };
                    match result {
                        Ok(text) => return Ok(text),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or(NoSource::NotKept))
            }
        }
    }
}

/// Reads `file` under the root of process `pid`, with its rights, if it is
/// still the process `owner` describes: same start time and credentials
/// (checked through its `/proc/PID` directory, which stays bound to that
/// process even if the pid is reused meanwhile).
fn read_as_process(pid: u32, owner: &ProcessOwner, file: &str) -> Result<String, NoSource> {
    let dir = procfs::open_process_dir(pid).map_err(|_| NoSource::Gone(pid))?;
    match procfs::stat_at(dir.as_fd()) {
        Some(st) if st.start_time == owner.start_time => {}
        _ => return Err(NoSource::Gone(pid)),
    }
    let now = procfs::credentials_at(dir.as_fd()).ok_or(NoSource::Gone(pid))?;
    let sorted = |g: &[u32]| {
        let mut g = g.to_vec();
        g.sort_unstable();
        g.dedup();
        g
    };
    if (now.fsuid, now.fsgid, sorted(&now.groups)) != (owner.uid, owner.gid, sorted(&owner.groups))
    {
        return Err(NoSource::OwnerChanged(pid));
    }
    // The root itself is opened with the profiler's rights (reading
    // another user's `/proc/PID/root` takes them); nothing under it is.
    let root = nix::fcntl::openat(
        dir.as_fd(),
        "root",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        // The process ended after the checks above.
        Errno::ESRCH | Errno::ENOENT => NoSource::Gone(pid),
        e => NoSource::NoRoot(pid, e.into()),
    })?;
    let file = file.to_string();
    as_process::run_as(&now, move || read_source_at(root.as_fd(), &file))
        .map_err(NoSource::Credentials)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{
        assert_golden, fixture_profile, opcodes_profile, small_profile, TestDir,
    };
    use crate::output::{writer_for, OutputFormat};
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A directory standing for the processes' root, with some of the
    /// fixture's files.
    fn fixture_root(dir: &Path) {
        let srv = dir.join("srv/my app");
        fs::create_dir_all(&srv).unwrap();
        let mut main = String::new();
        for n in 1..=42 {
            main.push_str(&match n {
                22 => "    return [x for x in data if x < \"<&>\"]\n".to_string(),
                23 => "    key = lambda v: v['k']\n".to_string(),
                35 => "    worker(Outer.Inner().method())\n".to_string(),
                40 => "main()\n".to_string(),
                n => format!("# line {n}\n"),
            });
        }
        fs::write(srv.join("main.py"), main).unwrap();
        // A symbolic link to an existing file is refused.
        symlink("main.py", srv.join("models.py")).unwrap();
        // Non-UTF-8 bytes are shown as replacement characters.
        fs::write(
            srv.join("größe.py"),
            b"# -*- coding: latin-1 -*-\n\n\n\ndef gr\xf6\xdfe():\n    pass  # \xe9\n    return 1\n",
        )
        .unwrap();
    }

    fn render(profile: &Profile, root: SourceRoot) -> Result<String, OutputError> {
        let mut out = Vec::new();
        HeatmapWriter::new(WriteOptions::default())
            .with_source_root(root)
            .write(profile, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn golden_fixture() {
        let dir = TestDir::new("heatmap-golden");
        fixture_root(dir.path());
        let html = render(
            &fixture_profile(),
            SourceRoot::Dir(dir.path().to_path_buf()),
        )
        .unwrap();
        assert_golden("fixture.heatmap.html", html.as_bytes());
        assert!(!html.contains("instructions (self)"));
    }

    #[test]
    fn opcodes_break_each_line_down_by_instruction() {
        let p = opcodes_profile();
        let files = aggregate(&p, ValueUnit::Samples);
        let ops = &files["/srv/loop.py"].instructions[&5];
        assert_eq!(ops["BINARY_OP_ADD_INT"], 17);
        assert_eq!(ops["STORE_FAST"], 2);
        // The unread instruction at line 4 is counted in self, not by name.
        assert_eq!(files["/srv/loop.py"].lines[&4].0, 1);
        assert!(!files["/srv/loop.py"].instructions.contains_key(&4));
        // The <GC> sample has no Python leaf: no self, no instruction.
        assert_eq!(files["old.py"].instructions[&2]["BINARY_ADD"], 4);
        let html = render(&p, SourceRoot::None).unwrap();
        assert!(html.contains("<th>instructions (self)</th>"));
        assert!(
            html.contains("<td class=\"ops\">BINARY_OP_ADD_INT 17 (89%), STORE_FAST 2 (11%)</td>")
        );
        assert_golden("fixture.opcodes.heatmap.html", html.as_bytes());
    }

    #[test]
    fn counts_self_and_total_once_per_sample() {
        let p = fixture_profile();
        let files = aggregate(&p, ValueUnit::Samples);
        // fib.py:4 is on the stack 59 times per sample, counted once: 9 samples.
        assert_eq!(files["fib.py"].lines[&4], (0, 9));
        assert_eq!(files["fib.py"].lines[&2], (9, 9));
        assert_eq!(files["fib.py"].total, 9);
        // main.py:35 (`main`): 5 self (pid 100 tid 100) + 7 + 3 under `method`.
        assert_eq!(files["/srv/my app/main.py"].lines[&35], (5, 15));
        // `weird;name` at line 0.
        assert_eq!(files["gen.py"].lines[&0], (2, 2));
        // The `<unknown>` marker has no file.
        let all: u64 = files.values().map(|f| f.total).sum();
        assert!(all > 0);
        assert!(!files.contains_key(""));
    }

    #[test]
    fn html_is_escaped_and_sources_are_read_safely() {
        let dir = TestDir::new("heatmap-escape");
        fixture_root(dir.path());
        let html = render(
            &fixture_profile(),
            SourceRoot::Dir(dir.path().to_path_buf()),
        )
        .unwrap();
        // Source text is escaped.
        assert!(
            html.contains("if x &lt; &quot;&lt;&amp;&gt;&quot;]"),
            "{html}"
        );
        assert!(!html.contains("\"<&>\""));
        // The symlinked file is refused, the missing one reported.
        assert!(html.contains("source not shown: the path goes through a symbolic link"));
        assert!(html.contains("source not shown: cannot read the file: No such file or directory"));
        assert!(html.contains("source not shown: relative path"));
        assert!(html.contains("def gr\u{fffd}\u{fffd}e():"));
        // Lines far from any sample are folded.
        assert!(html.contains("(18 lines without samples)"), "{html}");
        assert!(!html.contains("# line 18<"));
        // Unicode file names survive, escaped where needed.
        assert!(html.contains("/srv/my app/日本語.py"));
        // Title with markup.
        let mut out = Vec::new();
        HeatmapWriter::new(WriteOptions {
            title: Some("<b>x</b> & y".into()),
            ..Default::default()
        })
        .with_source_root(SourceRoot::None)
        .write(&fixture_profile(), &mut out)
        .unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("<title>&lt;b&gt;x&lt;/b&gt; &amp; y — source heatmap</title>"));
    }

    #[test]
    fn unsafe_files_are_refused() {
        let dir = TestDir::new("heatmap-safe");
        let root = dir.path().join("root");
        let outside = dir.path().join("secret.py");
        fs::create_dir_all(root.join("app/sub")).unwrap();
        fs::write(&outside, "SECRET = 1\n").unwrap();
        fs::write(root.join("app/ok.py"), "print('ok')\n").unwrap();
        symlink(&outside, root.join("app/abs_link.py")).unwrap();
        symlink("../secret.py", root.join("app/rel_link.py")).unwrap();
        symlink(dir.path(), root.join("linkdir")).unwrap();
        nix::unistd::mkfifo(&root.join("app/fifo.py"), Mode::from_bits_truncate(0o600)).unwrap();
        fs::write(
            root.join("app/big.py"),
            vec![b'#'; MAX_SOURCE_BYTES as usize + 1],
        )
        .unwrap();

        assert_eq!(read_source(&root, "/app/ok.py").unwrap(), "print('ok')\n");
        assert_eq!(
            read_source(&root, "/app/sub/../ok.py").unwrap(),
            "print('ok')\n"
        );
        let why = |path: &str| read_source(&root, path).unwrap_err().to_string();
        assert_eq!(
            why("/app/abs_link.py"),
            "the path goes through a symbolic link"
        );
        assert_eq!(
            why("/app/rel_link.py"),
            "the path goes through a symbolic link"
        );
        assert_eq!(
            why("/linkdir/secret.py"),
            "the path goes through a symbolic link"
        );
        // `..` cannot leave the root: /../secret.py is <root>/secret.py.
        assert!(
            why("/../secret.py").contains("No such file"),
            "{}",
            why("/../secret.py")
        );
        // A FIFO neither blocks nor is read.
        assert_eq!(why("/app/fifo.py"), "not a regular file");
        assert_eq!(why("/app/sub"), "not a regular file");
        assert!(why("/app/big.py").starts_with("file too large"));
        assert_eq!(why("<string>"), "not a file name");
        assert_eq!(why("<frozen importlib._bootstrap>"), "not a file name");
        assert!(why("app/ok.py").starts_with("relative path"));
    }

    /// A profile with one sample of process `pid` in `files` (one frame
    /// each, line 1), and that process's owner.
    fn process_profile(pid: u32, owner: Option<ProcessOwner>, files: &[&Path]) -> Profile {
        let mut p = small_profile("cpu");
        let frames: Vec<_> = files
            .iter()
            .map(|f| {
                p.intern_frame(crate::profile::FrameInfo::python(
                    "f",
                    f.to_str().unwrap(),
                    1,
                    1,
                ))
            })
            .collect();
        let stack = p.intern_stack(&frames);
        p.add_sample(crate::profile::TimedSample {
            time_ns: 0,
            key: crate::profile::StackKey {
                pid,
                tid: pid,
                stack,
            },
            weight_ns: 1,
            flags: 0,
            cpu: 0,
        });
        p.processes.insert(
            pid,
            crate::profile::ProcessInfo {
                pid,
                name: "python3".into(),
                owner,
                ..Default::default()
            },
        );
        p
    }

    /// The owner of live process `pid`, as the session records it.
    fn owner_of(pid: u32) -> ProcessOwner {
        let start_time = procfs::stat(pid).unwrap().start_time;
        let c = procfs::credentials_of(pid, start_time).unwrap();
        ProcessOwner {
            uid: c.fsuid,
            gid: c.fsgid,
            groups: c.groups,
            start_time,
        }
    }

    fn heatmap(p: &Profile) -> String {
        let mut out = Vec::new();
        writer_for(OutputFormat::Heatmap, &WriteOptions::default())
            .write(p, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn process_roots_are_used() {
        // Our own process: /proc/self/root is `/`, so a file of ours is read.
        let dir = TestDir::new("heatmap-proc");
        let file = dir.path().join("mine.py");
        fs::write(&file, "def mine():\n    return 42\n").unwrap();
        let file = fs::canonicalize(&file).unwrap();
        let pid = std::process::id();
        let mut p = process_profile(pid, Some(owner_of(pid)), &[&file]);
        // pid 4242 of the small profile: its app.py is relative anyway.
        let html = heatmap(&p);
        assert!(html.contains("    return 42"), "{html}");
        assert!(html.contains("source not shown: relative path"));

        // Read from a recording: no owner, nothing read.
        p.processes.get_mut(&pid).unwrap().owner = None;
        let html = heatmap(&p);
        assert!(!html.contains("return 42"), "{html}");
        assert!(html.contains("source not shown: source text is not kept in recordings"));
        // A process that is not in the profile at all is not read either.
        p.processes.remove(&pid);
        let html = heatmap(&p);
        assert!(!html.contains("return 42"), "{html}");
        assert!(html.contains("source not shown: source text is not kept in recordings"));

        // Another process now has the pid (another start time).
        let mut owner = owner_of(pid);
        owner.start_time += 1;
        let html = heatmap(&process_profile(pid, Some(owner), &[&file]));
        assert!(!html.contains("return 42"), "{html}");
        assert!(
            html.contains("source not shown: the process is gone"),
            "{html}"
        );

        // The process changed its user since it was tracked.
        let mut owner = owner_of(pid);
        owner.uid = owner.uid.wrapping_add(1);
        let html = heatmap(&process_profile(pid, Some(owner), &[&file]));
        assert!(!html.contains("return 42"), "{html}");
        assert!(html.contains("changed while it was profiled"), "{html}");
    }

    /// The file names of an unprivileged process are read with its rights:
    /// a root-only file it names is not shown, its own files are.
    #[test]
    fn sources_are_read_with_the_process_rights() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "sources_are_read_with_the_process_rights needs root in CI"
            );
            eprintln!("SKIPPED sources_are_read_with_the_process_rights: needs root");
            return;
        }
        let dir = TestDir::new("heatmap-rights");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let secret = dir.path().join("secret.py");
        let visible = dir.path().join("visible.py");
        fs::write(&secret, "TOP_SECRET = 1\n").unwrap();
        fs::write(&visible, "VISIBLE = 1\n").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(&visible, fs::Permissions::from_mode(0o644)).unwrap();
        // A process of uid/gid 65534 (std drops the supplementary groups).
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut child = Kill(
            std::process::Command::new("sleep")
                .arg("60")
                .uid(65534)
                .gid(65534)
                .spawn()
                .unwrap(),
        );
        let pid = child.0.id();
        // Until it has exec'd, it is still root.
        let mut owner = owner_of(pid);
        for _ in 0..500 {
            if owner.uid == 65534 && owner.gid == 65534 && owner.groups.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            owner = owner_of(pid);
        }
        assert_eq!((owner.uid, owner.gid), (65534, 65534), "{owner:?}");
        let p = process_profile(pid, Some(owner), &[&secret, &visible]);
        let html = heatmap(&p);
        assert!(!html.contains("TOP_SECRET"), "{html}");
        assert!(
            html.contains("source not shown: not readable by the profiled process&#39;s user"),
            "{html}"
        );
        assert!(html.contains("VISIBLE = 1"), "{html}");
        // This thread is still root.
        // SAFETY: setfsuid(-1) only returns the current fsuid.
        assert_eq!(
            unsafe { libc::syscall(libc::SYS_setfsuid, -1i32 as u32) },
            0
        );

        // Once it is gone (and whoever gets its pid), nothing is read.
        let _ = child.0.kill();
        let _ = child.0.wait();
        let html = heatmap(&p);
        assert!(!html.contains("VISIBLE = 1"), "{html}");
        assert!(
            html.contains("source not shown: the process is gone"),
            "{html}"
        );
    }

    #[test]
    fn empty_profile_is_an_error() {
        assert!(matches!(
            render(&Profile::default(), SourceRoot::None),
            Err(OutputError::Empty)
        ));
    }
}
