//! The process tracker: which processes are profiled, as they start, exec,
//! fork and exit.
//!
//! A process is a pid *and* its start time, so a reused pid is a new
//! process with fresh state, never a continuation of the old one. The
//! tracker decides; the session carries out its [`Action`]s (BPF maps,
//! symbol state, timers), so every rule here is tested without root.

use std::collections::HashSet;
use std::time::Duration;

use rustc_hash::FxHashMap as HashMap;

use crate::container::{PlaceCache, PlaceFilter, DEFAULT_CACHE_CAPACITY};
use crate::procfs;
use crate::profile::ProcessPlace;
use crate::python::process::{InspectError, Inspector, PythonProcess};

/// Which processes to profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Every Python process, including those started during the run.
    AllPython,
    /// These pids (and, with `follow_children`, processes they fork or spawn).
    Pids(Vec<u32>),
}

/// A process's identity: its pid and its start time (clock ticks since
/// boot, `/proc/PID/stat` field 22).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessKey {
    pub pid: u32,
    pub start_time: u64,
}

/// What the tracker needs to know of the machine.
pub trait Host {
    /// Whether `pid` is a supported Python process, and where its state is.
    fn inspect(&mut self, pid: u32) -> Result<PythonProcess, InspectError>;
    /// The start time of `pid`; `None` when it is gone.
    fn start_time(&self, pid: u32) -> Option<u64>;
    /// The start time and the parent of `pid` (one read of its stat);
    /// `None` when it is gone.
    fn lineage(&self, pid: u32) -> Option<(u64, u32)>;
    /// The short name of `pid`.
    fn comm(&self, pid: u32) -> String;
    /// Where `pid` runs (cgroup, container).
    fn place(&mut self, pid: u32) -> ProcessPlace;
}

/// The real machine: `/proc`, ELF inspection, container runtimes' metadata.
pub struct SystemHost {
    pub inspector: Inspector,
    pub places: PlaceCache,
}

impl SystemHost {
    /// With Docker's data root at `docker_root`.
    pub fn new(docker_root: &std::path::Path) -> Self {
        Self {
            inspector: Inspector::new(),
            places: PlaceCache::new(docker_root, DEFAULT_CACHE_CAPACITY),
        }
    }
}

impl Host for SystemHost {
    fn inspect(&mut self, pid: u32) -> Result<PythonProcess, InspectError> {
        self.inspector.inspect(pid)
    }
    fn start_time(&self, pid: u32) -> Option<u64> {
        procfs::stat(pid).map(|s| s.start_time)
    }
    fn lineage(&self, pid: u32) -> Option<(u64, u32)> {
        procfs::stat(pid).map(|s| (s.start_time, s.ppid))
    }
    fn comm(&self, pid: u32) -> String {
        procfs::comm(pid)
    }
    fn place(&mut self, pid: u32) -> ProcessPlace {
        self.places.place_of(pid).to_profile()
    }
}

/// What the session must do.
#[derive(Debug)]
pub enum Action {
    /// Start profiling this process (new state: a reused pid starts over).
    Track {
        key: ProcessKey,
        process: Box<PythonProcess>,
        place: Box<ProcessPlace>,
    },
    /// Stop profiling this process and, once its last samples are in,
    /// drop everything kept for it.
    Untrack(ProcessKey),
    /// Inspect `pid` again after `delay` (its interpreter may not be
    /// mapped yet right after exec), then call [`Tracker::inspect`].
    Retry {
        pid: u32,
        attempt: usize,
        delay: Duration,
    },
    /// Something the user should know (an unsupported interpreter).
    Warn(String),
}

/// Delays before re-inspecting a freshly exec'd process whose libpython is
/// not mapped yet.
pub const EXEC_RETRY_MS: &[u64] = &[0, 2, 5, 10, 20, 40, 80, 160, 320, 640];

/// The processes being profiled.
#[derive(Debug)]
pub struct Tracker {
    targets: Targets,
    follow_children: bool,
    /// The processes asked for with `--pid` and, with `follow_children`,
    /// their descendants, Python or not yet (a shell that will exec
    /// Python), by identity.
    followed: HashSet<ProcessKey>,
    /// `--container` / `--cgroup`: processes found by discovery are
    /// profiled only where one of these matches (none: everywhere).
    filters: Vec<PlaceFilter>,
    live: HashMap<u32, (ProcessKey, PythonProcess)>,
}

impl Tracker {
    pub fn new(targets: Targets, follow_children: bool) -> Self {
        Self::with_filters(targets, follow_children, Vec::new())
    }

    /// Discovered processes are profiled only where a filter matches.
    pub fn with_filters(
        targets: Targets,
        follow_children: bool,
        filters: Vec<PlaceFilter>,
    ) -> Self {
        Self {
            targets,
            follow_children,
            filters,
            followed: HashSet::new(),
            live: HashMap::default(),
        }
    }

    fn wants_all(&self) -> bool {
        self.targets == Targets::AllPython
    }

    /// The processes to profile from the start: those asked for (already
    /// inspected), those to follow until they or their descendants run
    /// Python (`follow`: a command about to exec, a shell), and, among
    /// `pids` (a scan of `/proc`), with [`Targets::AllPython`] every Python
    /// process, with `follow_children` every descendant of a target that
    /// runs already.
    pub fn start(
        &mut self,
        host: &mut dyn Host,
        initial: Vec<PythonProcess>,
        follow: &[u32],
        pids: &[u32],
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for process in initial {
            let Some(start_time) = host.start_time(process.pid) else {
                continue;
            };
            let key = ProcessKey {
                pid: process.pid,
                start_time,
            };
            self.followed.insert(key);
            let place = host.place(key.pid);
            self.track(key, process, place, &mut out);
        }
        for &pid in follow {
            if let Some(start_time) = host.start_time(pid) {
                self.followed.insert(ProcessKey { pid, start_time });
            }
        }
        if self.wants_all() {
            for &pid in pids {
                if !self.live.contains_key(&pid) {
                    self.inspect_into(host, pid, usize::MAX, &mut out);
                }
            }
        } else if self.follow_children {
            for &pid in pids {
                if !self.live.contains_key(&pid) && self.follow_if_descendant(host, pid) {
                    self.inspect_into(host, pid, usize::MAX, &mut out);
                }
            }
        }
        out
    }

    /// Ancestors looked at to tell whether a process descends from a target.
    const ANCESTRY_DEPTH: usize = 64;

    /// With `follow_children`: `pid` descends from a followed process (and
    /// is followed from now on).
    fn follow_if_descendant(&mut self, host: &dyn Host, pid: u32) -> bool {
        if !self.follow_children || self.followed.is_empty() {
            return false;
        }
        let Some((start_time, mut parent)) = host.lineage(pid) else {
            return false;
        };
        for _ in 0..Self::ANCESTRY_DEPTH {
            if parent <= 1 {
                return false;
            }
            let Some((parent_start, grandparent)) = host.lineage(parent) else {
                return false;
            };
            if self.followed.contains(&ProcessKey {
                pid: parent,
                start_time: parent_start,
            }) {
                self.followed.insert(ProcessKey { pid, start_time });
                return true;
            }
            parent = grandparent;
        }
        false
    }

    /// `pid` called exec: what ran there is gone; what runs now may be
    /// Python.
    pub fn on_exec(&mut self, host: &mut dyn Host, pid: u32) -> Vec<Action> {
        let mut out = Vec::new();
        let now = host.start_time(pid);
        let prev = self.live.remove(&pid).map(|(key, _)| key);
        if let Some(key) = prev {
            out.push(Action::Untrack(key));
        }
        // exec keeps the start time; a different one is a reused pid whose
        // exit we missed, not a process of ours.
        // A process the kernel did not report forking (its parent runs no
        // Python: a shell) is followed when it descends from a target.
        let followed = self.wants_all()
            || now
                .is_some_and(|start_time| self.followed.contains(&ProcessKey { pid, start_time }))
            || self.follow_if_descendant(host, pid);
        if followed {
            self.inspect_into(host, pid, 0, &mut out);
        }
        out
    }

    /// A tracked process forked `child`, which runs the same interpreter.
    pub fn on_fork(&mut self, host: &mut dyn Host, child: u32, parent: u32) -> Vec<Action> {
        let mut out = Vec::new();
        if !(self.wants_all() || self.follow_children) || self.live.contains_key(&child) {
            return out;
        }
        let Some((_, parent_proc)) = self.live.get(&parent) else {
            return out;
        };
        let Some(start_time) = host.start_time(child) else {
            return out; // already gone
        };
        let process = PythonProcess {
            pid: child,
            comm: host.comm(child),
            ..parent_proc.clone()
        };
        let place = host.place(child);
        self.track(
            ProcessKey {
                pid: child,
                start_time,
            },
            process,
            place,
            &mut out,
        );
        out
    }

    /// A thread-group leader exited.
    pub fn on_exit(&mut self, pid: u32) -> Vec<Action> {
        match self.live.remove(&pid) {
            Some((key, _)) => {
                self.followed.remove(&key);
                vec![Action::Untrack(key)]
            }
            None => Vec::new(),
        }
    }

    /// Forgets followed processes that are no longer Python and have
    /// exited since (the kernel reports exits of profiled processes only).
    pub fn prune(&mut self, host: &dyn Host) {
        self.followed
            .retain(|k| host.start_time(k.pid) == Some(k.start_time));
    }

    /// Inspects `pid` (attempt `attempt` of [`EXEC_RETRY_MS`]).
    pub fn inspect(&mut self, host: &mut dyn Host, pid: u32, attempt: usize) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.live.contains_key(&pid) {
            self.inspect_into(host, pid, attempt, &mut out);
        }
        out
    }

    /// `attempt == usize::MAX`: a one-off look (the start-up scan), never
    /// retried.
    fn inspect_into(
        &mut self,
        host: &mut dyn Host,
        pid: u32,
        attempt: usize,
        out: &mut Vec<Action>,
    ) {
        match host.inspect(pid) {
            Ok(process) => {
                let Some(start_time) = host.start_time(pid) else {
                    return;
                };
                let key = ProcessKey { pid, start_time };
                let place = host.place(pid);
                let explicit = self.followed.contains(&key);
                if explicit || self.selects(&place) {
                    self.track(key, process, place, out);
                }
            }
            Err(InspectError::NoRuntime { .. }) | Err(InspectError::Binary { .. })
                if attempt.saturating_add(1) < EXEC_RETRY_MS.len() =>
            {
                out.push(Action::Retry {
                    pid,
                    attempt: attempt + 1,
                    delay: Duration::from_millis(EXEC_RETRY_MS[attempt + 1]),
                });
            }
            Err(
                e @ (InspectError::Unsupported { .. }
                | InspectError::DebugBuild { .. }
                | InspectError::TraceRefs { .. }
                | InspectError::NoLayout { .. }
                | InspectError::VersionUnknown { .. }),
            ) => out.push(Action::Warn(e.to_string())),
            Err(e) => log::debug!("pid {pid}: {e}"),
        }
    }

    /// Whether the filters select a process at `place`.
    fn selects(&self, place: &ProcessPlace) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| f.matches(place))
    }

    fn track(
        &mut self,
        key: ProcessKey,
        process: PythonProcess,
        place: ProcessPlace,
        out: &mut Vec<Action>,
    ) {
        if self.follow_children {
            self.followed.insert(key);
        }
        if let Some((old, _)) = self.live.insert(key.pid, (key, process.clone())) {
            if old != key {
                out.push(Action::Untrack(old));
            }
        }
        out.push(Action::Track {
            key,
            process: Box::new(process),
            place: Box::new(place),
        });
    }

    /// Whether processes are followed until they (or their children) run
    /// Python: [`Self::prune`] forgets those that are gone.
    pub fn follows_any(&self) -> bool {
        !self.followed.is_empty()
    }

    /// Processes being profiled now.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// The identity of a profiled pid.
    pub fn key_of(&self, pid: u32) -> Option<ProcessKey> {
        self.live.get(&pid).map(|(k, _)| *k)
    }

    /// With `--pid`: every process asked for (and followed) has exited,
    /// Python or not yet.
    pub fn all_targets_gone(&self, host: &dyn Host) -> bool {
        !self.wants_all()
            && self.live.is_empty()
            && self
                .followed
                .iter()
                .all(|k| host.start_time(k.pid) != Some(k.start_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::layout_for;

    /// A machine of hand-made processes: pid → (start time, what inspect says).
    #[derive(Default)]
    struct FakeHost {
        procs: HashMap<u32, (u64, Outcome)>,
        inspected: Vec<u32>,
        places: HashMap<u32, ProcessPlace>,
        /// pid → parent (1 when not given).
        parents: HashMap<u32, u32>,
    }

    #[derive(Clone, Copy)]
    enum Outcome {
        Python(u32),
        NotPython,
        /// The interpreter is not mapped yet (just after exec).
        NoRuntime,
        Unsupported,
    }

    impl FakeHost {
        fn put(&mut self, pid: u32, start: u64, o: Outcome) {
            self.procs.insert(pid, (start, o));
        }
    }

    fn python(pid: u32, minor: u32) -> PythonProcess {
        PythonProcess {
            pid,
            comm: format!("python3.{minor}"),
            version: format!("3.{minor}.0"),
            layout: *layout_for(minor).expect("layout"),
            runtime_addr: 0x1000,
            code_type: 0x2000,
            none_addr: 0x3000,
            binary: format!("/usr/bin/python3.{minor}"),
        }
    }

    impl Host for FakeHost {
        fn lineage(&self, pid: u32) -> Option<(u64, u32)> {
            let (start, _) = self.procs.get(&pid)?;
            Some((*start, self.parents.get(&pid).copied().unwrap_or(1)))
        }
        fn inspect(&mut self, pid: u32) -> Result<PythonProcess, InspectError> {
            self.inspected.push(pid);
            let comm = "x".to_string();
            match self.procs.get(&pid) {
                None => Err(InspectError::NoProcess(pid)),
                Some((_, Outcome::Python(minor))) => Ok(python(pid, *minor)),
                Some((_, Outcome::NotPython)) => Err(InspectError::NotPython { pid, comm }),
                Some((_, Outcome::NoRuntime)) => Err(InspectError::NoRuntime {
                    pid,
                    path: "/usr/bin/python3.12".into(),
                }),
                Some((_, Outcome::Unsupported)) => Err(InspectError::Unsupported {
                    pid,
                    comm,
                    version: "3.7.1".into(),
                }),
            }
        }
        fn start_time(&self, pid: u32) -> Option<u64> {
            self.procs.get(&pid).map(|(s, _)| *s)
        }
        fn comm(&self, pid: u32) -> String {
            format!("comm-{pid}")
        }
        fn place(&mut self, pid: u32) -> ProcessPlace {
            self.places.get(&pid).cloned().unwrap_or_default()
        }
    }

    /// The actions, as short strings: `+pid@start`, `-pid@start`,
    /// `retry pid #n`, `warn`.
    fn show(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Track { key, .. } => format!("+{}@{}", key.pid, key.start_time),
                Action::Untrack(key) => format!("-{}@{}", key.pid, key.start_time),
                Action::Retry { pid, attempt, .. } => format!("retry {pid} #{attempt}"),
                Action::Warn(_) => "warn".into(),
            })
            .collect()
    }

    #[test]
    fn all_python_scan_tracks_python_and_warns_on_unsupported() {
        let mut h = FakeHost::default();
        h.put(10, 1, Outcome::Python(12));
        h.put(11, 1, Outcome::NotPython);
        h.put(12, 1, Outcome::Unsupported);
        h.put(13, 1, Outcome::NoRuntime);
        let mut t = Tracker::new(Targets::AllPython, false);
        let a = t.start(&mut h, vec![], &[], &[10, 11, 12, 13, 14]);
        // The scan is one look: a process without runtime is not retried.
        assert_eq!(show(&a), ["+10@1", "warn"]);
        assert_eq!(t.live(), 1);
        assert!(!t.all_targets_gone(&h));
    }

    #[test]
    fn exec_mid_run_into_python_is_retried_until_the_interpreter_is_mapped() {
        let mut h = FakeHost::default();
        let mut t = Tracker::new(Targets::AllPython, false);
        t.start(&mut h, vec![], &[], &[]);
        h.put(20, 5, Outcome::NoRuntime);
        assert_eq!(show(&t.on_exec(&mut h, 20)), ["retry 20 #1"]);
        assert_eq!(show(&t.inspect(&mut h, 20, 1)), ["retry 20 #2"]);
        h.put(20, 5, Outcome::Python(13));
        assert_eq!(show(&t.inspect(&mut h, 20, 2)), ["+20@5"]);
        // The last attempt gives up quietly.
        h.put(21, 6, Outcome::NoRuntime);
        let last = EXEC_RETRY_MS.len() - 1;
        assert!(t.inspect(&mut h, 21, last).is_empty());
    }

    #[test]
    fn a_tracked_process_that_execs_starts_over_or_leaves() {
        let mut h = FakeHost::default();
        h.put(30, 7, Outcome::Python(11));
        let mut t = Tracker::new(Targets::AllPython, false);
        assert_eq!(show(&t.start(&mut h, vec![], &[], &[30])), ["+30@7"]);
        // exec into another Python: new state, same identity.
        h.put(30, 7, Outcome::Python(12));
        assert_eq!(show(&t.on_exec(&mut h, 30)), ["-30@7", "+30@7"]);
        // exec into something else: gone from the profile.
        h.put(30, 7, Outcome::NotPython);
        assert_eq!(show(&t.on_exec(&mut h, 30)), ["-30@7"]);
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn pid_reuse_is_a_new_process() {
        let mut h = FakeHost::default();
        h.put(40, 100, Outcome::Python(12));
        let mut t = Tracker::new(Targets::AllPython, false);
        t.start(&mut h, vec![], &[], &[40]);
        assert_eq!(show(&t.on_exit(40)), ["-40@100"]);
        assert!(t.on_exit(40).is_empty(), "one exit, one untrack");
        // Another program gets pid 40 and execs Python.
        h.put(40, 900, Outcome::Python(13));
        assert_eq!(show(&t.on_exec(&mut h, 40)), ["+40@900"]);
        assert_eq!(t.key_of(40).map(|k| k.start_time), Some(900));
    }

    #[test]
    fn a_missed_exit_still_separates_the_two_processes() {
        let mut h = FakeHost::default();
        h.put(41, 100, Outcome::Python(12));
        let mut t = Tracker::new(Targets::AllPython, false);
        t.start(&mut h, vec![], &[], &[41]);
        // Exit event lost; pid 41 now belongs to a new process that execs.
        h.put(41, 500, Outcome::Python(12));
        assert_eq!(show(&t.on_exec(&mut h, 41)), ["-41@100", "+41@500"]);
    }

    #[test]
    fn explicit_pids_follow_exec_but_not_a_reused_pid() {
        let mut h = FakeHost::default();
        // `--pid 50` on a shell that will exec Python.
        h.put(50, 3, Outcome::Python(12));
        let mut t = Tracker::new(Targets::Pids(vec![50]), false);
        let initial = vec![h.inspect(50).expect("python")];
        assert_eq!(show(&t.start(&mut h, initial, &[], &[])), ["+50@3"]);
        h.put(50, 3, Outcome::Python(13));
        assert_eq!(show(&t.on_exec(&mut h, 50)), ["-50@3", "+50@3"]);
        assert_eq!(show(&t.on_exit(50)), ["-50@3"]);
        assert!(t.all_targets_gone(&h));
        // The pid comes back as someone else's process: not ours.
        h.put(50, 77, Outcome::Python(12));
        assert!(t.on_exec(&mut h, 50).is_empty());
        // Nor is any other Python process.
        h.put(51, 4, Outcome::Python(12));
        assert!(t.on_exec(&mut h, 51).is_empty());
    }

    #[test]
    fn a_fork_that_execs() {
        let mut h = FakeHost::default();
        h.put(60, 1, Outcome::Python(12));
        let mut t = Tracker::new(Targets::Pids(vec![60]), true);
        let initial = vec![h.inspect(60).expect("python")];
        t.start(&mut h, initial, &[], &[]);
        // The child runs the parent's interpreter until it execs.
        h.put(61, 2, Outcome::NotPython);
        let a = t.on_fork(&mut h, 61, 60);
        assert_eq!(show(&a), ["+61@2"]);
        match &a[0] {
            Action::Track { process, .. } => {
                assert_eq!((process.pid, process.comm.as_str()), (61, "comm-61"));
                assert_eq!(process.runtime_addr, 0x1000);
            }
            other => panic!("{other:?}"),
        }
        // It execs a shell (not profiled), which execs Python (followed).
        assert_eq!(show(&t.on_exec(&mut h, 61)), ["-61@2"]);
        h.put(61, 2, Outcome::Python(13));
        assert_eq!(show(&t.on_exec(&mut h, 61)), ["+61@2"]);
        // Once it has exited, its pid is someone else's.
        t.on_exit(61);
        h.put(61, 9, Outcome::Python(13));
        assert!(t.on_exec(&mut h, 61).is_empty());
        // A second child execs straight into Python: followed.
        h.put(62, 3, Outcome::Python(12));
        t.on_fork(&mut h, 62, 60);
        h.put(62, 3, Outcome::Python(14));
        assert_eq!(show(&t.on_exec(&mut h, 62)), ["-62@3", "+62@3"]);
        assert_eq!(t.live(), 2);
    }

    #[test]
    fn followed_processes_that_left_python_are_pruned_once_gone() {
        let mut h = FakeHost::default();
        h.put(80, 1, Outcome::Python(12));
        let mut t = Tracker::new(Targets::Pids(vec![80]), true);
        let initial = vec![h.inspect(80).expect("python")];
        t.start(&mut h, initial, &[], &[]);
        h.put(80, 1, Outcome::NotPython);
        t.on_exec(&mut h, 80);
        assert_eq!(t.followed.len(), 1);
        t.prune(&h);
        assert_eq!(t.followed.len(), 1, "still running");
        h.procs.remove(&80);
        t.prune(&h);
        assert!(t.followed.is_empty());
    }

    #[test]
    fn forks_are_ignored_without_following_or_of_untracked_parents() {
        let mut h = FakeHost::default();
        h.put(70, 1, Outcome::Python(12));
        h.put(71, 2, Outcome::Python(12));
        let mut t = Tracker::new(Targets::Pids(vec![70]), false);
        let initial = vec![h.inspect(70).expect("python")];
        t.start(&mut h, initial, &[], &[]);
        assert!(t.on_fork(&mut h, 71, 70).is_empty());
        let mut all = Tracker::new(Targets::AllPython, false);
        assert!(all.on_fork(&mut h, 71, 99).is_empty(), "parent not tracked");
        // A child that is already gone is not tracked.
        all.start(&mut h, vec![], &[], &[70]);
        assert!(all.on_fork(&mut h, 72, 70).is_empty());
    }

    fn in_container(name: &str) -> ProcessPlace {
        let id = format!("{:0>64}", name.len());
        ProcessPlace {
            cgroup: format!("/docker/{id}"),
            container_id: id,
            container_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_select_discovered_processes_by_place() {
        let mut h = FakeHost::default();
        h.put(90, 1, Outcome::Python(12));
        h.put(91, 1, Outcome::Python(13));
        h.put(92, 1, Outcome::Python(14));
        h.places.insert(90, in_container("web"));
        h.places.insert(91, in_container("db"));
        let filters = vec![PlaceFilter::Container("web".into())];
        let mut t = Tracker::with_filters(Targets::AllPython, false, filters);
        let a = t.start(&mut h, vec![], &[], &[90, 91, 92]);
        assert_eq!(show(&a), ["+90@1"]);
        match &a[0] {
            Action::Track { place, .. } => assert_eq!(place.container_name, "web"),
            other => panic!("{other:?}"),
        }
        // A process that joins the container later is picked up…
        h.put(93, 2, Outcome::Python(12));
        h.places.insert(93, in_container("web"));
        assert_eq!(show(&t.on_exec(&mut h, 93)), ["+93@2"]);
        // …and one elsewhere is not.
        h.put(94, 2, Outcome::Python(12));
        assert!(t.on_exec(&mut h, 94).is_empty());
        // A cgroup subtree.
        let mut g = Tracker::with_filters(
            Targets::AllPython,
            false,
            vec![PlaceFilter::Cgroup("/docker".into())],
        );
        assert_eq!(
            show(&g.start(&mut h, vec![], &[], &[90, 91, 92])),
            ["+90@1", "+91@1"]
        );
    }

    #[test]
    fn a_shell_is_followed_and_its_python_descendants_profiled() {
        // 100 is a shell (no Python); 101 its Python child already running,
        // 102 a grandchild through a non-Python 103; 200 unrelated Python.
        let mut h = FakeHost::default();
        h.put(100, 1, Outcome::NotPython);
        h.put(101, 2, Outcome::Python(12));
        h.put(103, 3, Outcome::NotPython);
        h.put(102, 4, Outcome::Python(14));
        h.put(200, 5, Outcome::Python(12));
        h.parents
            .extend([(101, 100), (103, 100), (102, 103), (200, 1)]);
        let mut t = Tracker::new(Targets::Pids(vec![100]), true);
        let a = t.start(&mut h, vec![], &[100], &[100, 101, 102, 103, 200]);
        assert_eq!(show(&a), ["+101@2", "+102@4"]);
        assert!(!t.all_targets_gone(&h));
        // A new child of the shell execs Python later (no fork reported:
        // the shell is not profiled).
        h.put(104, 6, Outcome::Python(13));
        h.parents.insert(104, 100);
        assert_eq!(show(&t.on_exec(&mut h, 104)), ["+104@6"]);
        // Another process's exec is not ours.
        h.put(201, 7, Outcome::Python(13));
        assert!(t.on_exec(&mut h, 201).is_empty());
        // While the shell lives, the run goes on even with no Python left.
        for pid in [101, 102, 104] {
            t.on_exit(pid);
            h.procs.remove(&pid);
        }
        h.procs.remove(&103);
        assert!(!t.all_targets_gone(&h));
        h.procs.remove(&100);
        assert!(t.all_targets_gone(&h));
    }

    #[test]
    fn without_subprocesses_descendants_are_not_followed() {
        let mut h = FakeHost::default();
        h.put(100, 1, Outcome::Python(12));
        h.put(101, 2, Outcome::Python(12));
        h.parents.insert(101, 100);
        let mut t = Tracker::new(Targets::Pids(vec![100]), false);
        let initial = vec![h.inspect(100).expect("python")];
        let a = t.start(&mut h, initial, &[], &[100, 101]);
        assert_eq!(show(&a), ["+100@1"]);
        assert!(t.on_exec(&mut h, 101).is_empty());
    }
}
