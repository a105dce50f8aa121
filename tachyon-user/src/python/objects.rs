//! Reading `str`, `bytes` and code objects out of a process.

use super::layout::{Layout, ObjectLayout};
use super::memory::{le_u32, le_u64, MemoryError, RemoteMemory};

/// Longest string read (characters); longer ones are cut.
const MAX_STR_CHARS: u64 = 4096;
/// Largest line table read.
const MAX_BYTES: u64 = 1 << 20;

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("object at {0:#x} is not a code object")]
    NotCode(u64),
    #[error("code object at {0:#x} changed (fingerprint mismatch)")]
    Stale(u64),
    #[error("malformed {what} at {addr:#x}")]
    Malformed { what: &'static str, addr: u64 },
}

/// Reads a compact `str` object.
pub fn read_str(
    mem: &dyn RemoteMemory,
    lay: &ObjectLayout,
    addr: u64,
) -> Result<String, ObjectError> {
    let malformed = ObjectError::Malformed { what: "str", addr };
    if addr == 0 {
        return Err(malformed);
    }
    let head = mem.read_vec(addr, lay.unicode_state as usize + 4)?;
    let len =
        le_u64(&head, lay.unicode_length).ok_or(ObjectError::Malformed { what: "str", addr })?;
    let state =
        le_u32(&head, lay.unicode_state).ok_or(ObjectError::Malformed { what: "str", addr })?;
    let kind = (state >> 2) & 7;
    let compact = state & 0x20 != 0;
    let ascii = state & 0x40 != 0;
    if !compact || !matches!(kind, 1 | 2 | 4) || len > (1 << 30) {
        return Err(malformed);
    }
    let chars = len.min(MAX_STR_CHARS);
    let data = if ascii {
        lay.unicode_ascii_data
    } else {
        lay.unicode_compact_data
    };
    let raw = mem.read_vec(addr + data as u64, (chars * kind as u64) as usize)?;
    Ok(match kind {
        1 => raw.iter().map(|&b| b as char).collect(),
        2 => char::decode_utf16(
            raw.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        )
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
    })
}

/// Reads the contents of a `bytes` object.
pub fn read_bytes(
    mem: &dyn RemoteMemory,
    lay: &ObjectLayout,
    addr: u64,
) -> Result<Vec<u8>, ObjectError> {
    if addr == 0 {
        return Err(ObjectError::Malformed {
            what: "bytes",
            addr,
        });
    }
    let len = mem.read_u64(addr + lay.bytes_size as u64)?;
    if len > MAX_BYTES {
        return Err(ObjectError::Malformed {
            what: "bytes",
            addr,
        });
    }
    Ok(mem.read_vec(addr + lay.bytes_data as u64, len as usize)?)
}

/// What userspace needs of a code object, read once and cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// `co_qualname` where the version has it, else `co_name`.
    pub name: String,
    pub filename: String,
    pub firstlineno: i32,
    pub linetable: Vec<u8>,
    pub fingerprint: u32,
}

/// Reads a code object and checks it against the type and fingerprint the
/// kernel saw (`expected_fp` 0: the kernel could not read it; not checked).
pub fn read_code(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    code_type: u64,
    addr: u64,
    expected_fp: u32,
) -> Result<CodeInfo, ObjectError> {
    let c = &layout.code;
    let head = mem.read_vec(addr, c.header_size as usize)?;
    let field = |off: u32| {
        le_u64(&head, off).ok_or(ObjectError::Malformed {
            what: "code object",
            addr,
        })
    };
    if field(layout.objects.ob_type)? != code_type {
        return Err(ObjectError::NotCode(addr));
    }
    let name_ptr = field(c.name)?;
    let fp_field = le_u32(&head, c.fp_field).unwrap_or(0);
    let name_hash = if layout.code.fp_unique {
        0
    } else {
        mem.read_u64(name_ptr + layout.objects.unicode_hash as u64)?
    };
    let fingerprint = tachyon_common::fingerprint(name_ptr, name_hash, fp_field);
    if expected_fp != 0 && fingerprint != expected_fp {
        return Err(ObjectError::Stale(addr));
    }
    let name_addr = match c.qualname {
        Some(q) => field(q)?,
        None => name_ptr,
    };
    let firstlineno = le_u32(&head, c.firstlineno).unwrap_or(0) as i32;
    Ok(CodeInfo {
        name: read_str(mem, &layout.objects, name_addr)?,
        filename: read_str(mem, &layout.objects, field(c.filename)?)?,
        firstlineno,
        linetable: read_bytes(mem, &layout.objects, field(c.linetable)?)?,
        fingerprint,
    })
}
