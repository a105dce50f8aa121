//! Writing a file atomically: temp file in the same directory, then rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::fchown;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::OutputError;

/// Writes `path` through `f`, atomically.
///
/// The data goes to a temporary file in the same directory (so the final
/// rename cannot cross file systems), which is flushed, synced and renamed
/// over `path`. On any error, from `f` or from the file system, the temporary
/// file is removed and `path` is left as it was. I/O errors are reported as
/// [`OutputError::File`], naming `path`.
///
/// When running as root under `sudo` (`SUDO_UID`/`SUDO_GID` set), the file is
/// given to the invoking user, so `sudo tachyon-bpf -o out.svg` leaves a file
/// the user owns. A failure to change the owner is only logged.
pub fn write_atomically(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    write_owned_by(path, sudo_owner(), f)
}

/// [`write_atomically`], giving the file to `owner` (uid, gid) if set.
fn write_owned_by(
    path: &Path,
    owner: Option<(u32, u32)>,
    f: impl FnOnce(&mut dyn Write) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let file_error = |error: io::Error| OutputError::File {
        path: path.to_path_buf(),
        error,
    };
    let (tmp_path, file) = create_temp(path).map_err(file_error)?;
    let result = fill(file, owner, f).and_then(|()| {
        fs::rename(&tmp_path, path).map_err(OutputError::Io)?;
        Ok(())
    });
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            // Best effort: the original error is the one worth reporting.
            let _ = fs::remove_file(&tmp_path);
            Err(match e {
                OutputError::Io(error) => file_error(error),
                other => other,
            })
        }
    }
}

/// Runs `f` on a buffered writer over `file`, then flushes, hands the file to
/// `owner` if set, and syncs it. I/O errors come back as
/// [`OutputError::Io`] (the caller adds the path).
fn fill(
    file: File,
    owner: Option<(u32, u32)>,
    f: impl FnOnce(&mut dyn Write) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let mut writer = BufWriter::new(file);
    f(&mut writer)?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    if let Some((uid, gid)) = owner {
        if let Err(e) = fchown(&file, Some(uid), Some(gid)) {
            log::warn!("cannot give the output file to uid {uid} gid {gid}: {e}");
        }
    }
    file.sync_all()?;
    Ok(())
}

/// Creates a new, empty temporary file next to `path`.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp_path = dir.join(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
        {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The user that invoked `sudo`, when we are root because of it.
fn sudo_owner() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    parse_sudo_ids(
        std::env::var("SUDO_UID").ok().as_deref(),
        std::env::var("SUDO_GID").ok().as_deref(),
    )
}

/// Parses `SUDO_UID`/`SUDO_GID`; both must be present and numeric.
fn parse_sudo_ids(uid: Option<&str>, gid: Option<&str>) -> Option<(u32, u32)> {
    let uid = uid?.trim().parse().ok()?;
    let gid = gid?.trim().parse().ok()?;
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::TestDir;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_the_file_and_leaves_no_temp() {
        let dir = TestDir::new("atomic-ok");
        let path = dir.path().join("out.txt");
        write_atomically(&path, |w| {
            w.write_all(b"hello\n")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello\n");
        assert_eq!(entries(dir.path()), vec!["out.txt"]);

        // Replaces an existing file.
        write_atomically(&path, |w| {
            w.write_all(b"again\n")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"again\n");
        assert_eq!(entries(dir.path()), vec!["out.txt"]);
    }

    #[test]
    fn failing_write_leaves_nothing_behind() {
        let dir = TestDir::new("atomic-fail");
        let path = dir.path().join("out.svg");
        let err = write_atomically(&path, |w| {
            w.write_all(b"partial data")?;
            Err(io::Error::from_raw_os_error(libc::ENOSPC).into())
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(libc::ENOSPC)
        );
        assert!(!path.exists());
        assert_eq!(entries(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn failing_write_keeps_the_previous_file() {
        let dir = TestDir::new("atomic-keep");
        let path = dir.path().join("out.collapsed");
        fs::write(&path, b"old\n").unwrap();
        let err = write_atomically(&path, |_| Err(OutputError::Empty)).unwrap_err();
        assert!(matches!(err, OutputError::Empty));
        assert_eq!(fs::read(&path).unwrap(), b"old\n");
        assert_eq!(entries(dir.path()), vec!["out.collapsed"]);
    }

    #[test]
    fn unwritable_directory_names_the_path() {
        let dir = TestDir::new("atomic-unwritable");

        // A parent that is a regular file fails even for root.
        let not_a_dir = dir.path().join("file");
        fs::write(&not_a_dir, b"").unwrap();
        let path = not_a_dir.join("out.svg");
        let err = write_atomically(&path, |_| Ok(())).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot write {}: ", path.display())),
            "{msg}"
        );

        // A missing directory.
        let path = dir.path().join("missing").join("out.svg");
        let msg = write_atomically(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");

        // A read-only directory (root ignores permissions, so only as a user).
        if !nix::unistd::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt;
            let ro = dir.path().join("ro");
            fs::create_dir(&ro).unwrap();
            fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
            let path = ro.join("out.svg");
            let err = write_atomically(&path, |_| Ok(())).unwrap_err();
            fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("Permission denied"), "{msg}");
        }
    }

    #[test]
    fn path_without_file_name_is_an_error() {
        let err = write_atomically(Path::new("/"), |_| Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("cannot write /: "), "{err}");
    }

    #[test]
    fn file_is_given_to_the_sudo_user() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return; // Only root can give files away.
        }
        let dir = TestDir::new("atomic-owner");
        let path = dir.path().join("out.svg");
        write_owned_by(&path, Some((65534, 65533)), |w| {
            w.write_all(b"x")?;
            Ok(())
        })
        .unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65533));
    }

    #[test]
    fn sudo_ids() {
        assert_eq!(parse_sudo_ids(Some("1000"), Some("100")), Some((1000, 100)));
        assert_eq!(parse_sudo_ids(Some("1000"), None), None);
        assert_eq!(parse_sudo_ids(None, Some("100")), None);
        assert_eq!(parse_sudo_ids(Some("x"), Some("100")), None);
    }
}
