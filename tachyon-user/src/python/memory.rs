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
}
