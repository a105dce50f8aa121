//! The recording reader (`replay`'s input) on arbitrary files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tachyon::output::decode_recording(data);
});
