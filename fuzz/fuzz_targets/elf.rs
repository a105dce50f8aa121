//! ELF inspection of an interpreter binary (runtime symbols, Py_Version,
//! load segments) and the native symbol table reader, on arbitrary files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tachyon::python::process::elf_facts_in(data, true);
    let _ = tachyon::native::count_functions_in(data);
});
