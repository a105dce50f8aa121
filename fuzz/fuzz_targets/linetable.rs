//! The three line-table decoders (3.8/3.9 lnotab, 3.10 linetable, 3.11+
//! location table) on arbitrary tables, first lines and addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon::python::linetable::{line_for_addr, location_for_addr, LineTableFormat};

fuzz_target!(|data: &[u8]| {
    let Some((head, table)) = data.split_first_chunk::<9>() else {
        return;
    };
    let format = match head[0] % 3 {
        0 => LineTableFormat::Lnotab,
        1 => LineTableFormat::Linetable310,
        _ => LineTableFormat::Locations311,
    };
    let first_line = i32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    let addr = i32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    let line = line_for_addr(format, table, first_line, addr);
    let loc = location_for_addr(format, table, first_line, addr);
    assert_eq!(line, loc.map(|l| l.line));
});
