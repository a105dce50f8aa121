//! Code objects, `str` and `bytes` read from a process's memory, for every
//! supported layout. The memory is the input, seen at every address (an
//! address maps to its offset modulo the input's length), so every pointer
//! the input holds leads somewhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon::python::layout::layout_for;
use tachyon::python::memory::{MemoryError, RemoteMemory};
use tachyon::python::objects::{read_bytes, read_code, read_str};

const BASE: u64 = 0x7f00_0000_0000;

struct Wrapped<'a>(&'a [u8]);

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

fuzz_target!(|data: &[u8]| {
    let Some((&version, memory)) = data.split_first() else {
        return;
    };
    let Some(layout) = layout_for(8 + u32::from(version % 8)) else {
        return;
    };
    let mem = Wrapped(memory);
    // The type check passes when the input's ob_type is the code type.
    let code_type = mem.read_u64(BASE + u64::from(layout.objects.ob_type)).unwrap_or(0);
    let _ = read_code(&mem, layout, code_type, BASE, 0);
    let _ = read_str(&mem, &layout.objects, BASE);
    let _ = read_bytes(&mem, &layout.objects, BASE);
});
