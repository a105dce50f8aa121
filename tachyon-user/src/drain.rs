//! The drain policy: how large the ring buffer is, when the kernel wakes
//! the reader, and when the reader drains.
//!
//! - **Size:** enough for 25 ms of 4 KiB samples on every CPU at the rate
//!   (wall mode as if at 10 kHz or more: context switches are not bounded
//!   by the rate), a power of two between 512 KiB and 16 MiB. A fixed
//!   16 MiB cost a 100 Hz agent 16 MiB of pages it never needed.
//! - **At 1 kHz and above** samples never wake the reader (one wake-up per
//!   sample would cost more than the sample): it drains every 10 ms (40 %
//!   of what the buffer holds at the 4 KiB budget; real samples are far
//!   smaller), or at once when the buffer is a quarter full. At 10 kHz a
//!   wake-up cost about as much as 20 samples: 4 ms drains spent more on
//!   waking than on the samples of a process. The timer runs only while
//!   samples can come.
//! - **Below 1 kHz** the reader sleeps until there is data. A sample wakes
//!   it only when it is the first record after a drain (the kernel's own
//!   rule for `bpf_ringbuf_output` without flags: the reader has consumed
//!   everything, so draining re-arms it, with no race to lose) or when the
//!   buffer is a quarter full; exec, exit and fork events always wake it,
//!   so that a new process is picked up at once. After a wake-up the reader
//!   waits about ten sampling periods (20–100 ms) before it drains, so one
//!   wake-up serves many records; a second wake-up during that wait
//!   (a quarter full, a process event) drains at once. With nothing
//!   profiled it wakes only for process events, and drains at once.

use std::time::{Duration, Instant};

/// Below this rate the reader drains on data instead of on a timer.
pub const DRAIN_ON_DATA_BELOW_HZ: u64 = 1000;
/// What one sample is budgeted in the ring buffer.
pub const SAMPLE_BUDGET_BYTES: u64 = 4096;
/// How long the buffer holds samples at the full rate on every CPU.
pub const RING_HOLDS: Duration = Duration::from_millis(25);
pub const MIN_RING_BYTES: u32 = 512 * 1024;
pub const MAX_RING_BYTES: u32 = 16 * 1024 * 1024;
/// Wall mode's context-switch events come at any rate: size as if this.
pub const WALL_RATE_HZ: u64 = 10_000;
/// At 1 kHz and above: the drain timer.
pub const TIMER_DRAIN: Duration = Duration::from_millis(10);
/// Below 1 kHz: the wait after a wake-up, in sampling periods, and its
/// bounds.
pub const PERIODS_PER_DRAIN: u64 = 10;
pub const MIN_DRAIN_DELAY: Duration = Duration::from_millis(20);
pub const MAX_DRAIN_DELAY: Duration = Duration::from_millis(100);

/// How a run drains its ring buffer, decided once from the rate, the CPU
/// count and the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainPolicy {
    /// `max_entries` of the `EVENTS` ring buffer, in bytes.
    pub ring_bytes: u32,
    /// The kernel forces a wake-up once this much data waits (a quarter).
    pub wakeup_bytes: u64,
    /// How the reader is woken and when it drains.
    pub mode: DrainMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainMode {
    /// Samples do not wake the reader: it drains on this timer.
    Timer(Duration),
    /// The first record after a drain wakes the reader; it drains this
    /// long after.
    OnData(Duration),
}

impl DrainPolicy {
    pub fn new(rate_hz: u64, cpus: usize, wall: bool) -> Self {
        let ring_bytes = ring_bytes(rate_hz, cpus, wall);
        let mode = if rate_hz < DRAIN_ON_DATA_BELOW_HZ {
            DrainMode::OnData(drain_delay(rate_hz))
        } else {
            DrainMode::Timer(TIMER_DRAIN)
        };
        Self {
            ring_bytes,
            wakeup_bytes: u64::from(ring_bytes / 4),
            mode,
        }
    }

    /// The kernel's `EVENTS_WAKE_ON_DATA`.
    pub fn wake_on_data(&self) -> bool {
        matches!(self.mode, DrainMode::OnData(_))
    }
}

/// Bytes of ring buffer for `rate_hz` on `cpus` CPUs: rate × CPUs × 4 KiB
/// × 25 ms, up to a power of two, within [512 KiB, 16 MiB].
pub fn ring_bytes(rate_hz: u64, cpus: usize, wall: bool) -> u32 {
    let rate = if wall {
        rate_hz.max(WALL_RATE_HZ)
    } else {
        rate_hz
    };
    let want = rate
        .saturating_mul(cpus.max(1) as u64)
        .saturating_mul(SAMPLE_BUDGET_BYTES)
        .saturating_mul(RING_HOLDS.as_millis() as u64)
        / 1000;
    // Both bounds are powers of two: rounding up stays within them.
    want.clamp(u64::from(MIN_RING_BYTES), u64::from(MAX_RING_BYTES))
        .next_power_of_two() as u32
}

/// Below 1 kHz: how long the reader waits after a wake-up before it
/// drains: ten sampling periods, within [20 ms, 100 ms].
pub fn drain_delay(rate_hz: u64) -> Duration {
    let ms = (PERIODS_PER_DRAIN * 1000)
        .checked_div(rate_hz)
        .unwrap_or(u64::MAX);
    Duration::from_millis(ms).clamp(MIN_DRAIN_DELAY, MAX_DRAIN_DELAY)
}

/// When the reader of a [`DrainMode::OnData`] run drains next.
#[derive(Debug, Default)]
pub struct DrainClock {
    due: Option<Instant>,
}

/// What a wake-up asks of the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// Drain at [`DrainClock::due`].
    Later,
    /// A second wake-up before the drain: the buffer is filling or a
    /// process event is waiting. Drain now.
    Now,
}

impl DrainClock {
    /// The reader was woken at `now`; `delay` is the policy's wait.
    pub fn woken(&mut self, now: Instant, delay: Duration) -> Woken {
        match self.due {
            Some(_) => {
                self.due = Some(now);
                Woken::Now
            }
            None => {
                self.due = Some(now + delay);
                Woken::Later
            }
        }
    }

    /// The drain that is due, if any.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The reader drained; `more` when records were left (drain again at
    /// once, from the loop's next turn).
    pub fn drained(&mut self, now: Instant, more: bool) {
        self.due = more.then_some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u32 = 1024;
    const MIB: u32 = 1024 * 1024;

    #[test]
    fn the_ring_follows_rate_and_cpus() {
        // 100 Hz × 2 CPUs × 4 KiB × 25 ms = 20 KB: the floor.
        assert_eq!(ring_bytes(100, 2, false), 512 * KIB);
        assert_eq!(ring_bytes(1000, 2, false), 512 * KIB);
        // 10 kHz × 2 CPUs: 2,048,000 bytes, up to 2 MiB.
        assert_eq!(ring_bytes(10_000, 2, false), 2 * MIB);
        // 50 kHz × 2: 10.24 MB → 16 MiB; 100 kHz: clamped to 16 MiB.
        assert_eq!(ring_bytes(50_000, 2, false), 16 * MIB);
        assert_eq!(ring_bytes(100_000, 2, false), 16 * MIB);
        // 10 kHz on 64 CPUs: 65 MB, clamped.
        assert_eq!(ring_bytes(10_000, 64, false), 16 * MIB);
        // 1 kHz on 16 CPUs: 1.6 MB → 2 MiB.
        assert_eq!(ring_bytes(1000, 16, false), 2 * MIB);
        // Nonsense inputs stay in bounds.
        assert_eq!(ring_bytes(0, 0, false), 512 * KIB);
        assert_eq!(ring_bytes(u64::MAX, usize::MAX, false), 16 * MIB);
    }

    #[test]
    fn wall_mode_is_sized_for_context_switches() {
        assert_eq!(ring_bytes(100, 2, true), 2 * MIB);
        assert_eq!(ring_bytes(10_000, 2, true), 2 * MIB);
        assert_eq!(ring_bytes(100_000, 2, true), 16 * MIB);
    }

    #[test]
    fn every_size_is_a_power_of_two_in_bounds() {
        for rate in [1, 19, 97, 100, 999, 1000, 4999, 10_000, 33_333, 100_000] {
            for cpus in [1, 2, 3, 7, 8, 96, 1024] {
                for wall in [false, true] {
                    let b = ring_bytes(rate, cpus, wall);
                    assert!(b.is_power_of_two(), "{rate} {cpus} {wall}: {b}");
                    assert!((MIN_RING_BYTES..=MAX_RING_BYTES).contains(&b));
                }
            }
        }
    }

    #[test]
    fn low_rates_drain_on_data_high_rates_on_a_timer() {
        let p = DrainPolicy::new(97, 2, false);
        assert_eq!(p.mode, DrainMode::OnData(Duration::from_millis(100)));
        assert!(p.wake_on_data());
        assert_eq!(p.wakeup_bytes, u64::from(128 * KIB));
        let p = DrainPolicy::new(500, 2, false);
        assert_eq!(p.mode, DrainMode::OnData(Duration::from_millis(20)));
        let p = DrainPolicy::new(200, 2, false);
        assert_eq!(p.mode, DrainMode::OnData(Duration::from_millis(50)));
        let p = DrainPolicy::new(1000, 2, false);
        assert_eq!(p.mode, DrainMode::Timer(Duration::from_millis(10)));
        assert!(!p.wake_on_data());
        let p = DrainPolicy::new(10_000, 2, true);
        assert_eq!(p.wakeup_bytes, u64::from(512 * KIB));
        assert_eq!(drain_delay(1), Duration::from_millis(100));
        assert_eq!(drain_delay(0), Duration::from_millis(100));
    }

    #[test]
    fn one_wake_up_then_a_drain_a_second_one_drains_at_once() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(100);
        let mut c = DrainClock::default();
        assert_eq!(c.due(), None);
        assert_eq!(c.woken(t0, delay), Woken::Later);
        assert_eq!(c.due(), Some(t0 + delay));
        let t1 = t0 + Duration::from_millis(30);
        assert_eq!(c.woken(t1, delay), Woken::Now);
        assert_eq!(c.due(), Some(t1));
        // A drain that left records drains again at once; one that emptied
        // the buffer waits for the next wake-up.
        c.drained(t1, true);
        assert_eq!(c.due(), Some(t1));
        c.drained(t1, false);
        assert_eq!(c.due(), None);
        assert_eq!(c.woken(t1, delay), Woken::Later);
    }
}
