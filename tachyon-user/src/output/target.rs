//! Where `-o` writes: checked before a run starts, so a typo costs nothing,
//! and written so that only regular files are ever replaced.
//!
//! - `-` is standard output;
//! - a regular file (or a new one) is written atomically (temporary file,
//!   then rename);
//! - an existing FIFO or character device is written into directly, never
//!   replaced;
//! - anything else (a directory, a socket, a block device) is refused.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{write_atomically, OutputError, OutputFormat};

/// Why `-o` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot tell the output format of {} from its name: give -f FORMAT ({formats}) or a known extension ({extensions})", path.display())]
    UnknownExtension {
        path: PathBuf,
        formats: String,
        extensions: String,
    },
    #[error("cannot write {}: the folder {} does not exist", path.display(), dir.display())]
    NoFolder { path: PathBuf, dir: PathBuf },
    #[error("cannot write {}: {} is not a folder", path.display(), dir.display())]
    NotAFolder { path: PathBuf, dir: PathBuf },
    #[error("cannot write {}: the folder {} is not writable ({error})", path.display(), dir.display())]
    FolderNotWritable {
        path: PathBuf,
        dir: PathBuf,
        error: nix::Error,
    },
    #[error("cannot write {}: it is a {kind}, not a file", path.display())]
    NotWritable { path: PathBuf, kind: &'static str },
    #[error("cannot write {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

/// An output destination, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard output (`-o -`, or no `-o`).
    Stdout,
    /// A regular file, new or replaced atomically.
    File(PathBuf),
    /// An existing FIFO or character device, written into as it is.
    Stream(PathBuf),
}

impl Target {
    /// Checks `-o PATH` before anything runs.
    pub fn check(path: &Path) -> Result<Target, TargetError> {
        if path == Path::new("-") {
            return Ok(Target::Stdout);
        }
        match std::fs::metadata(path) {
            Ok(meta) => {
                let t = meta.file_type();
                if t.is_file() {
                    check_folder(path)?;
                    Ok(Target::File(path.to_path_buf()))
                } else if t.is_fifo() || t.is_char_device() {
                    Ok(Target::Stream(path.to_path_buf()))
                } else {
                    let kind = if t.is_dir() {
                        "folder"
                    } else if t.is_socket() {
                        "socket"
                    } else if t.is_block_device() {
                        "block device"
                    } else {
                        "special file"
                    };
                    Err(TargetError::NotWritable {
                        path: path.to_path_buf(),
                        kind,
                    })
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                check_folder(path)?;
                Ok(Target::File(path.to_path_buf()))
            }
            Err(error) => Err(TargetError::Io {
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Writes through `f` to this destination.
    pub fn write(
        &self,
        f: impl FnOnce(&mut dyn Write) -> Result<(), OutputError>,
    ) -> Result<(), OutputError> {
        match self {
            Target::Stdout => {
                let stdout = io::stdout();
                let mut lock = stdout.lock();
                f(&mut lock)?;
                lock.flush()?;
                Ok(())
            }
            Target::File(path) => write_atomically(path, f),
            Target::Stream(path) => {
                let file_error = |error: io::Error| OutputError::File {
                    path: path.clone(),
                    error,
                };
                // No O_CREAT and no rename: the FIFO or device stays what it
                // is; O_NOCTTY so a terminal never becomes ours.
                let file = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open(path)
                    .map_err(file_error)?;
                let mut w = io::BufWriter::new(file);
                f(&mut w).map_err(|e| match e {
                    OutputError::Io(error) => file_error(error),
                    other => other,
                })?;
                w.flush().map_err(file_error)
            }
        }
    }

    /// The path, for messages (`-` for standard output).
    pub fn display(&self) -> String {
        match self {
            Target::Stdout => "standard output".to_string(),
            Target::File(p) | Target::Stream(p) => p.display().to_string(),
        }
    }
}

/// The folder of a file to be created must exist and be writable.
fn check_folder(path: &Path) -> Result<(), TargetError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(TargetError::NotAFolder {
                path: path.to_path_buf(),
                dir,
            })
        }
        Err(_) => {
            return Err(TargetError::NoFolder {
                path: path.to_path_buf(),
                dir,
            })
        }
    }
    nix::unistd::access(
        &dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(|error| TargetError::FolderNotWritable {
        path: path.to_path_buf(),
        dir,
        error,
    })
}

/// The format `-f` names, else the one the extension of `-o` names, else
/// text for standard output; a file whose extension names no format is an
/// error (never a guess).
pub fn resolve_format(
    format: Option<OutputFormat>,
    output: Option<&Path>,
) -> Result<OutputFormat, TargetError> {
    if let Some(f) = format {
        return Ok(f);
    }
    match output {
        None => Ok(OutputFormat::Text),
        Some(p) if p == Path::new("-") => Ok(OutputFormat::Text),
        Some(p) => OutputFormat::from_path(p).ok_or_else(|| TargetError::UnknownExtension {
            path: p.to_path_buf(),
            formats: OutputFormat::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
            extensions: OutputFormat::ALL
                .iter()
                .flat_map(|f| f.extensions().iter().map(|e| format!(".{e}")))
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::TestDir;

    #[test]
    fn formats_come_from_the_flag_the_extension_or_nowhere() {
        let p = |s: &str| Some(Path::new(s).to_path_buf());
        assert_eq!(
            resolve_format(None, p("x.svg").as_deref()).unwrap(),
            OutputFormat::Flamegraph
        );
        assert_eq!(resolve_format(None, None).unwrap(), OutputFormat::Text);
        assert_eq!(
            resolve_format(None, p("-").as_deref()).unwrap(),
            OutputFormat::Text
        );
        assert_eq!(
            resolve_format(Some(OutputFormat::Jsonl), p("x.json").as_deref()).unwrap(),
            OutputFormat::Jsonl
        );
        let err = resolve_format(None, p("x.json").as_deref()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.json") && msg.contains("-f FORMAT"), "{msg}");
        assert!(
            msg.contains("speedscope") && msg.contains(".speedscope.json"),
            "{msg}"
        );
        assert!(resolve_format(None, p("profile").as_deref()).is_err());
    }

    #[test]
    fn missing_or_wrong_folders_are_found_before_a_run() {
        let dir = TestDir::new("target");
        let ok = dir.path().join("x.svg");
        assert_eq!(Target::check(&ok).unwrap(), Target::File(ok.clone()));
        let missing = dir.path().join("no/such/x.svg");
        let e = Target::check(&missing).unwrap_err();
        assert!(matches!(e, TargetError::NoFolder { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::write(dir.path().join("plain"), "x").unwrap();
        let e = Target::check(&dir.path().join("plain/x.svg")).unwrap_err();
        assert!(e.to_string().contains("plain"), "{e}");
        let e = Target::check(dir.path()).unwrap_err();
        assert!(e.to_string().contains("it is a folder"), "{e}");
        assert_eq!(Target::check(Path::new("-")).unwrap(), Target::Stdout);
    }

    #[test]
    fn a_fifo_is_written_into_and_stays_a_fifo() {
        let dir = TestDir::new("target-fifo");
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let target = Target::check(&fifo).unwrap();
        assert_eq!(target, Target::Stream(fifo.clone()));
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        target
            .write(|w| {
                w.write_all(b"hello through a fifo\n")?;
                Ok(())
            })
            .unwrap();
        assert_eq!(reader.join().unwrap(), "hello through a fifo\n");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_regular_file_is_replaced_atomically() {
        let dir = TestDir::new("target-file");
        let file = dir.path().join("x.txt");
        std::fs::write(&file, "old").unwrap();
        let target = Target::check(&file).unwrap();
        target
            .write(|w| {
                w.write_all(b"new")?;
                Ok(())
            })
            .unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
    }

    /// A character device made with mknod in a scratch folder, with the
    /// numbers of /dev/null (never the real one): written into, not
    /// replaced.
    #[test]
    fn a_character_device_is_written_into_not_replaced() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("mknod needs root, and CI runs as root");
            }
            eprintln!("skipping: mknod needs root");
            return;
        }
        let dir = TestDir::new("target-chr");
        let dev = dir.path().join("null");
        nix::sys::stat::mknod(
            &dev,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        let target = Target::check(&dev).unwrap();
        assert_eq!(target, Target::Stream(dev.clone()));
        target
            .write(|w| {
                w.write_all(b"discarded")?;
                Ok(())
            })
            .unwrap();
        assert!(std::fs::metadata(&dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
}
