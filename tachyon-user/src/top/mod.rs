//! `tachyon-bpf top` and `--live`: a full-screen table of the functions
//! the profiled processes run, refreshed every second while the run goes
//! on.
//!
//! The session's loop sends a [`table::Snapshot`] every second through a
//! bounded channel ([`Feed`]) and never waits for it: when the screen has
//! not taken the previous one, the new one is dropped and the next carries
//! what it held. The screen runs on a thread of its own ([`Screen`]):
//! it aggregates ([`table`]), reads the keys ([`app`]) and draws
//! ([`screen`]); a slow terminal never holds up the ring buffer's drain.
//! While the screen is up, the process's own stderr goes to a log file, so
//! that a warning does not scribble over it.

pub mod app;
pub mod screen;
pub mod table;

use std::fs::File;
use std::io::{IsTerminal, Stdout};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::Notify;

use app::{App, Effect};
use table::{Live, Snapshot, Table};

/// Seconds the recent view (`t`) covers.
pub const WINDOW_SECS: usize = 10;
/// How often the session sends a snapshot.
pub const REFRESH: Duration = Duration::from_secs(1);
/// The first snapshot comes sooner, so the table fills at once.
pub const FIRST_REFRESH: Duration = Duration::from_millis(500);
/// How long the screen waits for a key before it looks for a snapshot.
const POLL: Duration = Duration::from_millis(50);

/// Why the live view could not start.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error("the live view needs a terminal: standard output is not one (run it in a terminal, or write a profile with -o instead)")]
    NotATerminal,
    #[error("cannot set up the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("cannot create a log file in {dir}: {source}")]
    Log {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fails unless standard output is a terminal (checked before anything
/// starts).
pub fn check_terminal() -> Result<(), TopError> {
    match std::io::stdout().is_terminal() {
        true => Ok(()),
        false => Err(TopError::NotATerminal),
    }
}

/// Where the session sends its snapshots.
#[derive(Clone, Debug)]
pub struct Feed {
    tx: SyncSender<Snapshot>,
}

impl Feed {
    /// Hands `s` over without waiting: false when the screen has not taken
    /// the previous one yet (or is gone).
    pub fn offer(&self, s: Snapshot) -> bool {
        self.tx.try_send(s).is_ok()
    }
}

/// A channel for snapshots: the [`Feed`] and what the screen reads.
pub fn channel() -> (Feed, Receiver<Snapshot>) {
    let (tx, rx) = sync_channel(1);
    (Feed { tx }, rx)
}

/// A new log file `tachyon-bpf-KIND-PID.log` in the temporary folder,
/// created afresh (never through a link left there by someone else),
/// readable by `owner` (the invoking user under sudo) and by us.
pub fn log_file(kind: &str, owner: Option<(u32, u32)>) -> Result<(PathBuf, File), TopError> {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let mut last = None;
    for n in 0..10 {
        let name = match n {
            0 => format!("tachyon-bpf-{kind}-{pid}.log"),
            n => format!("tachyon-bpf-{kind}-{pid}.{n}.log"),
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(file) => {
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|source| {
                        TopError::Log {
                            dir: dir.clone(),
                            source,
                        }
                    })?;
                }
                return Ok((path, file));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => return Err(TopError::Log { dir, source }),
        }
    }
    Err(TopError::Log {
        dir,
        source: last.unwrap_or_else(|| std::io::Error::other("no free name")),
    })
}

/// Our stderr, sent elsewhere until dropped.
struct StderrTo {
    saved: OwnedFd,
}

impl StderrTo {
    fn file(file: &File) -> std::io::Result<Self> {
        // SAFETY: dup of our own stderr; the new descriptor is owned below.
        let saved = unsafe { libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3) };
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `saved` was just opened and is ours alone.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        // SAFETY: dup2 onto stderr of a descriptor `file` keeps open.
        if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { saved })
    }
}

impl Drop for StderrTo {
    fn drop(&mut self) {
        // SAFETY: puts the saved stderr back; `saved` is open.
        unsafe { libc::dup2(self.saved.as_raw_fd(), libc::STDERR_FILENO) };
    }
}

/// The live view, drawn on its own thread until [`Screen::finish`].
pub struct Screen {
    thread: Option<JoinHandle<std::io::Result<RefreshStats>>>,
    done: Arc<AtomicBool>,
    quit: Arc<Notify>,
    stderr: Option<StderrTo>,
    restored: bool,
}

impl Screen {
    /// Takes over the terminal (raw mode, the alternate screen), sends our
    /// stderr to `log` and starts drawing what arrives on `rx`.
    pub fn start(
        context: screen::Context,
        rx: Receiver<Snapshot>,
        log: &File,
    ) -> Result<Self, TopError> {
        check_terminal()?;
        let stderr = StderrTo::file(log).map_err(TopError::Terminal)?;
        let mut screen = Self {
            thread: None,
            done: Arc::new(AtomicBool::new(false)),
            quit: Arc::new(Notify::new()),
            stderr: Some(stderr),
            restored: false,
        };
        enable_raw_mode().map_err(TopError::Terminal)?;
        execute!(std::io::stdout(), EnterAlternateScreen).map_err(TopError::Terminal)?;
        let mut terminal =
            Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(TopError::Terminal)?;
        terminal.hide_cursor().map_err(TopError::Terminal)?;
        terminal.clear().map_err(TopError::Terminal)?;
        let (done, quit) = (screen.done.clone(), screen.quit.clone());
        screen.thread = Some(
            std::thread::Builder::new()
                .name("tachyon-top".into())
                .spawn(move || draw_loop(terminal, rx, context, done, quit))
                .map_err(TopError::Terminal)?,
        );
        Ok(screen)
    }

    /// Notified when the user quits (`q`, Ctrl-C), once per key press.
    pub fn quit_signal(&self) -> Arc<Notify> {
        self.quit.clone()
    }

    /// Stops drawing and gives the terminal and stderr back.
    pub fn finish(mut self) -> std::io::Result<RefreshStats> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> std::io::Result<RefreshStats> {
        if self.restored {
            return Ok(RefreshStats::default());
        }
        self.restored = true;
        self.done.store(true, Ordering::SeqCst);
        let drawn = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the live view's thread panicked")),
            None => Ok(RefreshStats::default()),
        };
        let mut out = std::io::stdout();
        let _ = execute!(out, LeaveAlternateScreen, crossterm::cursor::Show);
        let _ = disable_raw_mode();
        self.stderr = None;
        drawn
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// What the screen's refreshes cost: taking the snapshots in, building
/// the table and drawing it, each time new samples arrived.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RefreshStats {
    pub refreshes: u64,
    pub total: Duration,
    pub max: Duration,
}

impl RefreshStats {
    fn add(&mut self, d: Duration) {
        self.refreshes += 1;
        self.total += d;
        self.max = self.max.max(d);
    }
}

impl std::fmt::Display for RefreshStats {
    /// `live view: 12 refreshes, 0.81 ms each on average (at most 2.10 ms)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mean = match self.refreshes {
            0 => 0.0,
            n => self.total.as_secs_f64() * 1e3 / n as f64,
        };
        write!(
            f,
            "live view: {} refresh{}, {mean:.2} ms each on average (at most {:.2} ms) to take the snapshot in, aggregate and draw",
            self.refreshes,
            if self.refreshes == 1 { "" } else { "es" },
            self.max.as_secs_f64() * 1e3
        )
    }
}

/// The screen's thread: takes snapshots, reads keys, draws, until `done`.
fn draw_loop(
    mut terminal: Terminal<CrosstermBackend<Stdout>>,
    rx: Receiver<Snapshot>,
    context: screen::Context,
    done: Arc<AtomicBool>,
    quit: Arc<Notify>,
) -> std::io::Result<RefreshStats> {
    let mut cost = RefreshStats::default();
    let mut live = Live::new(WINDOW_SECS);
    let mut app = App::default();
    let mut table = Table::default();
    let mut header = live.header();
    let mut dirty = true;
    let mut connected = true;
    while !done.load(Ordering::SeqCst) {
        let began = std::time::Instant::now();
        let mut fresh = false;
        while connected {
            match rx.try_recv() {
                Ok(s) => {
                    live.apply(s);
                    fresh = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => connected = false,
            }
        }
        if fresh && !app.paused {
            table = live.table(&app.view);
            header = live.header();
            dirty = true;
        }
        let page = screen::page(terminal.size()?.height);
        if dirty {
            app.clamp_scroll(table.rows.len(), page);
            terminal.draw(|f| screen::draw(f, &header, &table, &app, &context))?;
            dirty = false;
            if fresh && !app.paused {
                cost.add(began.elapsed());
            }
        }
        if !event::poll(POLL)? {
            continue;
        }
        match event::read()? {
            Event::Key(key) => {
                let before = app.view.clone();
                match app.on_key(key, page) {
                    Effect::Quit => quit.notify_one(),
                    Effect::Redraw => {
                        if app.view != before {
                            table = live.table(&app.view);
                        }
                        dirty = true;
                    }
                    Effect::None => {}
                }
            }
            Event::Resize(..) => {
                terminal.autoresize()?;
                dirty = true;
            }
            _ => {}
        }
    }
    Ok(cost)
}

/// Logs of at most this size are shown on stderr when the screen closes
/// (by [`replay_log`]) instead of being named.
const REPLAY_LIMIT: u64 = 16 * 1024;

/// Says where the messages written while the screen was up went, when
/// there were any; removes the log otherwise.
pub fn report_log(path: &Path, what: &str) {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => eprintln!("tachyon-bpf: {what} {}", path.display()),
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Our own messages written while the screen was up (the log `file` at
/// `path`): shown on stderr now when they are short, and the log removed;
/// else named.
pub fn replay_log(path: &Path, mut file: &File) {
    use std::io::{Read, Seek, Write};
    let small = file.metadata().is_ok_and(|m| m.len() <= REPLAY_LIMIT);
    let mut text = Vec::new();
    if small && file.rewind().is_ok() && file.take(REPLAY_LIMIT).read_to_end(&mut text).is_ok() {
        let _ = std::io::stderr().write_all(&text);
        let _ = std::fs::remove_file(path);
        return;
    }
    report_log(path, "messages written while the view was up are in");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_line_says_count_mean_and_max() {
        let mut r = RefreshStats::default();
        r.add(Duration::from_micros(500));
        r.add(Duration::from_micros(1500));
        assert_eq!(
            r.to_string(),
            "live view: 2 refreshes, 1.00 ms each on average (at most 1.50 ms) to take the snapshot in, aggregate and draw"
        );
    }

    #[test]
    fn log_files_are_new_private_and_named_once() {
        let (a, _fa) = log_file("unit", None).expect("log");
        let (b, _fb) = log_file("unit", None).expect("log");
        assert_ne!(a, b);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&a).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for p in [a, b] {
            let _ = std::fs::remove_file(p);
        }
    }
}
