//! The aggregation model every output writer reads.
//!
//! Frames and stacks are interned: a [`FrameId`] indexes [`Profile::frames`],
//! a [`StackId`] indexes [`Profile::stacks`]. Stacks hold only code frames
//! (Python, markers, native, kernel), root first; the process and thread are
//! kept beside the stack in [`StackKey`], so writers choose how to root them.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

/// Index into [`Profile::frames`].
pub type FrameId = u32;
/// Index into [`Profile::stacks`].
pub type StackId = u32;

/// What kind of code a frame stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameKind {
    /// A Python function.
    Python,
    /// A synthetic marker such as `<native>`, `<GC>` or `<unknown>`.
    Marker,
    /// A native (C) function.
    Native,
    /// A kernel function.
    Kernel,
}

/// One frame as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameInfo {
    /// Qualified function name (`Class.method`, `<module>`, `<lambda>`).
    pub name: String,
    /// Source file name as the interpreter knows it (may be empty).
    pub file: String,
    /// Line being executed in this frame; 0 when unknown.
    pub line: u32,
    /// First line of the function; 0 when unknown.
    pub first_line: u32,
    pub kind: FrameKind,
    /// The instruction sampled in this frame and its source columns, with
    /// `--opcodes` only (a frame per line, columns and instruction then).
    pub instr: Option<Instr>,
}

/// The instruction a frame was executing (`--opcodes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instr {
    /// Opcode name, specialised form included (`BINARY_OP_ADD_INT`); empty
    /// when the bytecode could not be read.
    pub opcode: String,
    /// The instruction it specialises (`BINARY_OP`); the name itself for an
    /// instruction that is not a specialised form.
    pub family: String,
    /// Last line of the instruction's source range (3.11+).
    pub end_line: Option<u32>,
    /// Column range of the instruction's source (3.11+), as
    /// `co_positions()` gives it: 0-based UTF-8 byte offsets, the end
    /// exclusive (on `end_line`).
    pub col: Option<u32>,
    pub end_col: Option<u32>,
}

impl FrameInfo {
    /// A Python frame.
    pub fn python(name: &str, file: &str, line: u32, first_line: u32) -> Self {
        Self {
            name: name.to_string(),
            file: file.to_string(),
            line,
            first_line,
            kind: FrameKind::Python,
            instr: None,
        }
    }

    /// This frame with the instruction it was executing.
    pub fn with_instr(mut self, instr: Instr) -> Self {
        self.instr = Some(instr);
        self
    }

    /// A marker frame such as `<unknown>`.
    pub fn marker(name: &str) -> Self {
        Self {
            name: name.to_string(),
            file: String::new(),
            line: 0,
            first_line: 0,
            kind: FrameKind::Marker,
            instr: None,
        }
    }

    /// `name (file:line)`, the label used by collapsed stacks and
    /// flamegraphs; with an instruction `name (file:line:col) [OPNAME]`
    /// (the column where the version has one).
    pub fn label(&self) -> String {
        let mut s = if self.file.is_empty() {
            self.name.clone()
        } else if self.line == 0 {
            format!("{} ({})", self.name, self.file)
        } else {
            match self.instr.as_ref().and_then(|i| i.col) {
                Some(col) => format!("{} ({}:{}:{})", self.name, self.file, self.line, col),
                None => format!("{} ({}:{})", self.name, self.file, self.line),
            }
        };
        if let Some(op) = self.opcode() {
            s.push_str(" [");
            s.push_str(op);
            s.push(']');
        }
        s
    }

    /// The sampled instruction's name, when known (`--opcodes`).
    pub fn opcode(&self) -> Option<&str> {
        self.instr
            .as_ref()
            .map(|i| i.opcode.as_str())
            .filter(|o| !o.is_empty())
    }
}

/// A process seen during the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// Short name, e.g. `python3.12`.
    pub name: String,
    /// Interpreter version, e.g. `3.12.1`.
    pub version: String,
    /// Command line, space separated (may be empty).
    pub cmdline: String,
    /// Threads seen, by tid.
    pub threads: BTreeMap<u32, ThreadInfo>,
    /// Where it runs: cgroup, container, pid in its own namespace.
    pub place: ProcessPlace,
    /// Who the process was when it was first tracked, to read its source
    /// files with its rights (and only while it is still that process).
    /// Kept in memory only: never written to recordings, so a profile read
    /// from one has `None` here.
    pub owner: Option<ProcessOwner>,
}

/// The identity and file credentials of a live process (see
/// [`crate::procfs::Credentials`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessOwner {
    /// Filesystem uid and gid.
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Start time (`/proc/PID/stat` field 22, clock ticks since boot): a
    /// reused pid has another.
    pub start_time: u64,
}

/// Where a process runs. Empty strings and 0 mean unknown or none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessPlace {
    /// The cgroup path (`/docker/<id>`, `/system.slice/x.service`, `/`).
    pub cgroup: String,
    /// Full container id (64 hex digits; a unit name for a systemd service).
    pub container_id: String,
    /// The container's name, from its runtime (empty when unknown).
    pub container_name: String,
    /// The container's image, from its runtime (empty when unknown).
    pub image: String,
    /// Kubernetes pod uid.
    pub pod_uid: String,
    /// The pid inside the process's own pid namespace.
    pub ns_pid: u32,
}

impl ProcessPlace {
    pub fn in_container(&self) -> bool {
        !self.container_id.is_empty()
    }

    /// The first 12 characters of a hex id (a unit name stays whole).
    pub fn short_id(&self) -> &str {
        let id = &self.container_id;
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            &id[..12]
        } else {
            id
        }
    }

    /// The root frame of a container's stacks: `container web (0123456789ab)`,
    /// or `container 0123456789ab` without a name.
    pub fn container_label(&self) -> String {
        if self.container_name.is_empty() || self.container_name == self.short_id() {
            format!("container {}", self.short_id())
        } else {
            format!("container {} ({})", self.container_name, self.short_id())
        }
    }
}

/// A thread seen during the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub tid: u32,
    /// Name from `/proc/PID/task/TID/comm` (may be empty).
    pub name: String,
}

/// Where a stack was sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackKey {
    pub pid: u32,
    pub tid: u32,
    pub stack: StackId,
}

/// Totals for one [`StackKey`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Number of samples.
    pub samples: u64,
    /// Sum of weights in nanoseconds (on-CPU samples weigh one sampling period).
    pub weight_ns: u64,
}

/// One sample on the timeline, kept when a writer needs time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedSample {
    /// Nanoseconds since the start of the profile.
    pub time_ns: u64,
    pub key: StackKey,
    pub weight_ns: u64,
    /// `SAMPLE_*` flags from `tachyon-common`.
    pub flags: u32,
    /// CPU the sample was taken on.
    pub cpu: u32,
}

/// Run-wide facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileMeta {
    /// Sampling rate asked for, in Hz.
    pub rate_hz: u64,
    /// Wall-clock duration of the run in nanoseconds.
    pub duration_ns: u64,
    /// Unix time of the start, in nanoseconds.
    pub start_unix_ns: u64,
    /// `cpu` or `wall`.
    pub mode: String,
}

/// An aggregated profile.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub meta: ProfileMeta,
    pub frames: Vec<FrameInfo>,
    pub stacks: Vec<Vec<FrameId>>,
    pub processes: BTreeMap<u32, ProcessInfo>,
    /// Totals per (pid, tid, stack).
    pub counts: HashMap<StackKey, Counts>,
    /// Every sample in time order, when kept ([`Profile::keep_timeline`]).
    pub timeline: Option<Vec<TimedSample>>,
    frame_index: HashMap<FrameInfo, FrameId>,
    stack_index: HashMap<Vec<FrameId>, StackId>,
    /// Start of the open window, in nanoseconds since the start.
    window_start_ns: u64,
}

/// Keys of [`Profile::processes`]: a process's pid, unless a process with
/// that pid already has samples in the profile (a reused pid), in which
/// case it gets a key of its own above any pid (pids stay below 2^22).
#[derive(Debug, Default)]
pub struct ProcessSlots {
    /// pid → (identity of the process, key).
    current: HashMap<u32, (u64, u32)>,
    next: u32,
}

/// First key given to a reused pid.
pub const REUSED_PID_KEYS: u32 = 1 << 30;

impl ProcessSlots {
    /// The key for process `(pid, identity)`: the same one for as long as
    /// that process is tracked (exec keeps it).
    pub fn assign(&mut self, profile: &Profile, pid: u32, identity: u64) -> u32 {
        match self.current.get(&pid) {
            Some(&(id, key)) if id == identity => key,
            _ => {
                let taken = |k: u32| {
                    profile
                        .processes
                        .get(&k)
                        .is_some_and(|p| !p.threads.is_empty())
                };
                let key = if taken(pid) || self.current.contains_key(&pid) {
                    self.next = self.next.max(REUSED_PID_KEYS);
                    while taken(self.next) {
                        self.next += 1;
                    }
                    self.next += 1;
                    self.next - 1
                } else {
                    pid
                };
                self.current.insert(pid, (identity, key));
                key
            }
        }
    }

    /// The key samples of `pid` go under now.
    pub fn key(&self, pid: u32) -> u32 {
        self.current.get(&pid).map_or(pid, |&(_, k)| k)
    }

    /// The keys of the processes tracked now.
    pub fn current_keys(&self) -> std::collections::HashSet<u32> {
        self.current.values().map(|&(_, k)| k).collect()
    }

    /// The process of that identity is gone.
    pub fn release(&mut self, pid: u32, identity: u64) {
        if self
            .current
            .get(&pid)
            .is_some_and(|&(id, _)| id == identity)
        {
            self.current.remove(&pid);
        }
    }
}

impl Profile {
    /// An empty profile.
    pub fn new(meta: ProfileMeta) -> Self {
        Self {
            meta,
            ..Default::default()
        }
    }

    /// Keep every sample with its time (for timeline formats and recordings).
    pub fn keep_timeline(&mut self) {
        if self.timeline.is_none() {
            self.timeline = Some(Vec::new());
        }
    }

    /// Interns a frame.
    pub fn intern_frame(&mut self, frame: FrameInfo) -> FrameId {
        if let Some(&id) = self.frame_index.get(&frame) {
            return id;
        }
        let id = self.frames.len() as FrameId;
        self.frames.push(frame.clone());
        self.frame_index.insert(frame, id);
        id
    }

    /// Interns a stack given root first.
    pub fn intern_stack(&mut self, frames: &[FrameId]) -> StackId {
        if let Some(&id) = self.stack_index.get(frames) {
            return id;
        }
        let id = self.stacks.len() as StackId;
        self.stacks.push(frames.to_vec());
        self.stack_index.insert(frames.to_vec(), id);
        id
    }

    /// Records the process (and thread) a sample came from, if new.
    pub fn note_thread(&mut self, pid: u32, tid: u32, thread_name: impl FnOnce() -> String) {
        let proc = self.processes.entry(pid).or_insert_with(|| ProcessInfo {
            pid,
            ..Default::default()
        });
        proc.threads.entry(tid).or_insert_with(|| ThreadInfo {
            tid,
            name: thread_name(),
        });
    }

    /// Adds one sample.
    pub fn add_sample(&mut self, sample: TimedSample) {
        let c = self.counts.entry(sample.key).or_default();
        c.samples += 1;
        c.weight_ns += sample.weight_ns;
        if let Some(t) = self.timeline.as_mut() {
            t.push(sample);
        }
    }

    /// Keeps only the timeline samples `keep` accepts and recomputes the
    /// totals from them (a recording re-filtered into another mode). Without
    /// a timeline there is nothing to re-filter: returns false.
    pub fn retain_samples(&mut self, keep: impl Fn(&TimedSample) -> bool) -> bool {
        let Some(timeline) = self.timeline.take() else {
            return false;
        };
        self.counts.clear();
        self.timeline = Some(Vec::new());
        for sample in timeline.into_iter().filter(|s| keep(s)) {
            self.add_sample(sample);
        }
        true
    }

    /// Total samples.
    pub fn total_samples(&self) -> u64 {
        self.counts.values().map(|c| c.samples).sum()
    }

    /// Total weight in nanoseconds.
    pub fn total_weight_ns(&self) -> u64 {
        self.counts.values().map(|c| c.weight_ns).sum()
    }

    /// Stack keys in a stable order (pid, tid, then frame labels), so every
    /// writer's output is deterministic.
    pub fn sorted_keys(&self) -> Vec<StackKey> {
        let mut keys: Vec<StackKey> = self.counts.keys().copied().collect();
        keys.sort_by(|a, b| {
            (a.pid, a.tid)
                .cmp(&(b.pid, b.tid))
                .then_with(|| self.stack_labels(a.stack).cmp(&self.stack_labels(b.stack)))
        });
        keys
    }

    /// Labels of a stack's frames, root first.
    pub fn stack_labels(&self, stack: StackId) -> Vec<String> {
        self.stacks[stack as usize]
            .iter()
            .map(|&f| self.frames[f as usize].label())
            .collect()
    }

    /// The operating system's pid of the process that [`StackKey::pid`]
    /// (the key of [`Profile::processes`]) stands for. They are equal but
    /// for a pid that was reused during the run: the later process then has
    /// a key of its own (see [`ProcessSlots`]).
    pub fn pid_of(&self, key: u32) -> u32 {
        match self.processes.get(&key) {
            Some(p) if p.pid != 0 => p.pid,
            _ => key,
        }
    }

    /// The root frame label for a process: `python3.12 (pid 4242)`.
    pub fn process_label(&self, key: u32) -> String {
        let pid = self.pid_of(key);
        match self.processes.get(&key) {
            Some(p) if !p.name.is_empty() => format!("{} (pid {})", p.name, pid),
            _ => format!("process (pid {pid})"),
        }
    }

    /// Rebuilds the frame and stack tables with only the stacks `keep` (and
    /// their frames), renumbered; returns old → new stack ids. For a
    /// profile whose counts and timeline are empty (right after a window):
    /// a long run then interns only what it still needs. Frame ids handed
    /// out before are void afterwards.
    pub fn compact(&mut self, keep: &[StackId]) -> HashMap<StackId, StackId> {
        assert!(self.counts.is_empty(), "compact() right after a window");
        let frames = std::mem::take(&mut self.frames);
        let stacks = std::mem::take(&mut self.stacks);
        self.frame_index.clear();
        self.stack_index.clear();
        let mut map = HashMap::default();
        for &old in keep {
            let Some(ids) = stacks.get(old as usize) else {
                continue;
            };
            let new: Vec<FrameId> = ids
                .iter()
                .filter_map(|&f| frames.get(f as usize))
                .map(|f| self.intern_frame(f.clone()))
                .collect();
            map.insert(old, self.intern_stack(&new));
        }
        map
    }

    /// Closes the current window: returns what was aggregated since the
    /// previous window (or the start) as a profile of its own, with only the
    /// frames, stacks, processes and threads it uses, and starts a new
    /// window at `now_ns` (nanoseconds since the start of the profile).
    /// Every sample lands in exactly one window.
    pub fn take_window(&mut self, now_ns: u64) -> Profile {
        let start = self.window_start_ns;
        self.window_start_ns = now_ns.max(start);
        let counts = std::mem::take(&mut self.counts);
        let timeline = self.timeline.as_mut().map(std::mem::take);
        let mut w = Profile::new(ProfileMeta {
            start_unix_ns: self.meta.start_unix_ns + start,
            duration_ns: self.window_start_ns - start,
            ..self.meta.clone()
        });
        let mut stack_map: HashMap<StackId, StackId> = HashMap::default();
        let mut frame_map: HashMap<FrameId, FrameId> = HashMap::default();
        let mut remap = |w: &mut Profile, stack: StackId| -> StackId {
            if let Some(&s) = stack_map.get(&stack) {
                return s;
            }
            let frames: Vec<FrameId> = self.stacks[stack as usize]
                .iter()
                .map(|&f| {
                    *frame_map
                        .entry(f)
                        .or_insert_with(|| w.intern_frame(self.frames[f as usize].clone()))
                })
                .collect();
            let s = w.intern_stack(&frames);
            stack_map.insert(stack, s);
            s
        };
        let mut keys: Vec<(StackKey, Counts)> = counts.into_iter().collect();
        keys.sort_by_key(|(k, _)| *k);
        for (k, c) in keys {
            let key = StackKey {
                stack: remap(&mut w, k.stack),
                ..k
            };
            w.counts.insert(key, c);
            if let Some(p) = self.processes.get(&k.pid) {
                let wp = w.processes.entry(k.pid).or_insert_with(|| ProcessInfo {
                    threads: BTreeMap::new(),
                    ..p.clone()
                });
                if let Some(t) = p.threads.get(&k.tid) {
                    wp.threads.insert(k.tid, t.clone());
                }
            }
        }
        w.timeline = timeline.map(|t| {
            t.into_iter()
                .map(|s| TimedSample {
                    time_ns: s.time_ns.saturating_sub(start),
                    key: StackKey {
                        stack: stack_map.get(&s.key.stack).copied().unwrap_or(s.key.stack),
                        ..s.key
                    },
                    ..s
                })
                .collect()
        });
        w
    }

    /// The samples of the processes `keep` accepts, as a profile of their
    /// own with only the frames and stacks they use (one container's share
    /// of a window). Same meta.
    pub fn subset(&self, keep: impl Fn(&ProcessInfo) -> bool) -> Profile {
        let kept = |pid: &u32| self.processes.get(pid).is_some_and(&keep);
        let mut part = Profile {
            meta: self.meta.clone(),
            frames: self.frames.clone(),
            stacks: self.stacks.clone(),
            processes: self
                .processes
                .iter()
                .filter(|(k, _)| kept(k))
                .map(|(k, p)| (*k, p.clone()))
                .collect(),
            counts: self
                .counts
                .iter()
                .filter(|(k, _)| kept(&k.pid))
                .map(|(k, c)| (*k, *c))
                .collect(),
            timeline: self
                .timeline
                .as_ref()
                .map(|t| t.iter().filter(|s| kept(&s.key.pid)).copied().collect()),
            ..Default::default()
        };
        let mut out = part.take_window(0);
        out.meta = self.meta.clone();
        out
    }

    /// The process label with its container in front, when it ran in one:
    /// `container web (0123456789ab) python3.12 (pid 4242)`.
    pub fn owner_label(&self, key: u32) -> String {
        match self.processes.get(&key).map(|p| &p.place) {
            Some(place) if place.in_container() => {
                format!("{} {}", place.container_label(), self.process_label(key))
            }
            _ => self.process_label(key),
        }
    }

    /// The thread frame label: `thread NAME (tid 4243)`.
    pub fn thread_label(&self, pid: u32, tid: u32) -> String {
        let name = self
            .processes
            .get(&pid)
            .and_then(|p| p.threads.get(&tid))
            .map(|t| t.name.as_str())
            .unwrap_or("");
        if name.is_empty() {
            format!("thread (tid {tid})")
        } else {
            format!("thread {name} (tid {tid})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_holds_only_its_processes_and_what_they_use() {
        let mut p = Profile::new(ProfileMeta {
            start_unix_ns: 7,
            duration_ns: 9,
            ..Default::default()
        });
        let a = p.intern_frame(FrameInfo::python("a", "x.py", 1, 1));
        let b = p.intern_frame(FrameInfo::python("b", "y.py", 2, 2));
        let sa = p.intern_stack(&[a]);
        let sb = p.intern_stack(&[a, b]);
        for (pid, stack) in [(1, sa), (2, sb), (2, sa)] {
            p.note_thread(pid, pid, || "t".into());
            p.add_sample(TimedSample {
                time_ns: 0,
                key: StackKey {
                    pid,
                    tid: pid,
                    stack,
                },
                weight_ns: 10,
                flags: 0,
                cpu: 0,
            });
        }
        p.processes.get_mut(&2).expect("2").place.container_id = "c".into();
        let only1 = p.subset(|proc| proc.place.container_id.is_empty());
        assert_eq!(only1.meta, p.meta);
        assert_eq!(only1.processes.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(only1.total_samples(), 1);
        assert_eq!(only1.frames.len(), 1, "frame b is not used by process 1");
        let only2 = p.subset(|proc| proc.place.container_id == "c");
        assert_eq!(only2.total_samples(), 2);
        assert_eq!(only2.stack_labels(only2.sorted_keys()[1].stack).len(), 2);
        assert_eq!(
            only1.total_samples() + only2.total_samples(),
            p.total_samples()
        );
    }

    #[test]
    fn interning_is_stable_and_counts_add_up() {
        let mut p = Profile::new(ProfileMeta::default());
        let a = p.intern_frame(FrameInfo::python("main", "app.py", 3, 1));
        let b = p.intern_frame(FrameInfo::python("work", "app.py", 9, 8));
        assert_eq!(a, p.intern_frame(FrameInfo::python("main", "app.py", 3, 1)));
        let s1 = p.intern_stack(&[a, b]);
        let s2 = p.intern_stack(&[a]);
        assert_ne!(s1, s2);
        assert_eq!(s1, p.intern_stack(&[a, b]));
        for (stack, w) in [(s1, 10), (s1, 10), (s2, 10)] {
            p.add_sample(TimedSample {
                time_ns: 0,
                key: StackKey {
                    pid: 1,
                    tid: 1,
                    stack,
                },
                weight_ns: w,
                flags: 0,
                cpu: 0,
            });
        }
        assert_eq!(p.total_samples(), 3);
        assert_eq!(p.total_weight_ns(), 30);
        assert_eq!(
            p.counts[&StackKey {
                pid: 1,
                tid: 1,
                stack: s1
            }]
                .samples,
            2
        );
        assert_eq!(
            p.stack_labels(s1),
            vec!["main (app.py:3)", "work (app.py:9)"]
        );
    }

    fn sample(p: &mut Profile, pid: u32, stack: StackId, time_ns: u64) {
        p.add_sample(TimedSample {
            time_ns,
            key: StackKey {
                pid,
                tid: pid,
                stack,
            },
            weight_ns: 10,
            flags: 0,
            cpu: 0,
        });
        p.note_thread(pid, pid, || format!("t{pid}"));
    }

    #[test]
    fn windows_split_the_samples_without_loss_or_overlap() {
        let mut p = Profile::new(ProfileMeta {
            start_unix_ns: 1_000,
            ..Default::default()
        });
        p.keep_timeline();
        let a = p.intern_frame(FrameInfo::python("a", "x.py", 1, 1));
        let b = p.intern_frame(FrameInfo::python("b", "x.py", 2, 2));
        let (sa, sb) = (p.intern_stack(&[a]), p.intern_stack(&[a, b]));
        sample(&mut p, 1, sa, 10);
        sample(&mut p, 1, sa, 20);
        sample(&mut p, 2, sb, 30);
        let w1 = p.take_window(100);
        sample(&mut p, 2, sb, 150);
        let w2 = p.take_window(200);
        let w3 = p.take_window(300);
        assert_eq!(
            (w1.total_samples(), w2.total_samples(), w3.total_samples()),
            (3, 1, 0)
        );
        assert_eq!(p.total_samples(), 0, "everything went into windows");
        // Window 2 holds only what it uses, renumbered.
        assert_eq!(w2.frames.len(), 2);
        assert_eq!(w2.stacks.len(), 1);
        assert_eq!(w2.stack_labels(0), ["a (x.py:1)", "b (x.py:2)"]);
        assert_eq!(w2.processes.keys().copied().collect::<Vec<_>>(), [2]);
        // Times and meta are the window's own.
        assert_eq!((w2.meta.start_unix_ns, w2.meta.duration_ns), (1_100, 100));
        let t: Vec<u64> = w2
            .timeline
            .as_ref()
            .expect("kept")
            .iter()
            .map(|s| s.time_ns)
            .collect();
        assert_eq!(t, [50]);
        assert_eq!(w1.timeline.as_ref().map(Vec::len), Some(3));
        // The live profile keeps interning where it was.
        assert_eq!(p.intern_stack(&[a, b]), sb);
    }

    #[test]
    fn a_reused_pid_gets_its_own_key_and_shows_its_real_pid() {
        let mut p = Profile::default();
        let mut slots = ProcessSlots::default();
        let first = slots.assign(&p, 42, 100);
        assert_eq!(first, 42);
        assert_eq!(slots.assign(&p, 42, 100), 42, "exec keeps the key");
        let s = p.intern_stack(&[]);
        p.processes.insert(
            42,
            ProcessInfo {
                pid: 42,
                name: "python3".into(),
                ..Default::default()
            },
        );
        sample(&mut p, 42, s, 0);
        slots.release(42, 100);
        let second = slots.assign(&p, 42, 900);
        assert_eq!(second, REUSED_PID_KEYS);
        assert_eq!(slots.key(42), second);
        p.processes.insert(
            second,
            ProcessInfo {
                pid: 42,
                name: "python3".into(),
                ..Default::default()
            },
        );
        assert_eq!(p.pid_of(second), 42);
        assert_eq!(p.process_label(second), "python3 (pid 42)");
        assert_eq!(p.process_label(first), "python3 (pid 42)");
        // A pid never sampled before keeps its own number.
        assert_eq!(slots.assign(&p, 43, 5), 43);
        slots.release(43, 6);
        assert_eq!(slots.key(43), 43, "releasing another identity does nothing");
    }

    #[test]
    fn compact_keeps_only_what_is_still_needed() {
        let mut p = Profile::default();
        let a = p.intern_frame(FrameInfo::python("a", "x.py", 1, 1));
        let b = p.intern_frame(FrameInfo::python("b", "x.py", 2, 2));
        let c = p.intern_frame(FrameInfo::python("c", "x.py", 3, 3));
        let _sab = p.intern_stack(&[a, b]);
        let sac = p.intern_stack(&[a, c]);
        let map = p.compact(&[sac]);
        assert_eq!(p.frames.len(), 2);
        assert_eq!(p.stacks.len(), 1);
        let new = map[&sac];
        assert_eq!(p.stack_labels(new), ["a (x.py:1)", "c (x.py:3)"]);
        // Interning goes on from the compacted tables.
        let b2 = p.intern_frame(FrameInfo::python("b", "x.py", 2, 2));
        assert_eq!(b2, 2);
    }
}
