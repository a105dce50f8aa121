//! The live table: own and total samples per function, aggregated from
//! snapshots of the running profile.
//!
//! The session sends a [`Snapshot`] every second: the frames and stacks
//! interned since the previous one that arrived (the profile's tables only
//! grow during a run that is not cut into windows), the cumulative samples
//! of every `(process, thread, stack)`, the processes and their threads,
//! and the run's counters. [`Live`] mirrors the tables, keeps the
//! per-second differences of the last [`Live::window`] snapshots, and
//! builds a [`Table`] for a [`View`]: cumulative since the start or the
//! last seconds only, filtered by process, container or thread, sorted by
//! a [`SortKey`].
//!
//! A function is `(name, file, first line)`, as in the text table: the
//! line being executed does not split it. Own samples are those where it
//! is the leaf; total samples those where it is anywhere on the stack,
//! once per sample however deep it recurses.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap as HashMap;

use crate::profile::{FrameId, FrameInfo, Profile, StackKey};
use crate::progress::LiveStats;

/// One function of the table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Function {
    pub name: String,
    /// Source file (empty for markers such as `<native>`).
    pub file: String,
    /// First line of the function (0 when unknown).
    pub first_line: u32,
}

/// A process as the table knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessRow {
    /// The key of its samples (its pid unless the pid was reused).
    pub key: u32,
    pub pid: u32,
    pub name: String,
    /// The container's name and id (empty outside containers).
    pub container_name: String,
    pub container_id: String,
    /// Its threads seen so far: tid and name.
    pub threads: Vec<(u32, String)>,
}

/// What the session sends every second.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub stats: LiveStats,
    /// Frame ids of `frames` start here.
    pub frames_from: usize,
    pub frames: Vec<FrameInfo>,
    /// Stack ids of `stacks` start here.
    pub stacks_from: usize,
    pub stacks: Vec<Vec<FrameId>>,
    /// Samples of each key since the start.
    pub counts: Vec<(StackKey, u64)>,
    pub processes: Vec<ProcessRow>,
}

/// How far the receiver's tables go: what the next snapshot must add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub frames: usize,
    pub stacks: usize,
}

impl Snapshot {
    /// The state of `profile` now, with the frames and stacks past `sent`.
    pub fn of(profile: &Profile, sent: Cursor, stats: LiveStats) -> Self {
        let frames_from = sent.frames.min(profile.frames.len());
        let stacks_from = sent.stacks.min(profile.stacks.len());
        Self {
            stats,
            frames_from,
            frames: profile.frames[frames_from..].to_vec(),
            stacks_from,
            stacks: profile.stacks[stacks_from..].to_vec(),
            counts: profile
                .counts
                .iter()
                .map(|(k, c)| (*k, c.samples))
                .collect(),
            processes: profile
                .processes
                .iter()
                .map(|(&key, p)| ProcessRow {
                    key,
                    pid: p.pid,
                    name: p.name.clone(),
                    container_name: p.place.container_name.clone(),
                    container_id: p.place.container_id.clone(),
                    threads: p
                        .threads
                        .values()
                        .map(|t| (t.tid, t.name.clone()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Where the receiver's tables go once it has this snapshot.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            frames: self.frames_from + self.frames.len(),
            stacks: self.stacks_from + self.stacks.len(),
        }
    }
}

/// Order of the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Most own samples first.
    #[default]
    Own,
    /// Most total samples first.
    Total,
    /// Highest own share first (the order of `Own`).
    OwnPct,
    /// Highest total share first (the order of `Total`).
    TotalPct,
    /// By name, then file and first line.
    Name,
    /// By file, then first line and name.
    File,
}

impl SortKey {
    /// Every key, in the order of the number keys 1–6.
    pub const ALL: [SortKey; 6] = [
        SortKey::Own,
        SortKey::Total,
        SortKey::OwnPct,
        SortKey::TotalPct,
        SortKey::Name,
        SortKey::File,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Own => "own",
            SortKey::Total => "total",
            SortKey::OwnPct => "own%",
            SortKey::TotalPct => "total%",
            SortKey::Name => "name",
            SortKey::File => "file",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&k| k == self).unwrap_or(0)
    }

    /// The next key (`s`).
    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    /// The previous key (`S`).
    pub fn prev(self) -> Self {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// One term of a filter.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    /// `p:X`: pid X, or a process name containing X.
    Process(String),
    /// `c:X`: a container name containing X, or an id starting with X.
    Container(String),
    /// `t:X`: tid X, or a thread name containing X.
    Thread(String),
    /// `X`: any of the above.
    Any(String),
}

/// Which samples the table counts: every term must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
    text: String,
}

fn process_matches(p: &ProcessRow, x: &str) -> bool {
    x.parse::<u32>().is_ok_and(|pid| pid == p.pid) || p.name.contains(x)
}

fn container_matches(p: &ProcessRow, x: &str) -> bool {
    !p.container_id.is_empty() && (p.container_name.contains(x) || p.container_id.starts_with(x))
}

fn thread_matches(tid: u32, name: &str, x: &str) -> bool {
    x.parse::<u32>().is_ok_and(|t| t == tid) || name.contains(x)
}

impl Filter {
    /// `p:PID|NAME`, `c:NAME|ID`, `t:TID|NAME` or a bare word (any of
    /// them), separated by spaces.
    pub fn parse(text: &str) -> Self {
        let terms = text
            .split_whitespace()
            .map(|w| {
                let (kind, x) = w.split_once(':').unwrap_or(("", w));
                let x = x.to_string();
                match kind {
                    "p" | "pid" | "process" => Term::Process(x),
                    "c" | "container" => Term::Container(x),
                    "t" | "tid" | "thread" => Term::Thread(x),
                    _ => Term::Any(w.to_string()),
                }
            })
            .filter(|t| !matches!(t, Term::Process(x) | Term::Container(x) | Term::Thread(x) | Term::Any(x) if x.is_empty()))
            .collect();
        Self {
            terms,
            text: text.trim().to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether samples of thread `tid` (named `thread`) of `p` count.
    pub fn accepts(&self, p: &ProcessRow, tid: u32, thread: &str) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Process(x) => process_matches(p, x),
            Term::Container(x) => container_matches(p, x),
            Term::Thread(x) => thread_matches(tid, thread, x),
            Term::Any(x) => {
                process_matches(p, x) || container_matches(p, x) || thread_matches(tid, thread, x)
            }
        })
    }
}

/// What the table shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub sort: SortKey,
    /// The last [`Live::window`] seconds instead of everything since the
    /// start.
    pub recent: bool,
    pub filter: Filter,
}

/// One row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub function: Function,
    pub own: u64,
    pub total: u64,
}

/// The rows of a view, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<Row>,
    /// Samples the view counts (the filter's), empty stacks included: the
    /// base of the percentages.
    pub samples: u64,
}

impl Table {
    /// `n` as a percentage of the view's samples.
    pub fn percent(&self, n: u64) -> f64 {
        match self.samples {
            0 => 0.0,
            all => n as f64 * 100.0 / all as f64,
        }
    }
}

/// The run's counters as the header shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Header {
    pub stats: LiveStats,
    /// Samples per second over the last snapshot.
    pub samples_per_s: f64,
}

/// Snapshots the live table has seen, and what it keeps of them.
#[derive(Debug, Default)]
pub struct Live {
    functions: Vec<Function>,
    function_index: HashMap<Function, u32>,
    /// Function of each frame id.
    frame_function: Vec<u32>,
    /// Functions of each stack id, root first.
    stack_functions: Vec<Box<[u32]>>,
    processes: BTreeMap<u32, ProcessRow>,
    cumulative: HashMap<StackKey, u64>,
    /// What each of the last snapshots added, newest last.
    recent: VecDeque<Vec<(StackKey, u64)>>,
    window: usize,
    header: Header,
    /// Snapshots that did not fit the tables (never expected).
    pub rejected: u64,
}

impl Live {
    /// A table that keeps the last `window` snapshots for the recent view.
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            ..Default::default()
        }
    }

    /// Snapshots (seconds) the recent view covers.
    pub fn window(&self) -> usize {
        self.window
    }

    pub fn header(&self) -> Header {
        self.header
    }

    fn function_of(&mut self, f: &FrameInfo) -> u32 {
        let key = Function {
            name: f.name.clone(),
            file: f.file.clone(),
            first_line: f.first_line,
        };
        if let Some(&i) = self.function_index.get(&key) {
            return i;
        }
        let i = self.functions.len() as u32;
        self.functions.push(key.clone());
        self.function_index.insert(key, i);
        i
    }

    /// Takes in a snapshot; one whose tables do not continue ours is
    /// refused (counted in [`Live::rejected`]).
    pub fn apply(&mut self, s: Snapshot) {
        if s.frames_from != self.frame_function.len() || s.stacks_from != self.stack_functions.len()
        {
            self.rejected += 1;
            return;
        }
        for f in &s.frames {
            let id = self.function_of(f);
            self.frame_function.push(id);
        }
        for stack in &s.stacks {
            let funcs: Box<[u32]> = stack
                .iter()
                .filter_map(|&f| self.frame_function.get(f as usize).copied())
                .collect();
            self.stack_functions.push(funcs);
        }
        let mut added = Vec::new();
        for (key, n) in s.counts {
            let was = self.cumulative.insert(key, n).unwrap_or(0);
            if n > was {
                added.push((key, n - was));
            }
        }
        self.recent.push_back(added);
        while self.recent.len() > self.window {
            self.recent.pop_front();
        }
        for p in s.processes {
            self.processes.insert(p.key, p);
        }
        let dt = s
            .stats
            .elapsed
            .saturating_sub(self.header.stats.elapsed)
            .as_secs_f64();
        let samples_per_s = match dt > 0.0 {
            true => s.stats.samples.saturating_sub(self.header.stats.samples) as f64 / dt,
            false => 0.0,
        };
        self.header = Header {
            stats: s.stats,
            samples_per_s,
        };
    }

    /// The rows of `view`.
    pub fn table(&self, view: &View) -> Table {
        let mut own = vec![0u64; self.functions.len()];
        let mut total = vec![0u64; self.functions.len()];
        // The last sample key each function was counted for: a function
        // recursing in a stack counts once.
        let mut seen = vec![usize::MAX; self.functions.len()];
        let mut samples = 0u64;
        let mut accepted: HashMap<(u32, u32), bool> = HashMap::default();
        let mut count = |i: usize, key: &StackKey, n: u64| {
            let ok = *accepted
                .entry((key.pid, key.tid))
                .or_insert_with(|| self.accepts(&view.filter, key.pid, key.tid));
            if !ok {
                return;
            }
            samples += n;
            let Some(stack) = self.stack_functions.get(key.stack as usize) else {
                return;
            };
            if let Some(&leaf) = stack.last() {
                own[leaf as usize] += n;
            }
            for &f in stack.iter() {
                if seen[f as usize] != i {
                    seen[f as usize] = i;
                    total[f as usize] += n;
                }
            }
        };
        if view.recent {
            let mut i = 0;
            for added in &self.recent {
                for (key, n) in added {
                    count(i, key, *n);
                    i += 1;
                }
            }
        } else {
            for (i, (key, n)) in self.cumulative.iter().enumerate() {
                count(i, key, *n);
            }
        }
        let mut rows: Vec<Row> = self
            .functions
            .iter()
            .enumerate()
            .filter(|&(i, _)| total[i] > 0)
            .map(|(i, f)| Row {
                function: f.clone(),
                own: own[i],
                total: total[i],
            })
            .collect();
        sort_rows(&mut rows, view.sort);
        Table { rows, samples }
    }

    fn accepts(&self, filter: &Filter, key: u32, tid: u32) -> bool {
        if filter.is_empty() {
            return true;
        }
        let Some(p) = self.processes.get(&key) else {
            return false;
        };
        let thread = p
            .threads
            .iter()
            .find(|(t, _)| *t == tid)
            .map_or("", |(_, n)| n.as_str());
        filter.accepts(p, tid, thread)
    }
}

/// Sorts `rows` by `key`; ties by name, file and line, so the order is
/// stable from one refresh to the next.
pub fn sort_rows(rows: &mut [Row], key: SortKey) {
    let by_name = |a: &Row, b: &Row| {
        (&a.function.name, &a.function.file, a.function.first_line).cmp(&(
            &b.function.name,
            &b.function.file,
            b.function.first_line,
        ))
    };
    match key {
        SortKey::Own | SortKey::OwnPct => rows.sort_by(|a, b| {
            (b.own, b.total)
                .cmp(&(a.own, a.total))
                .then_with(|| by_name(a, b))
        }),
        SortKey::Total | SortKey::TotalPct => rows.sort_by(|a, b| {
            (b.total, b.own)
                .cmp(&(a.total, a.own))
                .then_with(|| by_name(a, b))
        }),
        SortKey::Name => rows.sort_by(by_name),
        SortKey::File => rows.sort_by(|a, b| {
            (&a.function.file, a.function.first_line, &a.function.name).cmp(&(
                &b.function.file,
                b.function.first_line,
                &b.function.name,
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ProfileMeta, TimedSample};
    use std::time::Duration;

    fn add(p: &mut Profile, pid: u32, tid: u32, names: &[&str], n: u64) {
        let frames: Vec<FrameId> = names
            .iter()
            .map(|name| {
                // The executing line differs from one frame to the next:
                // it must not split a function.
                p.intern_frame(FrameInfo::python(name, "app.py", n as u32, 10))
            })
            .collect();
        let stack = p.intern_stack(&frames);
        p.note_thread(pid, tid, || format!("thread{tid}"));
        for _ in 0..n {
            p.add_sample(TimedSample {
                time_ns: 0,
                key: StackKey { pid, tid, stack },
                weight_ns: 1,
                flags: 0,
                cpu: 0,
            });
        }
    }

    fn stats(secs: u64, samples: u64) -> LiveStats {
        LiveStats {
            elapsed: Duration::from_secs(secs),
            samples,
            ..Default::default()
        }
    }

    /// Sends the profile as the session does and returns the new cursor.
    fn send(live: &mut Live, p: &Profile, cursor: Cursor, secs: u64) -> Cursor {
        let s = Snapshot::of(p, cursor, stats(secs, p.total_samples()));
        let next = s.cursor();
        live.apply(s);
        next
    }

    fn names(t: &Table) -> Vec<(&str, u64, u64)> {
        t.rows
            .iter()
            .map(|r| (r.function.name.as_str(), r.own, r.total))
            .collect()
    }

    #[test]
    fn own_and_total_per_function_with_recursion_counted_once() {
        let mut p = Profile::new(ProfileMeta::default());
        add(&mut p, 1, 1, &["main", "hot"], 6);
        add(&mut p, 1, 1, &["main", "warm"], 3);
        add(&mut p, 1, 1, &["main", "rec", "rec", "rec"], 1);
        add(&mut p, 1, 2, &[], 2);
        let mut live = Live::new(3);
        send(&mut live, &p, Cursor::default(), 1);
        let t = live.table(&View::default());
        assert_eq!(t.samples, 12, "empty stacks count in the base");
        assert_eq!(
            names(&t),
            [
                ("hot", 6, 6),
                ("warm", 3, 3),
                ("rec", 1, 1),
                ("main", 0, 10)
            ]
        );
        assert!((t.percent(6) - 50.0).abs() < 1e-9);
        let by_total = live.table(&View {
            sort: SortKey::Total,
            ..Default::default()
        });
        assert_eq!(by_total.rows[0].function.name, "main");
        assert_eq!(live.header().stats.samples, 12);
    }

    #[test]
    fn every_sort_key_orders_as_named() {
        let row = |name: &str, file: &str, line, own, total| Row {
            function: Function {
                name: name.into(),
                file: file.into(),
                first_line: line,
            },
            own,
            total,
        };
        let rows = vec![
            row("b", "z.py", 1, 5, 5),
            row("a", "y.py", 9, 1, 9),
            row("c", "y.py", 2, 3, 4),
        ];
        let order = |key| {
            let mut r = rows.clone();
            sort_rows(&mut r, key);
            r.iter()
                .map(|r| r.function.name.clone())
                .collect::<String>()
        };
        assert_eq!(order(SortKey::Own), "bca");
        assert_eq!(order(SortKey::OwnPct), "bca");
        assert_eq!(order(SortKey::Total), "abc");
        assert_eq!(order(SortKey::TotalPct), "abc");
        assert_eq!(order(SortKey::Name), "abc");
        assert_eq!(order(SortKey::File), "cab");
        // The keys cycle both ways through all six.
        let mut k = SortKey::Own;
        for _ in 0..6 {
            assert_eq!(k.next().prev(), k);
            k = k.next();
        }
        assert_eq!(k, SortKey::Own);
    }

    #[test]
    fn the_recent_view_holds_only_the_last_snapshots() {
        let mut p = Profile::new(ProfileMeta::default());
        let mut live = Live::new(2);
        add(&mut p, 1, 1, &["early"], 10);
        let mut c = send(&mut live, &p, Cursor::default(), 1);
        add(&mut p, 1, 1, &["late"], 4);
        c = send(&mut live, &p, c, 2);
        let recent = View {
            recent: true,
            ..Default::default()
        };
        assert_eq!(
            names(&live.table(&recent)),
            [("early", 10, 10), ("late", 4, 4)]
        );
        add(&mut p, 1, 1, &["late"], 2);
        send(&mut live, &p, c, 3);
        // The first second left the window; the cumulative view keeps it.
        assert_eq!(names(&live.table(&recent)), [("late", 6, 6)]);
        assert_eq!(live.table(&recent).samples, 6);
        assert_eq!(
            names(&live.table(&View::default())),
            [("early", 10, 10), ("late", 6, 6)]
        );
        assert!((live.header().samples_per_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn snapshots_that_skip_tables_are_refused_and_a_dropped_one_is_caught_up() {
        let mut p = Profile::new(ProfileMeta::default());
        add(&mut p, 1, 1, &["a"], 1);
        let first = Snapshot::of(&p, Cursor::default(), stats(1, 1));
        add(&mut p, 1, 1, &["b"], 1);
        // The first was dropped (a full channel): the sender's cursor did
        // not move, so the next one carries both frames.
        let mut live = Live::new(5);
        let second = Snapshot::of(&p, Cursor::default(), stats(2, 2));
        assert_eq!(second.frames.len(), 2);
        live.apply(second);
        assert_eq!(live.table(&View::default()).rows.len(), 2);
        // One that starts past what we have is refused.
        let mut stale = first;
        stale.frames_from = 7;
        live.apply(stale);
        assert_eq!(live.rejected, 1);
    }

    #[test]
    fn filters_by_process_container_and_thread() {
        let mut p = Profile::new(ProfileMeta::default());
        add(&mut p, 100, 100, &["web_handler"], 5);
        add(&mut p, 100, 101, &["web_worker"], 2);
        add(&mut p, 200, 200, &["batch_job"], 3);
        for (pid, name) in [(100, "python3.12"), (200, "batch")] {
            p.processes.get_mut(&pid).expect("noted").name = name.into();
        }
        let place = &mut p.processes.get_mut(&200).expect("noted").place;
        place.container_id = "0123456789abcdef".into();
        place.container_name = "jobs".into();
        let mut live = Live::new(5);
        send(&mut live, &p, Cursor::default(), 1);
        let with = |text: &str| {
            let t = live.table(&View {
                filter: Filter::parse(text),
                ..Default::default()
            });
            (
                t.rows
                    .iter()
                    .map(|r| r.function.name.clone())
                    .collect::<Vec<_>>(),
                t.samples,
            )
        };
        assert_eq!(with("").1, 10);
        assert_eq!(
            with("p:100"),
            (vec!["web_handler".into(), "web_worker".into()], 7)
        );
        assert_eq!(with("p:batch"), (vec!["batch_job".to_string()], 3));
        assert_eq!(with("c:jobs"), (vec!["batch_job".to_string()], 3));
        assert_eq!(with("c:0123"), (vec!["batch_job".to_string()], 3));
        assert_eq!(with("t:101"), (vec!["web_worker".to_string()], 2));
        assert_eq!(with("t:thread100"), (vec!["web_handler".to_string()], 5));
        // Terms add up; a bare word matches any of them.
        assert_eq!(with("p:python t:101").1, 2);
        assert_eq!(with("jobs").1, 3);
        assert_eq!(with("p:nothing").1, 0);
        assert!(Filter::parse("  ").is_empty());
        assert_eq!(Filter::parse(" p:1 ").text(), "p:1");
    }
}
