//! Starting the command `tachyon-bpf run` profiles.
//!
//! The command is forked first and held at a gate (a pipe) until sampling
//! is on and its pid is followed; only then does it exec, so its first
//! Python instruction is sampled. Under `sudo` it runs as the invoking user
//! (`SUDO_UID`/`SUDO_GID`, that user's supplementary groups, `HOME`,
//! `USER`, `LOGNAME`), never as root. It gets its own process group, which
//! becomes the terminal's foreground group when there is a terminal: Ctrl-C
//! goes to the command, and the profile is written when it exits.
//!
//! Everything the child needs is prepared before the fork; between fork and
//! exec it calls only async-signal-safe functions.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Why the command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("nothing to run: give a command after `--`, a SCRIPT.py or -m MODULE")]
    Empty,
    #[error("{0}: command not found (looked in PATH)")]
    NotFound(String),
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("SUDO_UID/SUDO_GID ({0}) are not numbers")]
    SudoIds(String),
    #[error("cannot start the command: {0}")]
    Os(#[source] std::io::Error),
    #[error("cannot execute {path}: {source}")]
    Exec {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Who the command runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
    pub name: Option<String>,
    pub home: Option<PathBuf>,
}

/// The invoking user when running as root under `sudo`; `None` otherwise
/// (the command then runs as whoever runs tachyon-bpf).
pub fn invoking_user() -> Result<Option<Identity>, LaunchError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let (Some(uid), Some(gid)) = (std::env::var_os("SUDO_UID"), std::env::var_os("SUDO_GID"))
    else {
        return Ok(None);
    };
    let parse = |v: &OsStr| v.to_str().and_then(|s| s.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (parse(&uid), parse(&gid)) else {
        return Err(LaunchError::SudoIds(format!(
            "{} / {}",
            uid.to_string_lossy(),
            gid.to_string_lossy()
        )));
    };
    if uid == 0 {
        return Ok(None);
    }
    Ok(Some(identity_of(uid, gid)))
}

/// The name, home and supplementary groups of `uid` from the user
/// database (none when it has no entry: the groups are then `gid` alone).
fn identity_of(uid: libc::uid_t, gid: libc::gid_t) -> Identity {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: the buffer and out-pointers are valid for the call; the
    // strings it sets point into `buf`, read before `buf` is dropped.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    let (mut name, mut home) = (None, None);
    if rc == 0 && !found.is_null() {
        // SAFETY: getpwuid_r succeeded: both are NUL-terminated in `buf`.
        unsafe {
            name = Some(
                std::ffi::CStr::from_ptr(pwd.pw_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            home = Some(PathBuf::from(OsStr::from_bytes(
                std::ffi::CStr::from_ptr(pwd.pw_dir).to_bytes(),
            )));
        }
    }
    let mut groups = vec![gid];
    if let Some(n) = name.as_deref().and_then(|n| CString::new(n).ok()) {
        let mut list = vec![0 as libc::gid_t; 256];
        let mut count = list.len() as libc::c_int;
        // SAFETY: `list` holds `count` entries; getgrouplist writes at most
        // that many and says how many there are.
        let rc = unsafe { libc::getgrouplist(n.as_ptr(), gid, list.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            list.truncate(count.max(0) as usize);
            groups = list;
        }
    }
    Identity {
        uid,
        gid,
        groups,
        name,
        home,
    }
}

/// What `run` was asked to start: `-- CMD ARGS…`, `SCRIPT.py ARGS…` or
/// `-m MODULE ARGS…` (the latter two with `python3` from PATH).
pub fn command_line(module: Option<&str>, args: &[OsString]) -> Result<Vec<OsString>, LaunchError> {
    if let Some(m) = module {
        let mut v = vec![OsString::from("python3"), "-m".into(), m.into()];
        v.extend(args.iter().cloned());
        return Ok(v);
    }
    let first = args.first().ok_or(LaunchError::Empty)?;
    if Path::new(first).extension().is_some_and(|e| e == "py") {
        let mut v = vec![OsString::from("python3")];
        v.extend(args.iter().cloned());
        return Ok(v);
    }
    Ok(args.to_vec())
}

/// `name` resolved in `path` (a `PATH` value) the way `execvp` would:
/// names with a `/` are taken as they are.
pub fn resolve(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command forked and waiting at its gate.
pub struct Launched {
    pub pid: u32,
    gate: Option<OwnedFd>,
    /// Read end of the exec-error pipe (closed by a successful exec).
    exec_error: OwnedFd,
    path: String,
    /// The terminal's foreground group before the command took it.
    terminal: Option<libc::pid_t>,
}

fn cstring(s: &OsStr) -> Result<CString, LaunchError> {
    CString::new(s.as_bytes()).map_err(|_| LaunchError::Nul(s.to_string_lossy().into_owned()))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), LaunchError> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(LaunchError::Os(std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 succeeded: both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Where the command's standard streams go.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChildIo {
    /// Stdout and stderr to this descriptor (kept open by the caller
    /// until the fork), stdin from `/dev/null`, and the terminal left to
    /// us (`run --live`: the screen is ours). `None`: the streams are
    /// ours, and the command takes the terminal's foreground.
    pub output: Option<std::os::fd::RawFd>,
}

/// Forks `argv` as `who` (or as we are), held at the gate until
/// [`Launched::release`].
pub fn spawn_gated(
    argv: &[OsString],
    who: Option<&Identity>,
    io: ChildIo,
) -> Result<Launched, LaunchError> {
    let first = argv.first().ok_or(LaunchError::Empty)?;
    let path = resolve(first, std::env::var_os("PATH").as_deref())
        .ok_or_else(|| LaunchError::NotFound(first.to_string_lossy().into_owned()))?;
    let c_path = cstring(path.as_os_str())?;
    let c_argv: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    if let Some(who) = who {
        let mut set = |k: &str, v: OsString| {
            env.retain(|(key, _)| key != k);
            env.push((k.into(), v));
        };
        if let Some(home) = &who.home {
            set("HOME", home.clone().into_os_string());
        }
        if let Some(name) = &who.name {
            set("USER", name.into());
            set("LOGNAME", name.into());
        }
    }
    let c_env: Vec<CString> = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone().into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|_| LaunchError::Nul(k.to_string_lossy().into_owned()))
        })
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = c_argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|c| c.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let groups = who.map(|w| w.groups.clone()).unwrap_or_default();
    let ids = who.map(|w| (w.uid, w.gid));

    // The command's stdin when its output goes to a log: nothing.
    let null = match io.output {
        Some(_) => Some(
            std::fs::File::open("/dev/null")
                .map(OwnedFd::from)
                .map_err(LaunchError::Os)?,
        ),
        None => None,
    };
    let redirect = io.output.zip(null.as_ref().map(|n| n.as_raw_fd()));
    let (gate_r, gate_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: tachyon-bpf has one thread here (before its runtime starts);
    // the child calls only async-signal-safe functions before exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(LaunchError::Os(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: in the child: raw system calls on descriptors and data
        // prepared before the fork.
        unsafe {
            child_after_fork(
                ChildFds {
                    gate: gate_r.as_raw_fd(),
                    err: err_w.as_raw_fd(),
                    redirect,
                },
                &groups,
                ids,
                c_path.as_ptr(),
                argv_ptrs.as_ptr(),
                env_ptrs.as_ptr(),
            )
        }
    }
    drop(gate_r);
    drop(err_w);
    // Also from here, so the group exists whichever runs first.
    // SAFETY: setpgid on our own child.
    unsafe { libc::setpgid(pid, pid) };
    drop(null);
    let terminal = match io.output {
        Some(_) => None,
        None => take_terminal(pid),
    };
    Ok(Launched {
        pid: pid as u32,
        gate: Some(gate_w),
        exec_error: err_r,
        path: path.to_string_lossy().into_owned(),
        terminal,
    })
}

/// The descriptors the child uses between fork and exec.
struct ChildFds {
    /// Read end of the gate.
    gate: libc::c_int,
    /// Write end of the exec-error pipe.
    err: libc::c_int,
    /// Stdout and stderr to `.0`, stdin from `.1`.
    redirect: Option<(libc::c_int, libc::c_int)>,
}

/// The child between fork and exec: waits at the gate, sends its output
/// where `fds.redirect` says, drops to `ids`, execs. Reports an exec
/// failure's errno on `fds.err`.
///
/// # Safety
/// Only in a freshly forked child; every pointer valid and NUL-terminated.
unsafe fn child_after_fork(
    fds: ChildFds,
    groups: &[libc::gid_t],
    ids: Option<(libc::uid_t, libc::gid_t)>,
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> ! {
    let fail = |errno: libc::c_int| -> ! {
        let b = errno.to_le_bytes();
        libc::write(fds.err, b.as_ptr().cast(), b.len());
        libc::_exit(127)
    };
    libc::setpgid(0, 0);
    let mut byte = 0u8;
    loop {
        let n = libc::read(fds.gate, (&mut byte as *mut u8).cast(), 1);
        if n == 1 {
            break;
        }
        if n == 0 || *libc::__errno_location() != libc::EINTR {
            // tachyon-bpf is gone before sampling started.
            libc::_exit(127);
        }
    }
    if let Some((out, input)) = fds.redirect {
        // dup2 leaves the copies without close-on-exec.
        if libc::dup2(input, 0) < 0 || libc::dup2(out, 1) < 0 || libc::dup2(out, 2) < 0 {
            fail(*libc::__errno_location());
        }
    }
    if let Some((uid, gid)) = ids {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
        {
            fail(*libc::__errno_location());
        }
    }
    // The signal dispositions and mask tachyon-bpf may have changed.
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGTTOU,
        libc::SIGPIPE,
    ] {
        libc::signal(sig, libc::SIG_DFL);
    }
    libc::execve(path, argv, envp);
    fail(*libc::__errno_location())
}

/// Makes the command's group the terminal's foreground group, when
/// tachyon-bpf's is: returns the group to give it back to.
fn take_terminal(pgid: libc::pid_t) -> Option<libc::pid_t> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: isatty, tcgetpgrp, getpgrp and signal have no memory effects;
    // SIGTTOU is ignored so a background tcsetpgrp does not stop us.
    unsafe {
        if libc::isatty(fd) != 1 || libc::tcgetpgrp(fd) != libc::getpgrp() {
            return None;
        }
        let own = libc::getpgrp();
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        (libc::tcsetpgrp(fd, pgid) == 0).then_some(own)
    }
}

impl Launched {
    /// Lets the command exec; fails when the exec did.
    pub fn release(&mut self) -> Result<(), LaunchError> {
        if let Some(gate) = self.gate.take() {
            // SAFETY: one byte from a valid buffer to our open pipe.
            let n = unsafe { libc::write(gate.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            if n != 1 {
                return Err(LaunchError::Os(std::io::Error::last_os_error()));
            }
        }
        // The error pipe closes on a successful exec (CLOEXEC), or carries
        // the errno of a failed one.
        let mut b = [0u8; 4];
        // SAFETY: reads at most 4 bytes into `b`.
        let n = unsafe { libc::read(self.exec_error.as_raw_fd(), b.as_mut_ptr().cast(), 4) };
        if n == 4 {
            return Err(LaunchError::Exec {
                path: self.path.clone(),
                source: std::io::Error::from_raw_os_error(i32::from_le_bytes(b)),
            });
        }
        Ok(())
    }

    /// Sends `sig` to the command's process group.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill on our child's group.
        unsafe { libc::kill(-(self.pid as libc::pid_t), sig) };
    }

    /// Gives the terminal back.
    pub fn restore_terminal(&mut self) {
        if let Some(own) = self.terminal.take() {
            // SAFETY: as in take_terminal.
            unsafe { libc::tcsetpgrp(libc::STDIN_FILENO, own) };
        }
    }
}

/// The one waiter of a command: a thread that reaps it as soon as it exits
/// and keeps its status for whoever asks, blocking or async. Two waiters
/// of one pid would race: the one that loses gets ECHILD (the 127 a run
/// could report when its `--duration` ended while the command ran on).
pub struct Reaper {
    state: std::sync::Arc<ReapState>,
}

#[derive(Default)]
struct ReapState {
    status: std::sync::Mutex<Option<i32>>,
    exited: std::sync::Condvar,
    notify: tokio::sync::Notify,
}

impl Reaper {
    /// Starts waiting for `pid`, our child.
    pub fn start(pid: u32) -> Result<Self, LaunchError> {
        let state = std::sync::Arc::new(ReapState::default());
        let s = state.clone();
        std::thread::Builder::new()
            .name("tachyon-reaper".into())
            .spawn(move || {
                let code = wait_exit(pid);
                *s.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
                s.exited.notify_all();
                s.notify.notify_waiters();
            })
            .map_err(LaunchError::Os)?;
        Ok(Self { state })
    }

    /// The exit status, once the command has exited.
    pub fn status(&self) -> Option<i32> {
        *self.state.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (blocking) for the command to exit.
    pub fn wait(&self) -> i32 {
        let mut status = self.state.status.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(code) = *status {
                return code;
            }
            status = self
                .state
                .exited
                .wait(status)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Completes when the command has exited.
    pub async fn exited(&self) -> i32 {
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            // Registered before the status is read: an exit in between
            // still wakes us.
            notified.as_mut().enable();
            if let Some(code) = self.status() {
                return code;
            }
            notified.await;
        }
    }
}

/// Waits for `pid` to exit (blocking): its exit code, or 128 + the signal
/// that killed it (as a shell reports it). Only [`Reaper`] calls it.
fn wait_exit(pid: u32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if r == pid as libc::pid_t {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 127;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn scripts_and_modules_run_with_python3() {
        assert_eq!(
            command_line(None, &os(&["app.py", "-x"])).expect("ok"),
            os(&["python3", "app.py", "-x"])
        );
        assert_eq!(
            command_line(Some("http.server"), &os(&["8000"])).expect("ok"),
            os(&["python3", "-m", "http.server", "8000"])
        );
        assert_eq!(
            command_line(None, &os(&["python3.12", "app.py"])).expect("ok"),
            os(&["python3.12", "app.py"])
        );
        assert!(matches!(command_line(None, &[]), Err(LaunchError::Empty)));
    }

    #[test]
    fn commands_resolve_like_execvp() {
        let path = OsString::from("/nonexistent:/bin:/usr/bin");
        let sh = resolve(OsStr::new("sh"), Some(&path)).expect("sh");
        assert!(sh.ends_with("sh") && is_executable(&sh));
        assert_eq!(resolve(OsStr::new("./x"), None), Some(PathBuf::from("./x")));
        assert_eq!(
            resolve(OsStr::new("no-such-command-here"), Some(&path)),
            None
        );
        assert_eq!(resolve(OsStr::new("sh"), None), None);
    }

    #[test]
    fn one_reaper_answers_every_waiter() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 0.2; exit 3"])
            .spawn()
            .expect("sh");
        let reaper = Reaper::start(child.id()).expect("reaper");
        assert_eq!(reaper.status(), None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(reaper.exited()), 3);
        // Asked again, blocking this time: the same status, not ECHILD.
        assert_eq!(reaper.wait(), 3);
        assert_eq!(reaper.status(), Some(3));
        // The child is reaped: std's handle finds nothing left to wait for.
        assert!(child.try_wait().is_err());
    }

    #[test]
    fn a_command_with_its_output_in_a_log_reads_nothing() {
        let log =
            std::env::temp_dir().join(format!("tachyon-launch-test-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log");
        let argv = os(&[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; read x; echo \"read=[$x] $?\"; exit 4",
        ]);
        let io = ChildIo {
            output: Some(file.as_raw_fd()),
        };
        let mut child = spawn_gated(&argv, None, io).expect("spawn");
        let reaper = Reaper::start(child.pid).expect("reaper");
        child.release().expect("exec");
        assert_eq!(reaper.wait(), 4);
        let text = std::fs::read_to_string(&log).expect("read log");
        let _ = std::fs::remove_file(&log);
        assert_eq!(text, "to-stdout\nto-stderr\nread=[] 1\n");
    }

    #[test]
    fn root_by_itself_stays_root() {
        // Not under sudo (the test environment has no SUDO_UID, or runs
        // unprivileged): nobody to drop to.
        if std::env::var_os("SUDO_UID").is_none() {
            assert_eq!(invoking_user().expect("ok"), None);
        }
        let me = identity_of(0, 0);
        assert_eq!(me.name.as_deref(), Some("root"));
        assert!(me.groups.contains(&0));
    }
}
