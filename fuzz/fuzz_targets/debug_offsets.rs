//! `_Py_DebugOffsets` as a process could state them: the input is the
//! table (and, wrapped around, the rest of the process's memory). Reading
//! it with every known arrangement, building a layout and probing the
//! "process" must give a layout or an error, never a panic, and a layout
//! built must keep every kernel offset inside the frame buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon::python::debug_offsets::{probe, DebugTable};
use tachyon::python::layout::{DEBUG_OFFSET_ARRANGEMENTS, LAYOUTS};
use tachyon_common::FRAME_BUF_SIZE;

#[path = "wrapped.rs"]
mod wrapped;
use wrapped::{Wrapped, BASE};

fuzz_target!(|data: &[u8]| {
    let mem = Wrapped(data);
    let Ok(table) = DebugTable::read(&mem, BASE) else {
        return;
    };
    let template = &LAYOUTS[LAYOUTS.len() - 1];
    for pos in DEBUG_OFFSET_ARRANGEMENTS {
        let _ = table.check_row(pos, template);
        if let Ok(layout) = table.layout(pos, template) {
            assert!((layout.kernel.frame_read_size as usize) <= FRAME_BUF_SIZE);
            let _ = probe(&mem, &layout, BASE, 0x7f00_0000_0040);
        }
    }
});
