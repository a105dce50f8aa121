//! Code objects, `str` and `bytes` read from a process's memory, for every
//! supported layout. The memory is the input, seen at every address (an
//! address maps to its offset modulo the input's length), so every pointer
//! the input holds leads somewhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon::python::layout::layout_for;
use tachyon::python::memory::RemoteMemory;
use tachyon::python::objects::{read_bytes, read_code, read_str};

#[path = "wrapped.rs"]
mod wrapped;
use wrapped::{Wrapped, BASE};

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
