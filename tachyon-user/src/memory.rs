//! Giving memory back to the system once start-up is over.
//!
//! Start-up allocates far more than a run keeps: the kernel's BTF parsed
//! to attach the tracepoints, the first `/proc` scan, ELF files read to
//! find interpreters. Once freed, glibc keeps most of it in its arenas,
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
