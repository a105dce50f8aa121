//! Giving memory back to the system once start-up is over.
//!
//! Start-up allocates far more than a run keeps: the kernel's BTF that
//! aya's loader parses (about 20 MiB, unused: the object has no CO-RE
//! relocations), the first `/proc` scan, ELF files read to find
//! interpreters. Once freed, glibc keeps most of it in its arenas,
//! counted in the RSS of a process that may run for weeks.

/// Returns the allocator's free memory to the system (glibc's
/// `malloc_trim(0)`: every arena, not only the top of the main heap).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own
    // arenas; it has no preconditions and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// VmRSS and VmHWM of this process in KiB, for the debug log.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
