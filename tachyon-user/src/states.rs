//! Per-process state of a run (symbol caches and the like), kept while the
//! process is profiled and for a short grace period after it exits or
//! execs, so that its samples still in the ring buffer are symbolized;
//! then freed.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use crate::tracker::ProcessKey;

/// State `S` of each process, by pid.
#[derive(Debug)]
pub struct ProcessStates<S> {
    states: HashMap<u32, (ProcessKey, S)>,
    /// Processes that left, with the time their state goes.
    retiring: Vec<(Instant, ProcessKey)>,
    grace: Duration,
}

impl<S> ProcessStates<S> {
    pub fn new(grace: Duration) -> Self {
        Self {
            states: HashMap::default(),
            retiring: Vec::new(),
            grace,
        }
    }

    /// The state of a process that starts being profiled. Returns the state
    /// it replaces (the same pid before an exec, or a reused pid), to be
    /// freed.
    pub fn insert(&mut self, key: ProcessKey, state: S) -> Option<(ProcessKey, S)> {
        self.retiring.retain(|(_, k)| k.pid != key.pid);
        self.states.insert(key.pid, (key, state))
    }

    /// The process left at `now`: its state stays for the grace period.
    pub fn retire(&mut self, key: ProcessKey, now: Instant) {
        if self.states.get(&key.pid).is_some_and(|(k, _)| *k == key) {
            self.retiring.push((now + self.grace, key));
        }
    }

    /// The state samples of `pid` use now.
    pub fn get_mut(&mut self, pid: u32) -> Option<&mut S> {
        self.states.get_mut(&pid).map(|(_, s)| s)
    }

    /// Frees the states whose grace period is over at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(ProcessKey, S)> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retiring = keep;
        due.into_iter()
            .filter_map(|(_, key)| match self.states.get(&key.pid) {
                Some((k, _)) if *k == key => self.states.remove(&key.pid),
                _ => None,
            })
            .collect()
    }

    /// Every state kept.
    pub fn values(&self) -> impl Iterator<Item = &S> {
        self.states.values().map(|(_, s)| s)
    }

    /// Every state kept, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.states.values_mut().map(|(_, s)| s)
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pid: u32, start_time: u64) -> ProcessKey {
        ProcessKey { pid, start_time }
    }

    #[test]
    fn samples_in_flight_after_an_exit_still_find_the_state_until_the_grace_ends() {
        let t0 = Instant::now();
        let mut s = ProcessStates::new(Duration::from_millis(500));
        s.insert(key(10, 1), "ten");
        s.retire(key(10, 1), t0);
        assert_eq!(s.get_mut(10).copied(), Some("ten"), "late sample");
        assert!(s.expire(t0 + Duration::from_millis(499)).is_empty());
        let freed = s.expire(t0 + Duration::from_millis(500));
        assert_eq!(freed.len(), 1);
        assert_eq!(freed[0].0, key(10, 1));
        assert!(
            s.get_mut(10).is_none(),
            "samples after the grace are dropped"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn exec_replaces_the_state_and_cancels_its_retirement() {
        let t0 = Instant::now();
        let mut s = ProcessStates::new(Duration::from_millis(500));
        s.insert(key(20, 1), 1);
        // exec: untracked, then tracked again with new state.
        s.retire(key(20, 1), t0);
        let old = s.insert(key(20, 1), 2).expect("replaced");
        assert_eq!(old, (key(20, 1), 1));
        assert!(s.expire(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(s.get_mut(20).copied(), Some(2));
    }

    #[test]
    fn a_reused_pid_keeps_the_new_state_when_the_old_one_expires() {
        let t0 = Instant::now();
        let mut s = ProcessStates::new(Duration::from_millis(500));
        s.insert(key(30, 1), "old");
        s.retire(key(30, 1), t0);
        s.insert(key(30, 9), "new");
        assert!(s.expire(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(s.get_mut(30).copied(), Some("new"));
        // Retiring an identity that is not the current one does nothing.
        s.retire(key(30, 1), t0);
        assert!(s.expire(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(s.len(), 1);
        assert_eq!(s.values().count(), 1);
    }
}
