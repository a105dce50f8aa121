//! Turning kernel frames `(code, lasti, fingerprint)` into named frames.
//!
//! Code objects are read once per `(pid, code, fingerprint)`; the frame with
//! its line is cached per `(pid, code, fingerprint, lasti)`, so a steady
//! profile costs one hash lookup per frame. The fingerprint covers the name's
//! address and hash, so a code object freed and replaced at the same address
//! by a function of another name never hits a stale entry.

use rustc_hash::FxHashMap as HashMap;

use tachyon_common::Frame;

use crate::profile::{FrameId, FrameInfo, Profile};
use crate::python::linetable::{line_for_addr, LineTableFormat};
use crate::python::memory::ProcessMemory;
use crate::python::objects::{read_code, CodeInfo};
use crate::python::process::PythonProcess;

/// Shown for a frame whose code object could not be read or did not match.
pub const UNKNOWN: &str = "<unknown>";
/// Shown where Python called into C that called back into Python.
pub const NATIVE: &str = "<native>";

/// Symbolization state of one process.
pub struct ProcessSymbols {
    proc: PythonProcess,
    mem: ProcessMemory,
    code: HashMap<(u64, u32), Option<CodeInfo>>,
    frames: HashMap<(u64, u32, i32), FrameId>,
    /// Frames that could not be symbolized.
    pub failures: u64,
}

impl ProcessSymbols {
    pub fn new(proc: PythonProcess) -> Self {
        Self {
            mem: ProcessMemory::new(proc.pid),
            proc,
            code: HashMap::default(),
            frames: HashMap::default(),
            failures: 0,
        }
    }

    pub fn process(&self) -> &PythonProcess {
        &self.proc
    }

    /// The profile frame for a kernel frame.
    pub fn frame(&mut self, f: &Frame, profile: &mut Profile) -> FrameId {
        if f.code == 0 {
            // The kernel's marker for C code between two Python frames.
            return profile.intern_frame(FrameInfo::marker(NATIVE));
        }
        if f.fingerprint == 0 {
            // The kernel could not read the code object, so nothing can tell
            // whether what is at that address now is what ran: never cache.
            let frame = match read_code(&self.mem, self.proc.layout, self.proc.code_type, f.code, 0)
            {
                Ok(c) => python_frame(
                    self.proc.layout.minor,
                    self.proc.layout.linetable,
                    &c,
                    f.lasti,
                ),
                Err(_) => {
                    self.failures += 1;
                    FrameInfo::marker(UNKNOWN)
                }
            };
            return profile.intern_frame(frame);
        }
        let key = (f.code, f.fingerprint, f.lasti);
        if let Some(&id) = self.frames.get(&key) {
            return id;
        }
        let info = self.code.entry((f.code, f.fingerprint)).or_insert_with(|| {
            read_code(
                &self.mem,
                self.proc.layout,
                self.proc.code_type,
                f.code,
                f.fingerprint,
            )
            .ok()
        });
        let known = info.is_some();
        let frame = match info {
            Some(c) => python_frame(
                self.proc.layout.minor,
                self.proc.layout.linetable,
                c,
                f.lasti,
            ),
            None => {
                self.failures += 1;
                FrameInfo::marker(UNKNOWN)
            }
        };
        let id = profile.intern_frame(frame);
        // A failed read is not cached at frame level: the next sample retries
        // through the (cached) code-level result, counting each failure.
        if known {
            self.frames.insert(key, id);
        }
        id
    }
}

/// The profile frame for code object `c` executing instruction `lasti`.
fn python_frame(minor: u32, format: LineTableFormat, c: &CodeInfo, lasti: i32) -> FrameInfo {
    let addr = address_for(minor, lasti);
    let line = line_for_addr(format, &c.linetable, c.firstlineno, addr).unwrap_or(0);
    FrameInfo::python(&c.name, &c.filename, line, c.firstlineno.max(0) as u32)
}

/// The byte address `PyCode_Addr2Line` takes for a kernel `lasti`:
/// `f_lasti` itself on 3.8/3.9 (bytes), twice the code-unit index after.
pub fn address_for(minor: u32, lasti: i32) -> i32 {
    if minor <= 9 {
        lasti
    } else {
        lasti.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_version_units() {
        assert_eq!(address_for(8, 10), 10);
        assert_eq!(address_for(10, 10), 20);
        assert_eq!(address_for(13, -1), -2);
    }
}
