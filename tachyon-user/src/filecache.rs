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
        let meta = file.metadata().map_err(io_error)?;
        let key = (meta.dev(), meta.ino());
        if let Some(v) = self.entries.get(&key) {
            return Ok(v.clone());
        }
        let v = Arc::new(parse(file)?);
        if self
            .entries
            .push(key, v.clone())
            .is_some_and(|(k, _)| k != key)
        {
            self.evictions += 1;
        }
        Ok(v)
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
}
