//! A process's memory for fuzz targets: the input, seen at every address
//! from `BASE` on (an address maps to its offset modulo the input's length),
//! so every pointer the input holds leads somewhere.

use tachyon::python::memory::{MemoryError, RemoteMemory};

pub const BASE: u64 = 0x7f00_0000_0000;

pub struct Wrapped<'a>(pub &'a [u8]);

impl RemoteMemory for Wrapped<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let len = self.0.len() as u64;
        if len == 0 || addr < BASE || buf.len() > 1 << 20 {
            // As a read of a process that is gone.
            return Err(MemoryError::Gone(0));
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.0[((addr - BASE + i as u64) % len) as usize];
        }
        Ok(())
    }
}
