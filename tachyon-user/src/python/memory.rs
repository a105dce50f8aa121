//! Reading another process's memory.

use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// Why a read of process memory failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The process is gone.
    #[error("process {0} has exited")]
    Gone(u32),
    /// The address is not mapped, or only partly.
    #[error("cannot read {len} bytes at {addr:#x} in process {pid}: {source}")]
    Fault {
        pid: u32,
        addr: u64,
        len: usize,
        source: nix::Error,
    },
}

/// Memory of a (possibly remote) process. A trait so the walkers and object
/// readers can be tested on any memory source.
pub trait RemoteMemory {
    /// Fills `buf` from `addr`, all or nothing.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError>;

    /// Reads a little-endian u64.
    fn read_u64(&self, addr: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian u32.
    fn read_u32(&self, addr: u64) -> Result<u32, MemoryError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads `len` bytes into a new vector.
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }
}

/// A live process, read with `process_vm_readv`.
#[derive(Clone, Copy, Debug)]
pub struct ProcessMemory {
    pid: u32,
}

impl ProcessMemory {
    pub fn new(pid: u32) -> Self {
        Self { pid }
    }
}

impl RemoteMemory for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let len = buf.len();
        if len == 0 {
            return Ok(());
        }
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        let mut local = [IoSliceMut::new(buf)];
        match process_vm_readv(Pid::from_raw(self.pid as i32), &mut local, &remote) {
            Ok(n) if n == len => Ok(()),
            Ok(_) => Err(MemoryError::Fault {
                pid: self.pid,
                addr,
                len,
                source: nix::Error::EFAULT,
            }),
            Err(nix::Error::ESRCH) => Err(MemoryError::Gone(self.pid)),
            Err(source) => Err(MemoryError::Fault {
                pid: self.pid,
                addr,
                len,
                source,
            }),
        }
    }
}

/// Test memory: byte buffers placed at addresses. A read succeeds only when
/// it lies wholly inside one buffer; anything else fails as an unmapped read
/// of a live process does ([`MemoryError::Fault`] with `EFAULT`, pid 0).
#[cfg(test)]
#[derive(Clone, Debug, Default)]
pub struct FakeMemory {
    /// Start address → contents. Buffers never overlap.
    regions: std::collections::BTreeMap<u64, Vec<u8>>,
}

#[cfg(test)]
impl FakeMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// [`FakeMemory::put`], builder style.
    pub fn with(mut self, addr: u64, bytes: &[u8]) -> Self {
        self.put(addr, bytes);
        self
    }

    /// A buffer of `len` zero bytes at `addr`, builder style.
    pub fn with_zeroed(mut self, addr: u64, len: usize) -> Self {
        self.put(addr, &vec![0; len]);
        self
    }

    /// Writes `bytes` at `addr`: into the buffer that already holds every
    /// one of those addresses, else as a new buffer. Panics if the new
    /// buffer would overlap an existing one (a mistake in the test).
    pub fn put(&mut self, addr: u64, bytes: &[u8]) -> &mut Self {
        if bytes.is_empty() {
            return self;
        }
        if let Some(off) = self.offset_of(addr, bytes.len()) {
            if let Some(buf) = self.regions.get_mut(&off.0) {
                buf[off.1..off.1 + bytes.len()].copy_from_slice(bytes);
            }
            return self;
        }
        let end = addr
            .checked_add(bytes.len() as u64)
            .expect("buffer end overflows");
        let overlaps = self
            .regions
            .iter()
            .any(|(&s, b)| s < end && addr < s + b.len() as u64);
        assert!(!overlaps, "buffer at {addr:#x} overlaps another one");
        self.regions.insert(addr, bytes.to_vec());
        self
    }

    /// Writes a little-endian u64 at `addr` (see [`FakeMemory::put`]).
    pub fn put_u64(&mut self, addr: u64, value: u64) -> &mut Self {
        self.put(addr, &value.to_le_bytes())
    }

    /// Writes a little-endian u32 at `addr` (see [`FakeMemory::put`]).
    pub fn put_u32(&mut self, addr: u64, value: u32) -> &mut Self {
        self.put(addr, &value.to_le_bytes())
    }

    /// (start of the buffer, offset in it) holding `addr..addr + len`.
    fn offset_of(&self, addr: u64, len: usize) -> Option<(u64, usize)> {
        let (&start, buf) = self.regions.range(..=addr).next_back()?;
        let off = usize::try_from(addr - start).ok()?;
        (off.checked_add(len)? <= buf.len()).then_some((start, off))
    }
}

#[cfg(test)]
impl RemoteMemory for FakeMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let len = buf.len();
        if len == 0 {
            return Ok(());
        }
        let (start, off) = self.offset_of(addr, len).ok_or(MemoryError::Fault {
            pid: 0,
            addr,
            len,
            source: nix::Error::EFAULT,
        })?;
        buf.copy_from_slice(&self.regions[&start][off..off + len]);
        Ok(())
    }
}

/// Reads little-endian integers out of a byte buffer at untrusted offsets.
pub fn le_u64(buf: &[u8], off: u32) -> Option<u64> {
    let off = off as usize;
    let b = buf.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// As [`le_u64`], for u32.
pub fn le_u32(buf: &[u8], off: u32) -> Option<u32> {
    let off = off as usize;
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let value: u64 = 0x1122_3344_5566_7788;
        let mem = ProcessMemory::new(std::process::id());
        assert_eq!(mem.read_u64(&value as *const u64 as u64).ok(), Some(value));
    }

    #[test]
    fn unmapped_address_is_a_fault() {
        let mem = ProcessMemory::new(std::process::id());
        assert!(matches!(mem.read_u64(8), Err(MemoryError::Fault { .. })));
    }

    #[test]
    fn le_helpers_bound_offsets() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(le_u64(&b, 0), Some(1));
        assert_eq!(le_u64(&b, 2), None);
        assert_eq!(le_u32(&b, 5), Some(2 << 24));
        assert_eq!(le_u32(&b, u32::MAX), None);
    }

    fn is_fault(r: Result<impl std::fmt::Debug, MemoryError>, at: u64, n: usize) -> bool {
        matches!(r, Err(MemoryError::Fault { pid: 0, addr, len, source: nix::Error::EFAULT })
            if addr == at && len == n)
    }

    #[test]
    fn fake_memory_reads_inside_one_buffer() {
        let mem = FakeMemory::new().with(0x1000, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(mem.read_vec(0x1000, 10).ok(), Some((1..=10).collect()));
        assert_eq!(mem.read_vec(0x1003, 2).ok(), Some(vec![4, 5]));
        assert_eq!(mem.read_vec(0x1009, 1).ok(), Some(vec![10]));
        assert_eq!(mem.read_u32(0x1000).ok(), Some(0x0403_0201));
        assert_eq!(mem.read_u64(0x1002).ok(), Some(0x0a09_0807_0605_0403));
        // Like process_vm_readv of nothing: succeeds anywhere.
        assert_eq!(mem.read_vec(0x5, 0).ok(), Some(vec![]));
    }

    #[test]
    fn fake_memory_partial_reads_fail() {
        let mem = FakeMemory::new().with(0x1000, &[0xaa; 16]);
        // Running off the end, starting before the start, or wholly outside.
        assert!(is_fault(mem.read_u64(0x100c), 0x100c, 8));
        assert!(is_fault(mem.read_vec(0x0fff, 2), 0x0fff, 2));
        assert!(is_fault(mem.read_u32(0x1010), 0x1010, 4));
        assert!(is_fault(mem.read_u32(0), 0, 4));
        assert!(is_fault(mem.read_vec(u64::MAX - 1, 4), u64::MAX - 1, 4));
        // All or nothing: a failed read leaves the buffer alone.
        let mut buf = [0x55u8; 8];
        assert!(mem.read(0x100c, &mut buf).is_err());
        assert_eq!(buf, [0x55; 8]);
        assert!(is_fault(FakeMemory::new().read_u64(0x1000), 0x1000, 8));
    }

    #[test]
    fn fake_memory_reads_across_buffers_fail() {
        // Two adjacent buffers: each readable, the seam is not.
        let mem = FakeMemory::new()
            .with(0x2000, &[1, 1, 1, 1])
            .with(0x2004, &[2, 2, 2, 2]);
        assert_eq!(mem.read_u32(0x2000).ok(), Some(0x0101_0101));
        assert_eq!(mem.read_u32(0x2004).ok(), Some(0x0202_0202));
        assert!(is_fault(mem.read_u64(0x2000), 0x2000, 8));
        assert!(is_fault(mem.read_u32(0x2002), 0x2002, 4));
    }

    #[test]
    fn fake_memory_le_helpers_write_in_place() {
        let mut mem = FakeMemory::new().with_zeroed(0x3000, 16);
        mem.put_u64(0x3000, 0x1122_3344_5566_7788)
            .put_u32(0x3008, 0xdead_beef);
        assert_eq!(
            mem.read_vec(0x3000, 16).ok(),
            Some(vec![
                0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0
            ])
        );
        // Overwriting keeps one buffer: a read spanning both writes works.
        mem.put(0x3006, &[9, 9, 9, 9]);
        assert_eq!(mem.read_u64(0x3004).ok(), Some(0xdead_0909_0909_3344));
        // Outside any buffer, a write makes a new one of its own size.
        mem.put_u32(0x4000, 7);
        assert_eq!(mem.read_u32(0x4000).ok(), Some(7));
        assert!(mem.read_u64(0x4000).is_err());
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn fake_memory_refuses_overlapping_buffers() {
        let _ = FakeMemory::new()
            .with(0x1000, &[0; 8])
            .with(0x0ffc, &[0; 8]);
    }
}
