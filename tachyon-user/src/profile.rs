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
        }
    }

    /// A marker frame such as `<unknown>`.
    pub fn marker(name: &str) -> Self {
        Self {
            name: name.to_string(),
            file: String::new(),
            line: 0,
            first_line: 0,
            kind: FrameKind::Marker,
        }
    }

    /// `name (file:line)`, the label used by collapsed stacks and flamegraphs.
    pub fn label(&self) -> String {
        if self.file.is_empty() {
            self.name.clone()
        } else if self.line == 0 {
            format!("{} ({})", self.name, self.file)
        } else {
            format!("{} ({}:{})", self.name, self.file, self.line)
        }
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

    /// The root frame label for a process: `python3.12 (pid 4242)`.
    pub fn process_label(&self, pid: u32) -> String {
        match self.processes.get(&pid) {
            Some(p) if !p.name.is_empty() => format!("{} (pid {})", p.name, pid),
            _ => format!("process (pid {pid})"),
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
}
