//! The profiler's CPU priority (`--nice`).
//!
//! The reader must drain the ring buffer in time even when every CPU is
//! busy. At nice 0 among 20 CPU-bound Python 3.11 processes starting on 2
//! CPUs it waited on the run queue ten times as long as it ran (0.42 s in
//! the first 0.7 s, `/proc/PID/schedstat`) and lost 1–2 % of the samples
//! at 10 kHz; at nice -10 it lost none. It needs a few percent of one
//! core, so its higher weight costs the others little; the samples' own
//! cost is paid in the kernel, on the sampled threads.
//!
//! Linux keeps a niceness per thread: it is set on the calling thread
//! before the runtime starts, and threads started later inherit it. A
//! command that `run` starts is forked before, so it keeps the caller's.

use thiserror::Error;

/// The niceness a sampling run takes when the caller left the default.
pub const DEFAULT_NICE: i32 = -10;

/// The range `setpriority` accepts.
pub const NICE_RANGE: std::ops::RangeInclusive<i32> = -20..=19;

#[derive(Debug, Error)]
pub enum PriorityError {
    #[error("cannot read the profiler's niceness: {0}")]
    Read(std::io::Error),
    #[error("cannot set the profiler's niceness to {nice}: {source}")]
    Set { nice: i32, source: std::io::Error },
}

/// The niceness to set: the one asked for (`--nice`); else
/// [`DEFAULT_NICE`] when the caller left the default (0); else none, so
/// that a niceness the caller chose (`nice -n 5 tachyon-bpf`) is kept.
pub fn wanted(requested: Option<i32>, current: i32) -> Option<i32> {
    match requested {
        Some(n) => Some(n),
        None if current == 0 => Some(DEFAULT_NICE),
        None => None,
    }
}

/// The calling thread's niceness.
pub fn current() -> Result<i32, PriorityError> {
    // SAFETY: getpriority has no memory arguments; -1 is a valid niceness,
    // so errno, cleared before, tells an error.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        if n == -1 && *libc::__errno_location() != 0 {
            return Err(PriorityError::Read(std::io::Error::last_os_error()));
        }
        Ok(n)
    }
}

/// Sets the calling thread's niceness (threads it starts later inherit it).
pub fn set(nice: i32) -> Result<(), PriorityError> {
    // SAFETY: setpriority has no memory arguments.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if r != 0 {
        return Err(PriorityError::Set {
            nice,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Applies [`wanted`]: the niceness set, if any.
pub fn apply(requested: Option<i32>) -> Result<Option<i32>, PriorityError> {
    let Some(nice) = wanted(requested, current()?) else {
        return Ok(None);
    };
    set(nice)?;
    Ok(Some(nice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_raised_and_a_chosen_niceness_kept() {
        assert_eq!(wanted(None, 0), Some(DEFAULT_NICE));
        assert_eq!(wanted(None, 5), None);
        assert_eq!(wanted(None, -3), None);
        assert_eq!(wanted(Some(0), 0), Some(0));
        assert_eq!(wanted(Some(7), 5), Some(7));
        assert!(NICE_RANGE.contains(&DEFAULT_NICE));
    }

    #[test]
    fn the_calling_threads_niceness_reads() {
        assert!(NICE_RANGE.contains(&current().expect("getpriority")));
    }
}
