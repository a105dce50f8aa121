//! Reading `str`, `bytes` and code objects out of a process.

use super::layout::{BytecodeAt, Layout, ObjectLayout};
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

/// `addr + off` for a field of an object at a pointer the process gave:
/// one near the top of the address space is malformed, not an overflow.
fn field_at(what: &'static str, addr: u64, off: u32) -> Result<u64, ObjectError> {
    addr.checked_add(u64::from(off))
        .ok_or(ObjectError::Malformed { what, addr })
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
    let bits = &lay.unicode_bits;
    let kind = bits.kind(state);
    let compact = state & bits.compact != 0;
    let ascii = state & bits.ascii != 0;
    if !compact || !matches!(kind, 1 | 2 | 4) || len > (1 << 30) {
        return Err(malformed);
    }
    let chars = len.min(MAX_STR_CHARS);
    let data = if ascii {
        lay.unicode_ascii_data
    } else {
        lay.unicode_compact_data
    };
    let raw = mem.read_vec(field_at("str", addr, data)?, (chars * kind as u64) as usize)?;
    decode_str(kind, &raw).ok_or(malformed)
}

/// The characters of a compact `str`'s data, `kind` bytes each (1: Latin-1,
/// of which ASCII is part; 2: UCS-2; 4: UCS-4); `None` for another kind.
/// A trailing partial character is dropped.
pub fn decode_str(kind: u32, raw: &[u8]) -> Option<String> {
    Some(match kind {
        1 => raw.iter().map(|&b| b as char).collect(),
        // UCS-2, not UTF-16: each unit is one code point, so a lone
        // surrogate (or two in a row) is replaced, never paired.
        2 => raw
            .chunks_exact(2)
            .map(|c| {
                char::from_u32(u16::from_le_bytes([c[0], c[1]]) as u32)
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        4 => raw
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => return None,
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
    let len = mem.read_u64(field_at("bytes", addr, lay.bytes_size)?)?;
    if len > MAX_BYTES {
        return Err(ObjectError::Malformed {
            what: "bytes",
            addr,
        });
    }
    Ok(mem.read_vec(field_at("bytes", addr, lay.bytes_data)?, len as usize)?)
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
    /// The bytecode, when asked for (`--opcodes`; [`read_bytecode`]).
    pub bytecode: Vec<u8>,
}

/// The header of the code object at `addr` and its fingerprint (as the
/// kernel computes it); refused unless it is a code object.
fn code_header(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    code_type: u64,
    addr: u64,
) -> Result<(Vec<u8>, u32), ObjectError> {
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
    let mix = if layout.code.fp_unique {
        0
    } else {
        let hash = mem.read_u64(field_at("str", name_ptr, layout.objects.unicode_hash)?)?;
        let at = |off: u32| le_u64(&head, off).unwrap_or(0);
        tachyon_common::identity_mix(hash, at(c.filename), at(c.linetable))
    };
    let fingerprint = tachyon_common::fingerprint(name_ptr, mix, fp_field);
    Ok((head, fingerprint))
}

/// The fingerprint of the code object at `addr`, as the kernel would have
/// sent it (for frames read from userspace, so that they hit the caches).
pub fn code_fingerprint(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    code_type: u64,
    addr: u64,
) -> Result<u32, ObjectError> {
    code_header(mem, layout, code_type, addr).map(|(_, fp)| fp)
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
    let (head, fingerprint) = code_header(mem, layout, code_type, addr)?;
    if expected_fp != 0 && fingerprint != expected_fp {
        return Err(ObjectError::Stale(addr));
    }
    let field = |off: u32| {
        le_u64(&head, off).ok_or(ObjectError::Malformed {
            what: "code object",
            addr,
        })
    };
    let name_addr = match c.qualname {
        Some(q) => field(q)?,
        None => field(c.name)?,
    };
    let firstlineno = le_u32(&head, c.firstlineno).unwrap_or(0) as i32;
    Ok(CodeInfo {
        name: read_str(mem, &layout.objects, name_addr)?,
        filename: read_str(mem, &layout.objects, field(c.filename)?)?,
        firstlineno,
        linetable: read_bytes(mem, &layout.objects, field(c.linetable)?)?,
        fingerprint,
        bytecode: Vec::new(),
    })
}

/// Reads the bytecode of the code object at `addr` (checked by
/// [`read_code`] first): `co_code` up to 3.10, `co_code_adaptive` with the
/// specialised forms it holds now from 3.11 on. At most 1 MiB.
pub fn read_bytecode(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    addr: u64,
) -> Result<Vec<u8>, ObjectError> {
    match layout.code.bytecode {
        BytecodeAt::Object(off) => {
            let ptr = mem.read_u64(field_at("code object", addr, off)?)?;
            read_bytes(mem, &layout.objects, ptr)
        }
        BytecodeAt::Adaptive => {
            // `Py_SIZE(code)`: the code object is a PyVarObject like bytes.
            let units = mem.read_u64(field_at("code object", addr, layout.objects.bytes_size)?)?;
            if units > MAX_BYTES / 2 {
                return Err(ObjectError::Malformed {
                    what: "code object",
                    addr,
                });
            }
            let start = field_at("code object", addr, layout.kernel.code_adaptive)?;
            Ok(mem.read_vec(start, units as usize * 2)?)
        }
    }
}

#[cfg(test)]
mod tests {
    //! Objects are laid out by hand at the byte positions CPython's headers
    //! give (`offsetof` on each version), not through the layout table, so
    //! these tests also check the table.

    use super::*;
    use crate::python::layout::layout_for;
    use crate::python::memory::FakeMemory;
    use tachyon_common::{fingerprint, identity_mix};

    const STR_TYPE: u64 = 0x7f00_0000_1000;
    const BYTES_TYPE: u64 = 0x7f00_0000_2000;
    const CODE_TYPE: u64 = 0x7f00_0000_3000;

    /// `PyASCIIObject.state`: kind in bits 2–4, compact bit 5, ascii bit 6.
    const ASCII: u32 = 1 << 2 | 0x20 | 0x40;
    const LATIN1: u32 = 1 << 2 | 0x20;
    const UCS2: u32 = 2 << 2 | 0x20;
    const UCS4: u32 = 4 << 2 | 0x20;

    fn layout(minor: u32) -> &'static Layout {
        layout_for(minor).expect("supported version")
    }

    fn objects(minor: u32) -> &'static ObjectLayout {
        &layout(minor).objects
    }

    fn set(buf: &mut [u8], off: usize, bytes: &[u8]) {
        buf[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// `sizeof(PyASCIIObject)` and `sizeof(PyCompactUnicodeObject)`: the
    /// data of compact ASCII and compact non-ASCII strings. 3.12 dropped
    /// `wstr` (8 bytes) and `wstr_length` (8 more).
    fn str_data(minor: u32, ascii: bool) -> usize {
        match (minor >= 12, ascii) {
            (false, true) => 48,
            (false, false) => 72,
            (true, true) => 40,
            (true, false) => 56,
        }
    }

    /// A `str` at `addr`: ob_type +8, length +16, hash +24, state +32 (all
    /// versions), then `data` where the version keeps it.
    fn put_str(mem: &mut FakeMemory, minor: u32, addr: u64, state: u32, len: u64, data: &[u8]) {
        put_str_hashed(mem, minor, addr, state, len, 0x5eed_0000 + addr, data);
    }

    fn put_str_hashed(
        mem: &mut FakeMemory,
        minor: u32,
        addr: u64,
        state: u32,
        len: u64,
        hash: u64,
        data: &[u8],
    ) {
        let at = str_data(minor, state & 0x40 != 0);
        let mut obj = vec![0u8; at + data.len()];
        set(&mut obj, 0, &1u64.to_le_bytes());
        set(&mut obj, 8, &STR_TYPE.to_le_bytes());
        set(&mut obj, 16, &len.to_le_bytes());
        set(&mut obj, 24, &hash.to_le_bytes());
        set(&mut obj, 32, &state.to_le_bytes());
        set(&mut obj, at, data);
        mem.put(addr, &obj);
    }

    /// A `bytes` at `addr`: ob_type +8, ob_size +16, ob_shash +24, data +32.
    fn put_bytes(mem: &mut FakeMemory, addr: u64, size: u64, data: &[u8]) {
        let mut obj = vec![0u8; 32 + data.len() + 1];
        set(&mut obj, 8, &BYTES_TYPE.to_le_bytes());
        set(&mut obj, 16, &size.to_le_bytes());
        set(&mut obj, 32, data);
        mem.put(addr, &obj);
    }

    fn read(mem: &FakeMemory, minor: u32, addr: u64) -> Result<String, ObjectError> {
        read_str(mem, objects(minor), addr)
    }

    #[test]
    fn compact_ascii_strings() {
        for minor in [8, 11, 12, 13, 14] {
            let mut mem = FakeMemory::new();
            put_str(&mut mem, minor, 0x1000, ASCII, 11, b"hello_world");
            put_str(&mut mem, minor, 0x2000, ASCII, 0, b"");
            assert_eq!(
                read(&mem, minor, 0x1000).ok().as_deref(),
                Some("hello_world")
            );
            assert_eq!(read(&mem, minor, 0x2000).ok().as_deref(), Some(""));
        }
    }

    #[test]
    fn length_bounds_what_is_read() {
        // Data runs on past `length`: only `length` characters are taken.
        let mut mem = FakeMemory::new();
        put_str(&mut mem, 12, 0x1000, ASCII, 3, b"abcdef");
        assert_eq!(read(&mem, 12, 0x1000).ok().as_deref(), Some("abc"));
    }

    #[test]
    fn compact_non_ascii_strings_of_every_kind() {
        for minor in [11, 12] {
            let mut mem = FakeMemory::new();
            // "café": Latin-1, one byte a character.
            put_str(
                &mut mem,
                minor,
                0x1000,
                LATIN1,
                4,
                &[0x63, 0x61, 0x66, 0xe9],
            );
            // "π≈3": U+03C0 U+2248 U+0033, two bytes each.
            put_str(
                &mut mem,
                minor,
                0x2000,
                UCS2,
                3,
                &[0xc0, 0x03, 0x48, 0x22, 0x33, 0x00],
            );
            // "a🐍": U+0061 U+1F40D, four bytes each.
            put_str(
                &mut mem,
                minor,
                0x3000,
                UCS4,
                2,
                &[0x61, 0, 0, 0, 0x0d, 0xf4, 0x01, 0],
            );
            assert_eq!(read(&mem, minor, 0x1000).ok().as_deref(), Some("café"));
            assert_eq!(read(&mem, minor, 0x2000).ok().as_deref(), Some("π≈3"));
            assert_eq!(read(&mem, minor, 0x3000).ok().as_deref(), Some("a🐍"));
        }
    }

    #[test]
    fn lone_surrogates_are_replaced_one_for_one() {
        // A 2-byte-kind str holds code points, not UTF-16: "\ud83d\udc0d" is
        // two characters (lone surrogates), not one 🐍.
        let mut mem = FakeMemory::new();
        put_str(&mut mem, 12, 0x1000, UCS2, 2, &[0x3d, 0xd8, 0x0d, 0xdc]);
        // A 4-byte-kind str with a surrogate and a value past U+10FFFF.
        put_str(
            &mut mem,
            12,
            0x2000,
            UCS4,
            3,
            &[0x00, 0xd8, 0, 0, 0x41, 0, 0, 0, 0, 0, 0x11, 0],
        );
        assert_eq!(
            read(&mem, 12, 0x1000).ok().as_deref(),
            Some("\u{fffd}\u{fffd}")
        );
        assert_eq!(
            read(&mem, 12, 0x2000).ok().as_deref(),
            Some("\u{fffd}A\u{fffd}")
        );
    }

    #[test]
    fn long_strings_are_cut_at_4096_characters() {
        let mut mem = FakeMemory::new();
        // Only 4096 characters of data are mapped: reading more would fault.
        put_str(&mut mem, 12, 0x10_0000, ASCII, 5000, &[b'x'; 4096]);
        let s = read(&mem, 12, 0x10_0000).expect("cut, not refused");
        assert_eq!(s, "x".repeat(4096));
        // 4096 characters of a 4-byte kind are 16 KiB.
        let mut data = Vec::new();
        for _ in 0..4096 {
            data.extend_from_slice(&[0x0d, 0xf4, 0x01, 0]);
        }
        put_str(&mut mem, 12, 0x20_0000, UCS4, 4097, &data);
        let s = read(&mem, 12, 0x20_0000).expect("cut, not refused");
        assert_eq!(s, "🐍".repeat(4096));
        // The largest length taken at all is 2^30.
        put_str(&mut mem, 12, 0x30_0000, ASCII, 1 << 30, &[b'y'; 4096]);
        assert_eq!(read(&mem, 12, 0x30_0000).ok(), Some("y".repeat(4096)));
    }

    #[test]
    fn absurd_strings_are_refused() {
        let mut mem = FakeMemory::new();
        put_str(&mut mem, 12, 0x1_0000, ASCII, (1 << 30) + 1, &[b'y'; 4096]);
        // Not compact (a legacy string whose data lives elsewhere).
        put_str(&mut mem, 12, 0x2000, 1 << 2 | 0x40, 2, b"ab");
        // Kinds 0 and 3 do not exist.
        put_str(&mut mem, 12, 0x3000, 0x20 | 0x40, 2, b"ab");
        put_str(&mut mem, 12, 0x4000, 3 << 2 | 0x20, 2, b"ab\0\0\0\0");
        for addr in [0x1_0000, 0x2000, 0x3000, 0x4000, 0] {
            assert!(
                matches!(
                    read(&mem, 12, addr),
                    Err(ObjectError::Malformed { what: "str", addr: a }) if a == addr
                ),
                "{addr:#x}"
            );
        }
    }

    #[test]
    fn unreadable_strings_are_memory_errors() {
        let mut mem = FakeMemory::new();
        // Header mapped, data cut short.
        put_str(&mut mem, 11, 0x1000, ASCII, 10, b"short");
        assert!(matches!(
            read(&mem, 11, 0x1000),
            Err(ObjectError::Memory(MemoryError::Fault { .. }))
        ));
        // Nothing mapped.
        assert!(matches!(
            read(&mem, 11, 0x9000),
            Err(ObjectError::Memory(MemoryError::Fault { .. }))
        ));
    }

    #[test]
    fn bytes_objects() {
        let mut mem = FakeMemory::new();
        put_bytes(&mut mem, 0x1000, 5, &[0x01, 0x02, 0x00, 0xfe, 0xff]);
        put_bytes(&mut mem, 0x2000, 0, &[]);
        put_bytes(&mut mem, 0x3000, 2, &[0xaa, 0xbb, 0xcc]);
        for minor in [8, 11, 12, 15] {
            let o = objects(minor);
            assert_eq!(
                read_bytes(&mem, o, 0x1000).ok(),
                Some(vec![0x01, 0x02, 0x00, 0xfe, 0xff])
            );
            assert_eq!(read_bytes(&mem, o, 0x2000).ok(), Some(vec![]));
            assert_eq!(read_bytes(&mem, o, 0x3000).ok(), Some(vec![0xaa, 0xbb]));
        }
    }

    #[test]
    fn absurd_or_unreadable_bytes_are_refused() {
        let mut mem = FakeMemory::new();
        // 1 MiB is the most read; a negative ob_size is huge as u64.
        put_bytes(&mut mem, 0x1000, (1 << 20) + 1, &[0; 16]);
        put_bytes(&mut mem, 0x2000, u64::MAX, &[0; 16]);
        let o = objects(12);
        for addr in [0x1000, 0x2000, 0] {
            assert!(
                matches!(
                    read_bytes(&mem, o, addr),
                    Err(ObjectError::Malformed { what: "bytes", addr: a }) if a == addr
                ),
                "{addr:#x}"
            );
        }
        // Within the limit but not mapped: a memory error, not a short read.
        put_bytes(&mut mem, 0x3000, 1 << 20, &[0; 16]);
        assert!(matches!(
            read_bytes(&mem, o, 0x3000),
            Err(ObjectError::Memory(_))
        ));
    }

    /// Fields of a hand-built code object.
    struct Code {
        ty: u64,
        filename: u64,
        name: u64,
        qualname: u64,
        linetable: u64,
        firstlineno: u32,
        /// `co_version` (3.12+).
        version: u32,
    }

    /// A code object at `addr`, at CPython's byte positions:
    /// 3.8–3.10  co_firstlineno +40, co_filename +104, co_name +112, co_lnotab +120;
    /// 3.11      co_firstlineno +72, co_filename +112, co_name +120,
    ///           co_qualname +128, co_linetable +136;
    /// 3.12+     co_firstlineno +68, co_version +92, then as 3.11.
    fn put_code(mem: &mut FakeMemory, minor: u32, addr: u64, c: &Code) {
        put_code_with(mem, minor, addr, c, &[]);
    }

    /// `co_code_adaptive` of 3.11–3.15 (`offsetof`, docs/).
    fn adaptive_at(minor: u32) -> usize {
        match minor {
            11 => 184,
            12 => 192,
            13 => 200,
            _ => 208,
        }
    }

    /// A code object whose bytecode is `bytecode`: from 3.11 inline at
    /// `co_code_adaptive` with `ob_size` (+16) code units; before, a bytes
    /// object that `co_code` (+48) points at.
    fn put_code_with(mem: &mut FakeMemory, minor: u32, addr: u64, c: &Code, bytecode: &[u8]) {
        let mut obj = vec![0u8; 256 + bytecode.len()];
        if minor >= 11 {
            set(&mut obj, 16, &(bytecode.len() as u64 / 2).to_le_bytes());
            set(&mut obj, adaptive_at(minor), bytecode);
        } else if !bytecode.is_empty() {
            let at = addr + 0x8000;
            put_bytes(mem, at, bytecode.len() as u64, bytecode);
            set(&mut obj, 48, &at.to_le_bytes());
        }
        set(&mut obj, 0, &1u64.to_le_bytes());
        set(&mut obj, 8, &c.ty.to_le_bytes());
        if minor <= 10 {
            set(&mut obj, 40, &c.firstlineno.to_le_bytes());
            set(&mut obj, 104, &c.filename.to_le_bytes());
            set(&mut obj, 112, &c.name.to_le_bytes());
            set(&mut obj, 120, &c.linetable.to_le_bytes());
        } else {
            if minor == 11 {
                set(&mut obj, 72, &c.firstlineno.to_le_bytes());
            } else {
                set(&mut obj, 68, &c.firstlineno.to_le_bytes());
                set(&mut obj, 92, &c.version.to_le_bytes());
            }
            set(&mut obj, 112, &c.filename.to_le_bytes());
            set(&mut obj, 120, &c.name.to_le_bytes());
            set(&mut obj, 128, &c.qualname.to_le_bytes());
            set(&mut obj, 136, &c.linetable.to_le_bytes());
        }
        mem.put(addr, &obj);
    }

    const CODE: u64 = 0x7f10_0000;
    const NAME: u64 = 0x7f20_0000;
    const NAME_HASH: u64 = 0x0123_4567_89ab_cdef;
    const QUALNAME: u64 = 0x7f20_1000;
    const FILENAME: u64 = 0x7f20_2000;
    const LINETABLE: u64 = 0x7f20_3000;

    /// A process holding one code object `Worker.run` (`run` in app.py,
    /// line 42, co_version 7) and the objects it points at.
    fn process(minor: u32) -> FakeMemory {
        let mut mem = FakeMemory::new();
        put_str_hashed(&mut mem, minor, NAME, ASCII, 3, NAME_HASH, b"run");
        put_str(&mut mem, minor, QUALNAME, ASCII, 10, b"Worker.run");
        put_str(&mut mem, minor, FILENAME, ASCII, 6, b"app.py");
        put_bytes(&mut mem, LINETABLE, 4, &[0x80, 0x00, 0xd8, 0x04]);
        put_code(&mut mem, minor, CODE, &code());
        mem
    }

    fn code() -> Code {
        Code {
            ty: CODE_TYPE,
            filename: FILENAME,
            name: NAME,
            qualname: QUALNAME,
            linetable: LINETABLE,
            firstlineno: 42,
            version: 7,
        }
    }

    fn info(name: &str, fingerprint: u32) -> CodeInfo {
        CodeInfo {
            name: name.into(),
            filename: "app.py".into(),
            firstlineno: 42,
            linetable: vec![0x80, 0x00, 0xd8, 0x04],
            fingerprint,
            bytecode: Vec::new(),
        }
    }

    /// The kernel's fingerprint (`frame_step`): co_name's address, up to
    /// 3.11 its hash and the addresses of co_filename and the line table
    /// (0 after), and co_firstlineno up to 3.11, co_version after.
    fn kernel_fp(minor: u32) -> u32 {
        match minor {
            ..=11 => fingerprint(NAME, identity_mix(NAME_HASH, FILENAME, LINETABLE), 42),
            _ => fingerprint(NAME, 0, 7),
        }
    }

    fn code_of(mem: &FakeMemory, minor: u32, fp: u32) -> Result<CodeInfo, ObjectError> {
        read_code(mem, layout(minor), CODE_TYPE, CODE, fp)
    }

    #[test]
    fn bytecode_is_read_where_each_version_keeps_it() {
        let bytecode: Vec<u8> = (0..40).collect();
        for minor in 8..=15 {
            let mut mem = FakeMemory::new();
            put_code_with(&mut mem, minor, CODE, &code(), &bytecode);
            assert_eq!(
                read_bytecode(&mem, layout(minor), CODE).ok(),
                Some(bytecode.clone()),
                "3.{minor}"
            );
        }
        // A size past the bound is malformed, not an allocation.
        let mut mem = process(12);
        let mut obj = vec![0u8; 256];
        set(&mut obj, 16, &(1u64 << 40).to_le_bytes());
        mem.put(CODE, &obj);
        assert!(matches!(
            read_bytecode(&mem, layout(12), CODE),
            Err(ObjectError::Malformed { .. })
        ));
        // A co_code pointer to nothing.
        let mut mem = process(9);
        set(&mut obj, 48, &0xdead_0000u64.to_le_bytes());
        mem.put(CODE, &obj);
        assert!(read_bytecode(&mem, layout(9), CODE).is_err());
    }

    #[test]
    fn code_objects_with_the_kernel_fingerprint_are_read() {
        // co_name up to 3.10, co_qualname from 3.11.
        for (minor, name) in [
            (8, "run"),
            (9, "run"),
            (10, "run"),
            (11, "Worker.run"),
            (12, "Worker.run"),
            (13, "Worker.run"),
            (14, "Worker.run"),
            (15, "Worker.run"),
        ] {
            let mem = process(minor);
            let fp = kernel_fp(minor);
            let got = code_of(&mem, minor, fp);
            assert_eq!(got.ok(), Some(info(name, fp)), "3.{minor}");
            // 0: the kernel could not read it; nothing to check against.
            assert_eq!(
                code_of(&mem, minor, 0).ok(),
                Some(info(name, fp)),
                "3.{minor}"
            );
        }
    }

    #[test]
    fn code_objects_with_another_fingerprint_are_stale() {
        for minor in [8, 11, 12, 14] {
            let mem = process(minor);
            // Another name at another address, and (up to 3.11) another
            // hash of the name or another first line; (3.12+) another version.
            let mut others = vec![
                fingerprint(NAME + 0x100, NAME_HASH, 42),
                fingerprint(NAME + 0x100, 0, 7),
            ];
            if minor <= 11 {
                let mix = identity_mix(NAME_HASH, FILENAME, LINETABLE);
                others.push(fingerprint(NAME, mix ^ 1, 42));
                others.push(fingerprint(NAME, mix, 43));
                others.push(fingerprint(NAME, 0, 42));
                // The same name and first line in another file, or with
                // another line table (a module body freed and the next one
                // made at its address: both `<module>` at line 1).
                others.push(fingerprint(
                    NAME,
                    identity_mix(NAME_HASH, FILENAME + 0x40, LINETABLE),
                    42,
                ));
                others.push(fingerprint(
                    NAME,
                    identity_mix(NAME_HASH, FILENAME, LINETABLE + 0x40),
                    42,
                ));
                others.push(fingerprint(NAME, NAME_HASH, 42));
            } else {
                others.push(fingerprint(NAME, 0, 8));
                others.push(fingerprint(NAME, NAME_HASH, 7));
                others.push(fingerprint(NAME, 0, 42));
            }
            for fp in others {
                assert_ne!(fp, kernel_fp(minor));
                assert!(
                    matches!(code_of(&mem, minor, fp), Err(ObjectError::Stale(CODE))),
                    "3.{minor} {fp:#x}"
                );
            }
        }
    }

    #[test]
    fn the_name_hash_counts_only_up_to_311() {
        // Same name pointer and fields, but the str now carries another hash
        // (a different name at the recycled address).
        for minor in [8, 11, 12, 13] {
            let mut mem = process(minor);
            mem.put_u64(NAME + 24, NAME_HASH ^ 0xffff);
            let got = code_of(&mem, minor, kernel_fp(minor));
            if minor <= 11 {
                assert!(matches!(got, Err(ObjectError::Stale(CODE))), "3.{minor}");
            } else {
                assert!(got.is_ok(), "3.{minor}");
            }
        }
    }

    /// Found by `scripts/fuzz.sh` (target `code_object`): pointers near
    /// the top of the address space made `pointer + field offset` overflow.
    /// They are malformed objects now.
    #[test]
    fn pointers_at_the_top_of_the_address_space_are_malformed() {
        let top = u64::MAX - 4;
        for minor in [8, 11, 12] {
            // A code object whose name points there (3.8–3.11 read its hash).
            let mut mem = process(minor);
            mem.put_u64(CODE + if minor <= 10 { 112 } else { 120 }, top);
            let got = code_of(&mem, minor, 0);
            if minor <= 11 {
                assert!(
                    matches!(got, Err(ObjectError::Malformed { what: "str", addr }) if addr == top),
                    "3.{minor}: {got:?}"
                );
            }
            let mem = FakeMemory::new();
            // A str there cannot even be read; a bytes object's size field
            // lies past the top.
            assert!(read_str(&mem, objects(minor), top).is_err());
            let r = read_bytes(&mem, objects(minor), top);
            assert!(
                matches!(r, Err(ObjectError::Malformed { addr, .. }) if addr == top),
                "3.{minor}: {r:?}"
            );
        }
    }

    #[test]
    fn objects_of_another_type_are_not_code() {
        for minor in [8, 11, 12] {
            let mut mem = process(minor);
            // A str (or anything else) now lives at the address.
            mem.put_u64(CODE + 8, STR_TYPE);
            for fp in [0, kernel_fp(minor)] {
                assert!(
                    matches!(code_of(&mem, minor, fp), Err(ObjectError::NotCode(CODE))),
                    "3.{minor}"
                );
            }
        }
    }

    #[test]
    fn unreadable_code_objects_are_memory_errors() {
        for minor in [8, 11, 12] {
            let mem = process(minor);
            assert!(matches!(
                read_code(&mem, layout(minor), CODE_TYPE, 0xdead_0000, 0),
                Err(ObjectError::Memory(_))
            ));
            // The header read covers co_linetable (3.8: +120..+128; 3.11+:
            // +136..+144): an object mapped only up to there is read, one
            // byte less is not.
            let end = if minor <= 10 { 128 } else { 144 };
            let mut obj = vec![0u8; 256];
            mem.read(CODE, &mut obj).expect("mapped");
            let mut short = process(minor);
            short.put(0x5000_0000, &obj[..end]);
            assert!(read_code(&short, layout(minor), CODE_TYPE, 0x5000_0000, 0).is_ok());
            let mut shorter = process(minor);
            shorter.put(0x5000_0000, &obj[..end - 1]);
            assert!(matches!(
                read_code(&shorter, layout(minor), CODE_TYPE, 0x5000_0000, 0),
                Err(ObjectError::Memory(_))
            ));
        }
    }

    #[test]
    fn a_code_object_whose_strings_are_gone_fails() {
        // Up to 3.11 the fingerprint needs co_name's hash.
        let mut mem = FakeMemory::new();
        put_code(&mut mem, 11, CODE, &code());
        assert!(matches!(code_of(&mem, 11, 0), Err(ObjectError::Memory(_))));
        // 3.12: the fingerprint is fine, the strings are not.
        let mut mem = FakeMemory::new();
        put_code(&mut mem, 12, CODE, &code());
        assert!(matches!(
            code_of(&mem, 12, fingerprint(NAME, 0, 7)),
            Err(ObjectError::Memory(_))
        ));
    }
}
