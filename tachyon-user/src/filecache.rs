//! What was learned from a binary, cached by the file's identity (device,
//! inode), bounded: the least recently used files go first.
//!
//! Keyed by identity, not path: the same library in a hundred containers is
//! parsed once, and a file replaced under the same name is parsed again.

use std::fs::File;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use lru::LruCache;
use rustc_hash::FxBuildHasher;

/// Largest binary parsed (libpython and the largest shared libraries are
/// a few tens of MiB).
const MAX_BINARY_BYTES: u64 = 1 << 30;

/// Refuses files no real binary looks like, before anything is parsed: over
/// [`MAX_BINARY_BYTES`], or sparse (less than a quarter of the size on disk:
/// a crafted file of holes would have the parser read gigabytes of zeros).
pub fn plausible_binary(len: u64, blocks_512: u64) -> Result<(), String> {
    if len > MAX_BINARY_BYTES {
        return Err(format!(
            "{len} bytes, more than the {MAX_BINARY_BYTES} a binary may have"
        ));
    }
    let on_disk = blocks_512.saturating_mul(512);
    if len > 1 << 20 && on_disk < len / 4 {
        return Err(format!(
            "a sparse file ({len} bytes, {on_disk} on disk): not a real binary"
        ));
    }
    Ok(())
}

/// A bounded cache of facts parsed from files.
pub struct FileCache<T> {
    entries: LruCache<(u64, u64), Arc<T>, FxBuildHasher>,
    /// Files dropped to stay within the bound.
    pub evictions: u64,
}

impl<T> FileCache<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: LruCache::with_hasher(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
                FxBuildHasher,
            ),
            evictions: 0,
        }
    }

    /// The facts of the open file `file`, parsed by `parse` on a miss.
    pub fn get_or_parse<E>(
        &mut self,
        file: File,
        parse: impl FnOnce(File) -> Result<T, E>,
        io_error: impl FnOnce(std::io::Error) -> E,
    ) -> Result<Arc<T>, E> {
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => return Err(io_error(e)),
        };
        let key = (meta.dev(), meta.ino());
        if let Some(v) = self.entries.get(&key) {
            return Ok(v.clone());
        }
        self.parse_into(key, file, &meta, parse, io_error)
    }

    /// Checks, parses and caches `file` under `key`.
    fn parse_into<E>(
        &mut self,
        key: (u64, u64),
        file: File,
        meta: &std::fs::Metadata,
        parse: impl FnOnce(File) -> Result<T, E>,
        io_error: impl FnOnce(std::io::Error) -> E,
    ) -> Result<Arc<T>, E> {
        if let Err(why) = plausible_binary(meta.len(), meta.blocks()) {
            return Err(io_error(std::io::Error::other(why)));
        }
        let parsed = parse(file);
        // A parse reads parts of the file into buffers it frees (an
        // interpreter's symbol tables: megabytes); glibc would keep them
        // in the RSS of an agent that runs for weeks.
        crate::memory::give_back();
        let v = Arc::new(parsed?);
        if self
            .entries
            .push(key, v.clone())
            .is_some_and(|(k, _)| k != key)
        {
            self.evictions += 1;
        }
        Ok(v)
    }

    /// The facts of the file known by `key` (its identity as `/proc/PID/maps`
    /// shows it), opened with `open` and parsed by `parse` only on a miss:
    /// a file seen before costs no system call.
    pub fn get_or_parse_keyed<E>(
        &mut self,
        key: (u64, u64),
        open: impl FnOnce() -> std::io::Result<File>,
        parse: impl FnOnce(File) -> Result<T, E>,
        io_error: impl Fn(std::io::Error) -> E,
    ) -> Result<Arc<T>, E> {
        if let Some(v) = self.entries.get(&key) {
            return Ok(v.clone());
        }
        let file = open().map_err(&io_error)?;
        let meta = file.metadata().map_err(&io_error)?;
        self.parse_into(key, file, &meta, parse, io_error)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        let mut f = File::create(&p).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        p
    }

    fn read_len(f: File) -> Result<usize, String> {
        Ok(f.metadata().map_err(|e| e.to_string())?.len() as usize)
    }

    #[test]
    fn parses_each_file_once_and_evicts_the_least_recently_used() {
        let dir = std::env::temp_dir().join(format!("filecache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = temp_file(&dir, "a", "1");
        let b = temp_file(&dir, "b", "22");
        let c = temp_file(&dir, "c", "333");
        let mut cache: FileCache<usize> = FileCache::new(2);
        let mut parses = 0;
        let mut get = |cache: &mut FileCache<usize>, p: &std::path::Path| {
            let f = File::open(p).expect("open");
            *cache
                .get_or_parse(
                    f,
                    |f| {
                        parses += 1;
                        read_len(f)
                    },
                    |e| e.to_string(),
                )
                .expect("parse")
        };
        assert_eq!(get(&mut cache, &a), 1);
        assert_eq!(get(&mut cache, &b), 2);
        assert_eq!(get(&mut cache, &a), 1); // a is now the most recent
        assert_eq!(get(&mut cache, &c), 3); // evicts b
        assert_eq!(get(&mut cache, &a), 1);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions, 1);
        assert_eq!(get(&mut cache, &b), 2); // parsed again
        assert_eq!(parses, 4);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn parse_errors_are_not_cached() {
        let dir = std::env::temp_dir().join(format!("filecache-e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = temp_file(&dir, "a", "x");
        let mut cache: FileCache<usize> = FileCache::new(4);
        let r = cache.get_or_parse(
            File::open(&a).expect("open"),
            |_| Err::<usize, _>("bad".to_string()),
            |e| e.to_string(),
        );
        assert_eq!(r.err().as_deref(), Some("bad"));
        assert!(cache.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn huge_or_sparse_files_are_not_binaries() {
        assert!(plausible_binary(30 << 20, (30 << 20) / 512).is_ok());
        assert!(
            plausible_binary(4096, 0).is_ok(),
            "small files are not judged"
        );
        let e = plausible_binary(8 << 30, (8 << 30) / 512).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        let e = plausible_binary(512 << 20, 8).unwrap_err();
        assert!(e.contains("sparse"), "{e}");
    }

    /// A real sparse file: 64 MiB of holes.
    #[test]
    fn a_sparse_file_is_refused_before_parsing() {
        let dir = std::env::temp_dir().join(format!("filecache-s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("libpython3.12.so");
        let f = File::create(&path).expect("create");
        f.set_len(64 << 20).expect("set_len");
        drop(f);
        let mut cache: FileCache<usize> = FileCache::new(4);
        let r = cache.get_or_parse(
            File::open(&path).expect("open"),
            |_| -> Result<usize, String> { panic!("parsed a sparse file") },
            |e| e.to_string(),
        );
        assert!(r.unwrap_err().contains("sparse"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
