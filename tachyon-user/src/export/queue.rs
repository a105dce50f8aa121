//! The bounded queue between the sampling loop and one sink.
//!
//! The sampling loop only ever pushes, and a push never waits: when the
//! queue is full the oldest window goes (counted), so a sink that is down
//! costs memory for `capacity` windows and nothing else. The sink's worker
//! reads the front without taking it, and removes it only once delivered:
//! a window being retried still counts against the bound, and if it is the
//! oldest when a push overflows, it is the one dropped (the worker notices
//! by its sequence number and moves on).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// An entry and its place in the stream of windows.
pub struct Entry<T> {
    /// 0, 1, 2, … in push order.
    pub seq: u64,
    pub item: Arc<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            seq: self.seq,
            item: Arc::clone(&self.item),
        }
    }
}

struct State<T> {
    entries: VecDeque<Entry<T>>,
    next_seq: u64,
    dropped: u64,
    closed: bool,
}

/// A bounded drop-oldest queue with one consumer.
pub struct WindowQueue<T> {
    capacity: usize,
    state: Mutex<State<T>>,
    changed: Notify,
}

impl<T> WindowQueue<T> {
    /// A queue holding at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                entries: VecDeque::new(),
                next_seq: 0,
                dropped: 0,
                closed: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves a consistent VecDeque; keep
        // going rather than poison every later window.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `item`; returns the entry dropped to make room, if any.
    pub fn push(&self, item: Arc<T>) -> Option<Entry<T>> {
        let dropped = {
            let mut s = self.lock();
            let dropped = if s.entries.len() >= self.capacity {
                s.dropped += 1;
                s.entries.pop_front()
            } else {
                None
            };
            let seq = s.next_seq;
            s.next_seq += 1;
            s.entries.push_back(Entry { seq, item });
            dropped
        };
        self.changed.notify_one();
        dropped
    }

    /// The oldest entry, left in place.
    pub fn front(&self) -> Option<Entry<T>> {
        self.lock().entries.front().cloned()
    }

    /// Removes the entry `seq` if it is still the oldest (it was delivered);
    /// false when it was dropped meanwhile.
    pub fn remove(&self, seq: u64) -> bool {
        let mut s = self.lock();
        if s.entries.front().is_some_and(|e| e.seq == seq) {
            s.entries.pop_front();
            true
        } else {
            false
        }
    }

    /// Whether `seq` is still queued (not dropped, not delivered).
    pub fn holds(&self, seq: u64) -> bool {
        self.lock().entries.iter().any(|e| e.seq == seq)
    }

    /// No more pushes: the worker delivers what is queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Entries waiting (including one being retried).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Waits for the next entry; `None` once closed and empty.
    pub async fn next(&self) -> Option<Entry<T>> {
        loop {
            let notified = self.changed.notified();
            {
                let s = self.lock();
                if let Some(e) = s.entries.front() {
                    return Some(e.clone());
                }
                if s.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Completes when something was pushed or the queue was closed.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(cap: usize) -> WindowQueue<u32> {
        WindowQueue::new(cap)
    }

    #[test]
    fn keeps_order_and_removes_only_the_front() {
        let q = q(3);
        for i in 0..3 {
            assert!(q.push(Arc::new(i)).is_none());
        }
        let front = q.front().expect("front");
        assert_eq!((front.seq, *front.item), (0, 0));
        assert!(!q.remove(1), "only the front can be delivered");
        assert!(q.remove(0));
        assert_eq!(q.front().map(|e| e.seq), Some(1));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let q = q(2);
        q.push(Arc::new(10));
        q.push(Arc::new(11));
        // The worker is retrying seq 0 …
        let retrying = q.front().expect("front");
        let dropped = q.push(Arc::new(12)).expect("one dropped");
        assert_eq!((dropped.seq, *dropped.item), (0, 10));
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.len(), 2);
        // … and learns it was dropped.
        assert!(!q.holds(retrying.seq));
        assert!(!q.remove(retrying.seq));
        assert_eq!(q.front().map(|e| *e.item), Some(11));
    }

    #[test]
    fn capacity_zero_still_holds_the_newest() {
        let q = q(0);
        q.push(Arc::new(1));
        q.push(Arc::new(2));
        assert_eq!(q.len(), 1);
        assert_eq!(q.front().map(|e| *e.item), Some(2));
        assert_eq!(q.dropped(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn next_waits_for_a_push_and_ends_when_closed_and_empty() {
        let q = Arc::new(q(4));
        let q2 = Arc::clone(&q);
        let pusher = tokio::spawn(async move {
            tokio::task::yield_now().await;
            q2.push(Arc::new(7));
            q2.close();
        });
        let e = q.next().await.expect("an entry");
        assert_eq!(*e.item, 7);
        // Still queued until removed, even though closed.
        pusher.await.expect("pusher");
        assert!(q.next().await.is_some());
        assert!(q.remove(e.seq));
        assert!(q.next().await.is_none());
    }
}
