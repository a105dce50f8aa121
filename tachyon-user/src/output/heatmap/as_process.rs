//! Reading with a profiled process's rights on files.
//!
//! The profiler runs as root; a source file named by a profiled process must
//! be read only if that process could read it itself. Linux keeps
//! credentials per thread, so the read runs in a short-lived thread of its
//! own that first switches *its own* filesystem uid, gid and supplementary
//! groups with raw system calls (glibc's `setgroups`/`setfsuid` wrappers
//! change every thread of the process), checks that they took, drops the
//! capabilities that bypass file permissions, runs the read and ends, so
//! that root's rights never come back in it and no other thread ever loses
//! them.
//!
//! When the filesystem uid goes from 0 to another, the kernel itself clears
//! `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_FOWNER` and
//! `CAP_MAC_OVERRIDE` (among others) from the thread's effective set
//! (capabilities(7)); they are cleared here too, for a profiler that is not
//! root but holds them (or runs with `SECBIT_NO_SETUID_FIXUP`). A process
//! running as root reads as root.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use crate::procfs::Credentials;

/// How long one read may take (a hung network file system): the writer
/// then gives up on that file and leaves the thread to end alone.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capabilities that bypass file permissions, in the low and high words:
/// `CAP_DAC_OVERRIDE` (1), `CAP_DAC_READ_SEARCH` (2), `CAP_FOWNER` (3);
/// `CAP_MAC_OVERRIDE` (32).
const FILE_CAPS: [u32; 2] = [1 << 1 | 1 << 2 | 1 << 3, 1 << 0];

/// Runs `read` with the filesystem credentials `creds`, in a thread of its
/// own. Fails (without running `read`) when the credentials cannot be
/// taken, or when `read` takes longer than [`READ_TIMEOUT`].
pub fn run_as<R: Send + 'static>(
    creds: &Credentials,
    read: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    let creds = creds.clone();
    let (tx, rx) = mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("tachyon-read-as".into())
        .spawn(move || {
            // The thread ends right after: its credentials die with it.
            let result = become_process(&creds).map(|()| read());
            let _ = tx.send(result);
        })?;
    match rx.recv_timeout(READ_TIMEOUT) {
        Ok(result) => {
            let _ = thread.join();
            result
        }
        Err(RecvTimeoutError::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer in {} s", READ_TIMEOUT.as_secs()),
        )),
        Err(RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            Err(io::Error::other("the reading thread failed"))
        }
    }
}

/// The calling thread's supplementary groups, sorted.
fn thread_groups() -> io::Result<Vec<u32>> {
    // SAFETY: with a size of 0 getgroups writes nothing and returns the
    // number of groups (raw syscall: the calling thread's credentials).
    let n = unsafe {
        libc::syscall(
            libc::SYS_getgroups,
            0 as libc::c_long,
            std::ptr::null_mut::<libc::gid_t>(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut groups: Vec<libc::gid_t> = vec![0; n];
    // SAFETY: `groups` has room for `n` gids, the size passed.
    let got = unsafe { libc::syscall(libc::SYS_getgroups, n as libc::c_long, groups.as_mut_ptr()) };
    let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
    groups.truncate(got);
    groups.sort_unstable();
    groups.dedup();
    Ok(groups)
}

/// The calling thread's filesystem uid (`setfsuid(-1)` changes nothing and
/// returns it).
fn thread_fsuid() -> u32 {
    // SAFETY: setfsuid with an invalid id only returns the current fsuid.
    unsafe { libc::syscall(libc::SYS_setfsuid, u32::MAX as libc::c_long) as u32 }
}

/// The calling thread's filesystem gid.
fn thread_fsgid() -> u32 {
    // SAFETY: setfsgid with an invalid id only returns the current fsgid.
    unsafe { libc::syscall(libc::SYS_setfsgid, u32::MAX as libc::c_long) as u32 }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    /// 0: the calling thread.
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets.
fn thread_caps() -> io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget reads the header and writes two CapData (version 3),
    // both valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

/// Clears [`FILE_CAPS`] from the calling thread's effective set (lowering
/// the effective set is always allowed; capset on pid 0 changes only the
/// calling thread).
fn drop_file_caps() -> io::Result<()> {
    let mut data = thread_caps()?;
    if data
        .iter()
        .zip(FILE_CAPS)
        .any(|(d, m)| d.effective & m != 0)
    {
        for (d, m) in data.iter_mut().zip(FILE_CAPS) {
            d.effective &= !m;
        }
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        // SAFETY: capset reads the header and two CapData (version 3), both
        // valid for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let data = thread_caps()?;
    if data
        .iter()
        .zip(FILE_CAPS)
        .any(|(d, m)| d.effective & m != 0)
    {
        return Err(io::Error::other(
            "capabilities that bypass file permissions stay",
        ));
    }
    Ok(())
}

/// Switches the calling thread (only) to `creds` and checks the result.
fn become_process(creds: &Credentials) -> io::Result<()> {
    let mut groups = creds.groups.clone();
    groups.sort_unstable();
    groups.dedup();
    if thread_groups()? != groups {
        // SAFETY: setgroups reads `len` gids from the pointer, which points
        // to `groups`; the raw syscall changes the calling thread only.
        let r = unsafe {
            libc::syscall(
                libc::SYS_setgroups,
                groups.len() as libc::c_long,
                groups.as_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // setfsgid and setfsuid return the previous id whether or not they
    // succeed: the result is checked afterwards. The gid goes first, while
    // the thread may still change it.
    // SAFETY: setfsgid takes an id; the raw syscall changes the calling
    // thread only.
    unsafe { libc::syscall(libc::SYS_setfsgid, creds.fsgid as libc::c_long) };
    // SAFETY: as above, for setfsuid.
    unsafe { libc::syscall(libc::SYS_setfsuid, creds.fsuid as libc::c_long) };
    let (uid, gid) = (thread_fsuid(), thread_fsgid());
    if (uid, gid) != (creds.fsuid, creds.fsgid) {
        return Err(io::Error::other(format!(
            "cannot take uid {} gid {} (still {uid}, {gid})",
            creds.fsuid, creds.fsgid
        )));
    }
    if thread_groups()? != groups {
        return Err(io::Error::other("cannot take the process's groups"));
    }
    if creds.fsuid != 0 {
        drop_file_caps()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::TestDir;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const NOBODY: u32 = 65534;

    /// Root is needed to change credentials; skipped otherwise, except in CI.
    fn require_root(test: &str) -> bool {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return true;
        }
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "{test} needs root in CI");
        eprintln!("SKIPPED {test}: needs root");
        false
    }

    fn nobody() -> Credentials {
        Credentials {
            fsuid: NOBODY,
            fsgid: NOBODY,
            groups: vec![],
        }
    }

    #[test]
    fn reads_with_the_process_rights_in_another_thread() {
        if !require_root("reads_with_the_process_rights_in_another_thread") {
            return;
        }
        let dir = TestDir::new("as-process");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let secret = dir.path().join("secret.py");
        let public = dir.path().join("public.py");
        fs::write(&secret, "SECRET = 1\n").unwrap();
        fs::write(&public, "PUBLIC = 1\n").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(&public, fs::Permissions::from_mode(0o644)).unwrap();
        let caps_before = thread_caps().unwrap()[0].effective;
        let groups_before = thread_groups().unwrap();

        let read = |path: &std::path::Path| {
            let path = path.to_path_buf();
            run_as(&nobody(), move || fs::read_to_string(path)).unwrap()
        };
        let err = read(&secret).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert_eq!(read(&public).unwrap(), "PUBLIC = 1\n");

        // Inside: the process's ids and groups, no capability over files.
        let creds = Credentials {
            fsuid: NOBODY,
            fsgid: 4321,
            groups: vec![7, 5, 7],
        };
        let (uid, gid, groups, caps) = run_as(&creds, || {
            (
                thread_fsuid(),
                thread_fsgid(),
                thread_groups().unwrap(),
                thread_caps().unwrap(),
            )
        })
        .unwrap();
        assert_eq!((uid, gid, groups), (NOBODY, 4321, vec![5, 7]));
        assert_eq!(caps[0].effective & FILE_CAPS[0], 0);
        assert_eq!(caps[1].effective & FILE_CAPS[1], 0);

        // As root (a process running as root): root's view.
        let root = Credentials {
            fsuid: 0,
            fsgid: 0,
            groups: vec![0],
        };
        let path = secret.clone();
        assert_eq!(
            run_as(&root, move || fs::read_to_string(path))
                .unwrap()
                .unwrap(),
            "SECRET = 1\n"
        );

        // This thread kept its own credentials.
        // SAFETY: setfsuid(-1) only returns the current fsuid.
        let fsuid = unsafe { libc::syscall(libc::SYS_setfsuid, -1i32 as u32) };
        assert_eq!(fsuid, 0);
        assert_eq!(thread_fsgid(), 0);
        assert_eq!(thread_groups().unwrap(), groups_before);
        assert_eq!(thread_caps().unwrap()[0].effective, caps_before);
        assert_eq!(fs::read_to_string(&secret).unwrap(), "SECRET = 1\n");
    }

    #[test]
    fn credentials_that_cannot_be_taken_run_nothing() {
        let other = Credentials {
            fsuid: 1234,
            fsgid: 1234,
            groups: vec![],
        };
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let try_other = move || {
            run_as(&other, move || {
                flag.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .is_err()
        };
        // SAFETY: geteuid has no preconditions.
        let refused = if unsafe { libc::geteuid() } == 0 {
            // Root may take any ids: first a thread without capabilities
            // (threads it starts inherit that), then uid 1234 is none of its
            // ids.
            run_as(&nobody(), move || {
                let mut header = CapHeader {
                    version: CAPABILITY_VERSION_3,
                    pid: 0,
                };
                let data = [CapData::default(); 2];
                // SAFETY: capset reads the header and two CapData (version
                // 3), valid for the call; it changes this thread only.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_capset,
                        &mut header as *mut CapHeader,
                        data.as_ptr(),
                    )
                };
                assert_eq!(r, 0);
                try_other()
            })
            .unwrap()
        } else {
            try_other()
        };
        assert!(refused, "uid 1234 must be refused");
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the read ran"
        );
    }
}
