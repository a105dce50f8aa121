//! Everything read from `/proc` about a process, in one place: mappings,
//! names, command line, status, start time.
//!
//! Nothing here knows CPython. Every file is owned by the profiled process
//! and so is hostile input: reads are bounded, parsing never panics.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Most bytes read from one small `/proc` file (`comm`, `status`, `stat`,
/// `cmdline`).
const SMALL_FILE_LIMIT: u64 = 64 * 1024;
/// Most bytes read from `/proc/PID/maps` (a process can map a great many
/// files; beyond this the rest is ignored).
const MAPS_LIMIT: u64 = 16 * 1024 * 1024;

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `rwxp`-style permissions.
    pub perms: String,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// The file's device, as `maps` shows it (`major << 32 | minor`).
    pub dev: u64,
    pub inode: u64,
    /// The path as the process sees it (may be empty, `[heap]`, …).
    pub path: String,
}

impl Mapping {
    pub fn executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }

    /// A file mapping (not anonymous, not `[stack]`-like).
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/') && self.inode != 0
    }

    /// Base name of the mapped file.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// `/proc/PID/map_files/START-END`: opens the mapped file itself,
    /// without following a path inside the process's root. The kernel
    /// names these entries with unpadded hex, whatever `maps` shows.
    pub fn map_file(&self, pid: u32) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            self.start, self.end
        ))
    }
}

/// Opens a file without following a symlink as its last component.
pub(crate) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
}

/// Up to `limit` bytes of `file`, and whether there was more.
pub(crate) fn read_limited(file: File, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    // Room for a typical /proc file in the first read (no small probe
    // reads: each read of a seq_file regenerates its text).
    let mut buf = Vec::with_capacity(limit.min(16 << 10) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    let truncated = buf.len() as u64 > limit;
    buf.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((buf, truncated))
}

/// A text file of at most `limit` bytes; when cut short, the last (partial)
/// line is dropped.
pub(crate) fn read_text(path: &Path, limit: u64) -> Option<String> {
    let (mut bytes, truncated) = read_limited(open_no_follow(path).ok()?, limit).ok()?;
    if truncated {
        let end = bytes.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        bytes.truncate(end);
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a `/proc` file, at most `limit` bytes.
fn read_bounded(path: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    Ok(read_limited(open_no_follow(Path::new(path))?, limit)?.0)
}

fn read_small(path: &str) -> Option<String> {
    read_text(Path::new(path), SMALL_FILE_LIMIT)
}

/// The process's mappings. `NotFound` when it does not exist.
pub fn maps(pid: u32) -> std::io::Result<Vec<Mapping>> {
    let bytes = read_bounded(&format!("/proc/{pid}/maps"), MAPS_LIMIT)?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(parse_maps_line)
        .collect())
}

/// Parses `start-end perms offset dev inode [path]`.
pub fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut it = line.split_ascii_whitespace();
    let range = it.next()?;
    let perms = it.next()?.to_string();
    let offset = u64::from_str_radix(it.next()?, 16).ok()?;
    let (major, minor) = it.next()?.split_once(':')?;
    let dev = u64::from_str_radix(major, 16).ok()? << 32 | u64::from_str_radix(minor, 16).ok()?;
    let inode = it.next()?.parse().ok()?;
    let path = it.collect::<Vec<_>>().join(" ");
    let (s, e) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(s, 16).ok()?,
        end: u64::from_str_radix(e, 16).ok()?,
        perms,
        offset,
        dev,
        inode,
        path,
    })
}

/// `/proc/PID/comm` (empty if gone).
pub fn comm(pid: u32) -> String {
    read_small(&format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// `/proc/PID/task/TID/comm` (empty if gone).
pub fn thread_comm(pid: u32, tid: u32) -> String {
    read_small(&format!("/proc/{pid}/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// The thread's id in the process's own pid namespace (the last number
/// of `NSpid:` in `/proc/PID/task/TID/status`); `None` when it is gone.
pub fn ns_tid(pid: u32, tid: u32) -> Option<u32> {
    crate::container::ns_pid(&read_small(&format!("/proc/{pid}/task/{tid}/status"))?)
}

/// The process's pid in its own pid namespace (`None` when it is gone).
pub fn ns_pid(pid: u32) -> Option<u32> {
    crate::container::ns_pid(&read_small(&format!("/proc/{pid}/status"))?)
}

/// The command line, arguments joined by spaces (empty if gone).
pub fn cmdline(pid: u32) -> String {
    read_bounded(&format!("/proc/{pid}/cmdline"), SMALL_FILE_LIMIT)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Threads listed per process at most (a process can make a great many;
/// beyond this the rest are not looked at).
pub const MAX_TASKS: usize = 65_536;

/// One thread of a process, from `/proc/PID/task/TID/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub tid: u32,
    /// One-letter scheduler state (`R`, `S`, `D`, …).
    pub state: char,
    /// The CPU it last ran on.
    pub cpu: u32,
}

/// The threads of `pid` (at most [`MAX_TASKS`]; those that exit while
/// they are listed are left out).
pub fn tasks(pid: u32) -> Vec<Task> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .take(MAX_TASKS)
        .filter_map(|tid| {
            let text = read_small(&format!("/proc/{pid}/task/{tid}/stat"))?;
            let (state, cpu) = parse_task_stat(&text)?;
            Some(Task { tid, state, cpu })
        })
        .collect()
}

/// The scheduler state of thread `tid` of `pid` now (`None`: it is gone).
pub fn task_state(pid: u32, tid: u32) -> Option<char> {
    parse_task_stat(&read_small(&format!("/proc/{pid}/task/{tid}/stat"))?).map(|(s, _)| s)
}

/// The state (field 3) and last CPU (field 39) of a task's `stat`, counted
/// from the last `)` (the name may hold anything).
fn parse_task_stat(text: &str) -> Option<(char, u32)> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let cpu = fields.nth(39 - 4)?.parse().ok()?;
    Some((state, cpu))
}

/// Every pid in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The thread group id of a task (`Tgid:` in `/proc/TID/status`).
pub fn tgid_of(tid: u32) -> Option<u32> {
    parse_status_field(&read_small(&format!("/proc/{tid}/status"))?, "Tgid")
}

fn parse_status_field(status: &str, field: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Whose rights a process has on files: its filesystem uid and gid (the
/// 4th field of `Uid:` and `Gid:` in `/proc/PID/status`, as seen from our
/// user namespace) and its supplementary groups (`Groups:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
}

/// The file credentials of `pid`, or `None` when it is gone.
pub fn credentials(pid: u32) -> Option<Credentials> {
    parse_credentials(&read_small(&format!("/proc/{pid}/status"))?)
}

/// Opens `/proc/PID` as a directory: files opened through it are those of
/// that process, even once its pid is reused.
pub(crate) fn open_process_dir(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{open, OFlag};
    Ok(open(
        format!("/proc/{pid}").as_str(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?)
}

/// The file credentials of the process `(pid, start_time)`, or `None` when
/// it is gone (or the pid is now another process's).
pub fn credentials_of(pid: u32, start_time: u64) -> Option<Credentials> {
    use std::os::fd::AsFd;
    let dir = open_process_dir(pid).ok()?;
    if stat_at(dir.as_fd())?.start_time != start_time {
        return None;
    }
    credentials_at(dir.as_fd())
}

/// Parses the credentials out of the text of `/proc/PID/status`. `None`
/// unless `Uid:` and `Gid:` have their four ids and `Groups:` is there
/// (possibly empty) and whole.
pub fn parse_credentials(status: &str) -> Option<Credentials> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
    };
    // Real, effective, saved, filesystem.
    let fs_id = |name: &str| -> Option<u32> {
        let ids: Vec<u32> = field(name)?
            .split_ascii_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        match ids.as_slice() {
            [_, _, _, fs] => Some(*fs),
            _ => None,
        }
    };
    let groups = field("Groups")?
        .split_ascii_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    Some(Credentials {
        fsuid: fs_id("Uid")?,
        fsgid: fs_id("Gid")?,
        groups,
    })
}

/// Reads `name` (`stat`, `status`) in the `/proc/PID` directory `dir`: an
/// open directory stays bound to its process, so that a reused pid cannot
/// answer instead (a gone process's files cannot be opened).
pub(crate) fn read_small_at(dir: std::os::fd::BorrowedFd<'_>, name: &str) -> Option<String> {
    use nix::fcntl::{openat, OFlag};
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let (bytes, truncated) = read_limited(File::from(fd), SMALL_FILE_LIMIT).ok()?;
    // A cut-short status could lose its last groups: better nothing.
    if truncated {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// [`stat`] of the process whose `/proc/PID` directory is `dir`.
pub(crate) fn stat_at(dir: std::os::fd::BorrowedFd<'_>) -> Option<Stat> {
    parse_stat(&read_small_at(dir, "stat")?)
}

/// [`credentials`] of the process whose `/proc/PID` directory is `dir`.
pub(crate) fn credentials_at(dir: std::os::fd::BorrowedFd<'_>) -> Option<Credentials> {
    parse_credentials(&read_small_at(dir, "status")?)
}

/// What `/proc/PID/stat` says that the tracker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// One-letter state (`R`, `S`, `Z`, …).
    pub state: char,
    /// The parent's pid (0 for the kernel's own).
    pub ppid: u32,
    /// Start time in clock ticks since boot: with the pid, the identity of
    /// a process (a reused pid has a later start time).
    pub start_time: u64,
}

/// `/proc/PID/stat`, or `None` when the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&read_small(&format!("/proc/{pid}/stat"))?)
}

/// Parses `pid (comm) state ppid … starttime …`; `comm` may hold spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Fields 3 and 4 are the state and ppid; starttime is field 22.
    let start_time = fields.nth(22 - 5)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse() {
        let m = parse_maps_line(
            "7f0c1a000000-7f0c1a100000 r-xp 00001000 08:01 1234 /usr/lib/libpython3.12.so.1.0",
        )
        .expect("parses");
        assert_eq!(m.start, 0x7f0c1a000000);
        assert_eq!(m.end, 0x7f0c1a100000);
        assert_eq!(m.offset, 0x1000);
        assert_eq!(m.inode, 1234);
        assert!(m.executable() && m.is_file());
        assert_eq!(m.file_name(), "libpython3.12.so.1.0");
        assert_eq!(
            m.map_file(7),
            PathBuf::from("/proc/7/map_files/7f0c1a000000-7f0c1a100000")
        );
        assert!(parse_maps_line("garbage").is_none());
        let anon = parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]").expect("ok");
        assert!(!anon.executable() && !anon.is_file());
    }

    /// A non-PIE binary is mapped low: `maps` pads the addresses to 8 hex
    /// digits, `map_files` does not.
    #[test]
    fn map_file_names_are_unpadded() {
        let m = parse_maps_line("00400000-00421000 r--p 00000000 fe:01 131 /usr/bin/python3.11")
            .expect("parses");
        assert_eq!(
            m.map_file(1),
            PathBuf::from("/proc/1/map_files/400000-421000")
        );
    }

    #[test]
    fn paths_with_spaces_survive() {
        let m = parse_maps_line("1000-2000 r-xp 00000000 08:01 9 /opt/my app/python3.12 (deleted)")
            .expect("parses");
        assert_eq!(m.path, "/opt/my app/python3.12 (deleted)");
    }

    #[test]
    fn task_stat_gives_state_and_cpu() {
        // A real line of /proc/PID/task/TID/stat (state S, last on CPU 1),
        // its name holding `) R`.
        let text = "4242 (py) R thread) S 1 4242 4242 0 -1 4194560 300 0 0 0 2 1 0 0 20 0 3 0 123 1000 200 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_task_stat(text), Some(('S', 1)));
        assert_eq!(parse_task_stat("4242 (py) S 1"), None);
        // This thread runs now; the main thread (tid = pid) is asleep
        // when the harness runs the test on a thread of its own.
        let me = std::process::id();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let tasks = tasks(me);
        assert!(
            tasks.iter().any(|t| t.tid == tid && t.state == 'R'),
            "{tasks:?}"
        );
    }

    #[test]
    fn stat_parses_around_hostile_names() {
        // comm "a) S 1 (b" tries to shift the fields.
        let text =
            "42 (a) S 1 (b) R 1 42 42 0 -1 4194304 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 200";
        let s = parse_stat(text).expect("parses");
        assert_eq!(s.state, 'R');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.start_time, 987654);
        assert!(parse_stat("42 (x").is_none());
        assert!(parse_stat("42 (x) S 1").is_none());
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tpython3\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n";
        assert_eq!(parse_status_field(status, "Tgid"), Some(4242));
        assert_eq!(parse_status_field(status, "Pid"), Some(4243));
        assert_eq!(parse_status_field(status, "PPid"), None);
    }

    /// `/proc/PID/status` as Linux 6.x writes it (trimmed).
    const STATUS: &str = "Name:\tpython3.12\nUmask:\t0022\nState:\tS (sleeping)\n\
        Tgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\nTracerPid:\t0\n\
        Uid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\n\
        FDSize:\t64\nGroups:\t4 24 27 100 \nNStgid:\t4242\nNSpid:\t4242\n\
        VmPeak:\t   23440 kB\nCapEff:\t0000000000000000\n";

    #[test]
    fn credentials_are_the_filesystem_ids_and_groups() {
        let c = parse_credentials(STATUS).expect("parses");
        assert_eq!(
            c,
            Credentials {
                fsuid: 1003,
                fsgid: 2003,
                groups: vec![4, 24, 27, 100],
            }
        );
        // No supplementary groups: `Groups:` then a space or nothing.
        let none = STATUS.replace("Groups:\t4 24 27 100 \n", "Groups:\t \n");
        assert!(parse_credentials(&none).expect("parses").groups.is_empty());
        let none = STATUS.replace("Groups:\t4 24 27 100 \n", "Groups:\n");
        assert!(parse_credentials(&none).expect("parses").groups.is_empty());
        // Root.
        let root = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 \n";
        let c = parse_credentials(root).expect("parses");
        assert_eq!((c.fsuid, c.fsgid, c.groups), (0, 0, vec![0]));
    }

    #[test]
    fn incomplete_credentials_are_refused() {
        for (from, to) in [
            // A field missing, short, garbled or cut.
            ("Uid:\t1000\t1001\t1002\t1003\n", ""),
            ("Gid:\t2000\t2001\t2002\t2003\n", ""),
            ("Groups:\t4 24 27 100 \n", ""),
            ("\t1002\t1003\nGid", "\t1002\nGid"),
            ("\t2003\n", "\t2003\t5\n"),
            ("Groups:\t4 24", "Groups:\t4 x24"),
            ("1003", "-1"),
            ("2003", "99999999999"),
        ] {
            let status = STATUS.replacen(from, to, 1);
            assert_ne!(status, STATUS, "{from:?}");
            assert_eq!(parse_credentials(&status), None, "{status}");
        }
        assert_eq!(parse_credentials(""), None);
    }

    #[test]
    fn this_process_reads() {
        let me = std::process::id();
        assert_eq!(tgid_of(me), Some(me));
        let st = stat(me).expect("own stat");
        // The main thread of the test harness waits for this one.
        assert!(matches!(st.state, 'R' | 'S'), "{st:?}");
        assert!(st.start_time > 0);
        assert!(maps(me).expect("own maps").iter().any(|m| m.executable()));
        assert!(!comm(me).is_empty());
        assert!(all_pids().contains(&me));
        // SAFETY: getuid and getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let creds = credentials(me).expect("own status");
        assert_eq!((creds.fsuid, creds.fsgid), (uid, gid));
        let dir = open_process_dir(me).expect("own /proc dir");
        use std::os::fd::AsFd;
        assert_eq!(credentials_at(dir.as_fd()), Some(creds.clone()));
        assert_eq!(
            stat_at(dir.as_fd()).map(|s| s.start_time),
            Some(st.start_time)
        );
        assert_eq!(credentials_of(me, st.start_time), Some(creds));
        assert_eq!(
            credentials_of(me, st.start_time + 1),
            None,
            "another identity"
        );
    }
}
