//! How much of its memory a profiled process can make the profiler read.
//!
//! A process controls the code pointers the kernel hands over (a frame can
//! point anywhere), so each new (code pointer, fingerprint) pair would be a
//! read of a code object with its strings and line table. [`ReadBudget`]
//! caps those reads per process and per second, in count and in bytes; a
//! read over budget is refused (the frame shows `<unknown>`, nothing is
//! cached, the next second retries) and counted, so the summary says when
//! a process hit it. Real programs stay far below: a cold start of a large
//! application reads a few hundred code objects in its first sampled second.

use std::time::{Duration, Instant};

/// Code objects one process may have read per second.
pub const READS_PER_SECOND: u32 = 2_000;
/// Bytes (names, file names, line tables) per process per second.
pub const BYTES_PER_SECOND: u64 = 16 << 20;

/// A per-second budget of reads.
#[derive(Debug)]
pub struct ReadBudget {
    reads_per_second: u32,
    bytes_per_second: u64,
    window_start: Instant,
    reads: u32,
    bytes: u64,
    /// Reads refused because the budget was spent.
    pub refused: u64,
}

impl ReadBudget {
    pub fn new(now: Instant) -> Self {
        Self::with_limits(now, READS_PER_SECOND, BYTES_PER_SECOND)
    }

    pub fn with_limits(now: Instant, reads_per_second: u32, bytes_per_second: u64) -> Self {
        Self {
            reads_per_second,
            bytes_per_second,
            window_start: now,
            reads: 0,
            bytes: 0,
            refused: 0,
        }
    }

    /// Whether one more read may start now; counts it if so, counts the
    /// refusal if not.
    pub fn try_read(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.reads = 0;
            self.bytes = 0;
        }
        if self.reads >= self.reads_per_second || self.bytes >= self.bytes_per_second {
            self.refused += 1;
            return false;
        }
        self.reads += 1;
        true
    }

    /// Charges what a read that was allowed brought in.
    pub fn charge(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_per_second_in_count() {
        let t0 = Instant::now();
        let mut b = ReadBudget::with_limits(t0, 3, u64::MAX);
        assert!((0..3).all(|_| b.try_read(t0)));
        assert!(!b.try_read(t0 + Duration::from_millis(999)));
        assert_eq!(b.refused, 1);
        // A new second, a new budget.
        assert!(b.try_read(t0 + Duration::from_secs(1)));
        assert_eq!(b.refused, 1);
    }

    #[test]
    fn reads_are_capped_per_second_in_bytes() {
        let t0 = Instant::now();
        let mut b = ReadBudget::with_limits(t0, 1000, 1 << 20);
        assert!(b.try_read(t0));
        b.charge(1 << 20);
        assert!(!b.try_read(t0));
        assert!(!b.try_read(t0 + Duration::from_millis(500)));
        assert_eq!(b.refused, 2);
        assert!(b.try_read(t0 + Duration::from_millis(1500)));
    }

    #[test]
    fn a_clock_that_goes_back_does_not_reset_the_budget() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = ReadBudget::with_limits(t0, 1, u64::MAX);
        assert!(b.try_read(t0));
        assert!(!b.try_read(t0 - Duration::from_secs(3)));
    }
}
