//! `_Py_DebugOffsets` (3.13+): the table at the start of `_PyRuntime` in
//! which a process states the offsets of its own structs.
//!
//! For a version with a row in the layout table, every offset the row takes
//! for granted is confirmed here before the process is profiled. For a
//! version with no row (a new patch release, a pre-release, a next minor
//! version), the layout is built from the table alone: the positions of the
//! fields inside the struct come from a known arrangement of it
//! ([`DEBUG_OFFSET_ARRANGEMENTS`]), every value is bounded by the size its
//! section declares, and the result is tried on the live process (thread
//! states that point back at their interpreter, frames whose code objects
//! are code objects) before it is used. The table is the process's own
//! memory: hostile input, bounded and checked like any other.

use tachyon_common::{
    PyOffsets, CODE_WINDOW, FRAME_BUF_SIZE, OFFSETS_CODE_REPORTS, OFFSETS_NO_EXC_INFO,
};

use super::layout::{
    code_capture, code_reports_fit, CodeLayout, DebugOffsetPositions, Layout, ObjectLayout,
    DEBUG_OFFSET_ARRANGEMENTS,
};
use super::memory::{le_u64, RemoteMemory};

/// Bytes read from the start of `_PyRuntime`: the largest known struct,
/// with room for a grown one.
pub const TABLE_READ: usize = 1024;

/// The object header every layout assumes (`ob_refcnt`, `ob_type`): a
/// trace-refs or free-threaded build has another.
const OBJECT_HEADER: u64 = 16;

/// Thread states and frames looked at by [`probe`].
const PROBE_THREADS: usize = 64;
const PROBE_FRAMES: usize = 64;

/// The `_Py_DebugOffsets` of a process: the bytes, and the version they state.
#[derive(Clone, Debug)]
pub struct DebugTable {
    bytes: Vec<u8>,
    /// `PY_VERSION_HEX` of the live process.
    pub hex: u32,
}

/// `PY_VERSION_HEX` → `3.12.1`, with a pre-release tag when there is one.
pub fn version_string(hex: u32) -> String {
    let base = format!("{}.{}.{}", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
    match (hex >> 4) & 0xf {
        0xa => format!("{base}a{}", hex & 0xf),
        0xb => format!("{base}b{}", hex & 0xf),
        0xc => format!("{base}rc{}", hex & 0xf),
        _ => base,
    }
}

impl DebugTable {
    /// Reads and checks the header: the `xdebugpy` cookie, a Python 3
    /// version and a GIL build.
    pub fn read(mem: &dyn RemoteMemory, runtime_addr: u64) -> Result<Self, String> {
        let bytes = mem
            .read_vec(runtime_addr, TABLE_READ)
            .map_err(|e| e.to_string())?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.get(..8) != Some(b"xdebugpy".as_slice()) {
            return Err("no xdebugpy cookie".into());
        }
        let hex = le_u64(&bytes, 8).unwrap_or(0);
        if hex >> 24 != 3 || hex > u32::MAX as u64 {
            return Err(format!("the stated version {hex:#x} is not Python 3"));
        }
        if le_u64(&bytes, 16).unwrap_or(0) != 0 {
            return Err("free-threaded builds are not supported yet".into());
        }
        Ok(Self {
            bytes,
            hex: hex as u32,
        })
    }

    pub fn minor(&self) -> u32 {
        (self.hex >> 16) & 0xff
    }

    /// The value at byte `at` (a position from a [`DebugOffsetPositions`]).
    pub fn word(&self, at: u32) -> Result<u64, String> {
        le_u64(&self.bytes, at).ok_or_else(|| format!("position {at} is past the table"))
    }

    /// The object header must be the 16 bytes every layout assumes.
    fn check_object_header(&self, pos: &DebugOffsetPositions) -> Result<(), String> {
        let size = self.word(pos.pyobject_size)?;
        if size != OBJECT_HEADER {
            return Err(format!(
                "objects have a {size}-byte header, not {OBJECT_HEADER} (a Py_TRACE_REFS build?)"
            ));
        }
        Ok(())
    }

    /// Confirms every offset a table row relies on.
    pub fn check_row(&self, pos: &DebugOffsetPositions, row: &Layout) -> Result<(), String> {
        if self.minor() != row.minor {
            return Err(format!("live version is {}", version_string(self.hex)));
        }
        self.check_object_header(pos)?;
        for (what, at, want) in pos.expectations(row) {
            let got = self.word(at)?;
            if got != want {
                return Err(format!("{what} is {got}, the table says {want}"));
            }
        }
        let gc = self
            .word(pos.interp_gc)?
            .wrapping_add(self.word(pos.gc_collecting)?);
        if gc != row.kernel.gc_collecting as u64 {
            return Err(format!(
                "interpreter_state.gc + gc.collecting is {gc}, the table says {}",
                row.kernel.gc_collecting
            ));
        }
        Ok(())
    }

    /// `interpreter_state.imports_modules` (where `sys.modules` is), read
    /// with arrangement `pos`, bounded by the size the table states for
    /// the interpreter state.
    pub fn interp_modules(&self, pos: &DebugOffsetPositions) -> Result<u32, String> {
        let size = self.word(48)?;
        let at = self.word(pos.interp_modules)?;
        if size > 1 << 24 || at.checked_add(8).is_none_or(|end| end > size) {
            return Err(format!(
                "interpreter_state.imports_modules is {at}, outside its {size}-byte struct"
            ));
        }
        Ok(at as u32)
    }

    /// A layout built from the table read with arrangement `pos`, and
    /// `template` for what `_Py_DebugOffsets` does not state (the frame
    /// owner values, tagged code pointers, `co_version`, the line-table
    /// format). The exception state is not stated either: layouts built
    /// here do without it ([`OFFSETS_NO_EXC_INFO`]).
    pub fn layout(&self, pos: &DebugOffsetPositions, template: &Layout) -> Result<Layout, String> {
        self.check_object_header(pos)?;
        let w = |at: u32| self.word(at);
        // Each section's size bounds its offsets; the sizes themselves are
        // bounded by what any CPython has.
        let bounded = |what: &str, size: u64, max: u64| -> Result<u64, String> {
            if size == 0 || size > max {
                return Err(format!("{what} is {size} bytes"));
            }
            Ok(size)
        };
        let interp_size = bounded("interpreter_state", w(48)?, 1 << 24)?;
        let tstate_size = bounded("thread_state", w(pos.tstate_size)?, 1 << 16)?;
        let frame_size = bounded("interpreter_frame", w(pos.frame_size)?, 1 << 10)?;
        let code_size = bounded("code_object", w(pos.code_size)?, 1 << 12)?;
        let runtime_size = bounded("runtime_state", w(24)?, 1 << 24)?;
        let field = |what: &str, at: u32, width: u64, within: u64| -> Result<u32, String> {
            let v = w(at)?;
            if v.checked_add(width).is_none_or(|end| end > within) {
                return Err(format!("{what} is {v}, outside its {within}-byte struct"));
            }
            Ok(v as u32)
        };
        let k = PyOffsets {
            runtime_interp_head: field(
                "interpreters_head",
                pos.interpreters_head,
                8,
                runtime_size,
            )?,
            interp_next: field("interpreter_state.next", pos.interp_next, 8, interp_size)?,
            interp_threads_head: field(
                "interpreter_state.threads_head",
                pos.interp_threads_head,
                8,
                interp_size,
            )?,
            tstate_next: field("thread_state.next", pos.tstate_next, 8, tstate_size)?,
            tstate_thread_id: field("thread_state.thread_id", pos.thread_id, 8, tstate_size)?,
            tstate_frame: field(
                "thread_state.current_frame",
                pos.current_frame,
                8,
                tstate_size,
            )?,
            cframe_current: 0,
            frame_previous: field(
                "interpreter_frame.previous",
                pos.frame_previous,
                8,
                frame_size,
            )?,
            frame_code: field(
                "interpreter_frame.executable",
                pos.frame_executable,
                8,
                frame_size,
            )?,
            frame_instr: field(
                "interpreter_frame.instr_ptr",
                pos.frame_instr_ptr,
                8,
                frame_size,
            )?,
            frame_owner: field("interpreter_frame.owner", pos.frame_owner, 1, frame_size)?,
            frame_read_size: 0,
            owner_skip_min: template.kernel.owner_skip_min,
            code_adaptive: field(
                "code_object.co_code_adaptive",
                pos.code_adaptive,
                0,
                code_size,
            )?,
            code_name: field("code_object.name", pos.code_filename + 8, 8, code_size)?,
            code_fp_field: template.kernel.code_fp_field,
            str_hash: template.kernel.str_hash,
            flags: (template.kernel.flags | OFFSETS_NO_EXC_INFO) & !OFFSETS_CODE_REPORTS,
            tstate_interp: field("thread_state.interp", pos.tstate_interp, 8, tstate_size)?,
            gil_last_holder: field(
                "interpreter_state.gil_runtime_state_holder",
                pos.gil_holder,
                8,
                interp_size,
            )?,
            gil_locked: field(
                "interpreter_state.gil_runtime_state_locked",
                pos.gil_locked,
                4,
                interp_size,
            )?,
            gc_collecting: {
                let gc = field("interpreter_state.gc", pos.interp_gc, 8, interp_size)?;
                field(
                    "gc.collecting",
                    pos.gc_collecting,
                    4,
                    interp_size - gc as u64,
                )? + gc
            },
            tstate_exc_info: 0,
            exc_value: 0,
            exc_previous: 0,
            code_window: 0,
            capture: Default::default(),
            code_ptr_mask: template.kernel.code_ptr_mask,
        };
        // Read each frame up to its last field used.
        let frame_end = [
            k.frame_previous + 8,
            k.frame_code + 8,
            k.frame_instr + 8,
            k.frame_owner + 1,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .next_multiple_of(8);
        if frame_end as usize > FRAME_BUF_SIZE {
            return Err(format!("a frame's fields end at {frame_end} bytes"));
        }
        // co_name and the fingerprint field in the one window read.
        let window = k.code_name.min(k.code_fp_field);
        if (k.code_name + 8).max(k.code_fp_field + 4) - window > CODE_WINDOW as u32 {
            return Err("co_name and co_version are too far apart".into());
        }
        let filename = field("code_object.filename", pos.code_filename, 8, code_size)?;
        let qualname = field("code_object.qualname", pos.code_filename + 16, 8, code_size)?;
        let linetable = field(
            "code_object.linetable",
            pos.code_filename + 24,
            8,
            code_size,
        )?;
        let firstlineno = field(
            "code_object.firstlineno",
            pos.code_filename + 32,
            4,
            code_size,
        )?;
        let code = CodeLayout {
            filename,
            name: k.code_name,
            qualname: Some(qualname),
            linetable,
            firstlineno,
            fp_field: template.code.fp_field,
            fp_unique: template.code.fp_unique,
            header_size: [filename, k.code_name, qualname, linetable]
                .into_iter()
                .map(|f| f + 8)
                .chain([firstlineno + 4, template.code.fp_field + 4])
                .max()
                .unwrap_or(0),
            bytecode: template.code.bytecode,
        };
        let ascii = field(
            "unicode_object.asciiobject_size",
            pos.unicode_ascii_size,
            0,
            256,
        )?;
        let objects = ObjectLayout {
            ob_type: field("pyobject.ob_type", pos.pyobject_ob_type, 8, OBJECT_HEADER)?,
            unicode_hash: template.objects.unicode_hash,
            unicode_length: field("unicode_object.length", pos.unicode_length, 8, ascii as u64)?,
            unicode_state: field("unicode_object.state", pos.unicode_state, 4, ascii as u64)?,
            unicode_ascii_data: ascii,
            unicode_compact_data: template.objects.unicode_compact_data,
            bytes_size: field("bytes_object.ob_size", pos.bytes_ob_size, 8, 64)?,
            bytes_data: field("bytes_object.ob_sval", pos.bytes_ob_sval, 1, 64)?,
            unicode_bits: template.objects.unicode_bits,
        };
        let native_thread_id = field(
            "thread_state.native_thread_id",
            pos.native_thread_id,
            8,
            tstate_size,
        )?;
        let mut kernel = PyOffsets {
            frame_read_size: frame_end,
            code_window: window,
            ..k
        };
        // Code reports when the window can start low enough to hold every
        // field they follow too (without them, names are read from
        // userspace only).
        let capture = code_capture(&code, &objects);
        let with_reports = PyOffsets {
            code_window: window.min(capture.firstlineno),
            capture,
            flags: kernel.flags | OFFSETS_CODE_REPORTS,
            ..kernel
        };
        if code_reports_fit(&with_reports) {
            kernel = with_reports;
        }
        Ok(Layout {
            minor: self.minor(),
            kernel,
            code,
            objects,
            linetable: template.linetable,
            debug_offsets: Some(*pos),
            native_thread_id: Some(native_thread_id),
        })
    }
}

/// The arrangements to try for a process stating `hex`: the newest one of
/// its own release line that is not newer than it, then every other one,
/// newest first.
pub fn arrangements_for(hex: u32) -> Vec<&'static DebugOffsetPositions> {
    let minor = (hex >> 16) & 0xff;
    let own = DEBUG_OFFSET_ARRANGEMENTS
        .iter()
        .filter(|p| p.minor == minor && p.since_hex <= hex)
        .max_by_key(|p| p.since_hex);
    let mut out: Vec<_> = own.into_iter().collect();
    out.extend(
        DEBUG_OFFSET_ARRANGEMENTS
            .iter()
            .filter(|p| own.is_none_or(|o| o != *p)),
    );
    out
}

/// Tries `layout` on the live process: the thread states must point back
/// at their interpreter, and the frames on them must hold code objects
/// (`ob_type == PyCode_Type`, when the binary exports it). Returns the
/// number of code objects confirmed; a process with none to show yet
/// (still starting) is `Ok(0)`.
pub fn probe(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    runtime_addr: u64,
    code_type: u64,
) -> Result<usize, String> {
    let k = &layout.kernel;
    let read = |addr: u64, off: u32| {
        mem.read_u64(addr.wrapping_add(off as u64))
            .map_err(|e| e.to_string())
    };
    let interp = read(runtime_addr, k.runtime_interp_head)?;
    if interp == 0 {
        return Ok(0);
    }
    let mut confirmed = 0;
    let mut tstate = read(interp, k.interp_threads_head)?;
    for _ in 0..PROBE_THREADS {
        if tstate == 0 {
            break;
        }
        let back = read(tstate, k.tstate_interp)?;
        if back != interp {
            return Err(format!(
                "a thread state's interpreter is {back:#x}, not {interp:#x}"
            ));
        }
        let mut frame = read(tstate, k.tstate_frame)?;
        for _ in 0..PROBE_FRAMES {
            if frame == 0 {
                break;
            }
            let mut owner = [0u8; 1];
            mem.read(frame.wrapping_add(k.frame_owner as u64), &mut owner)
                .map_err(|e| e.to_string())?;
            if (owner[0] as u32) < k.owner_skip_min && code_type != 0 {
                let code = read(frame, k.frame_code)? & k.code_ptr_mask;
                let ty = read(code, layout.objects.ob_type)?;
                if ty != code_type {
                    return Err(format!(
                        "a frame's code object has type {ty:#x}, not PyCode_Type"
                    ));
                }
                confirmed += 1;
            }
            frame = read(frame, k.frame_previous)?;
        }
        tstate = read(tstate, k.tstate_next)?;
    }
    Ok(confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::{layout_for, POSITIONS_313, POSITIONS_314, POSITIONS_315};
    use crate::python::memory::FakeMemory;

    /// A table as a live process of `row`'s version would state it: the
    /// row's values at the positions of `pos` (`0xa5` filler elsewhere, so
    /// a read of the wrong place fails).
    fn table(hex: u32, pos: &DebugOffsetPositions, row: &Layout) -> Vec<u8> {
        let mut b = vec![0xa5; TABLE_READ];
        let mut put =
            |at: u32, v: u64| b[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
        put(0, u64::from_le_bytes(*b"xdebugpy"));
        put(8, hex as u64);
        put(16, 0);
        put(24, 300_000); // runtime_state.size
        put(48, 200_000); // interpreter_state.size
        put(pos.tstate_size, 800);
        put(pos.frame_size, 88);
        put(pos.code_size, 216);
        put(pos.pyobject_size, 16);
        put(pos.interp_gc, 7000);
        put(pos.interp_modules, 7656);
        put(pos.gc_collecting, row.kernel.gc_collecting as u64 - 7000);
        for (_, at, v) in pos.expectations(row) {
            put(at, v);
        }
        b
    }

    const CASES: &[(u32, DebugOffsetPositions)] = &[
        (0x030d_00f0, POSITIONS_313),
        (0x030e_0af0, POSITIONS_314),
        (0x030f_02f0, POSITIONS_315),
    ];

    fn row(hex: u32) -> &'static Layout {
        layout_for((hex >> 16) & 0xff).expect("row")
    }

    #[test]
    fn matching_tables_confirm_their_rows() {
        for &(hex, pos) in CASES {
            let t = DebugTable::from_bytes(table(hex, &pos, row(hex))).expect("header");
            assert_eq!(t.hex, hex);
            t.check_row(&pos, row(hex)).expect("row confirmed");
        }
    }

    #[test]
    fn any_one_field_off_fails_naming_it() {
        for &(hex, pos) in CASES {
            for (what, at, value) in pos.expectations(row(hex)) {
                let mut b = table(hex, &pos, row(hex));
                b[at as usize..at as usize + 8].copy_from_slice(&(value + 8).to_le_bytes());
                let t = DebugTable::from_bytes(b).expect("header");
                let e = t.check_row(&pos, row(hex)).expect_err("off");
                assert!(e.contains(&format!("{what} is {}", value + 8)), "{e}");
            }
        }
    }

    #[test]
    fn bad_headers_and_object_headers_fail() {
        let (hex, pos) = CASES[2];
        let mut b = table(hex, &pos, row(hex));
        b[7] = b'z';
        assert!(DebugTable::from_bytes(b)
            .expect_err("cookie")
            .contains("cookie"));
        let mut b = table(hex, &pos, row(hex));
        b[8..16].copy_from_slice(&0x0207_12f0u64.to_le_bytes());
        assert!(DebugTable::from_bytes(b)
            .expect_err("py2")
            .contains("not Python 3"));
        let mut b = table(hex, &pos, row(hex));
        b[16] = 1;
        assert!(DebugTable::from_bytes(b)
            .expect_err("ft")
            .contains("free-threaded"));
        let mut b = table(hex, &pos, row(hex));
        let at = pos.pyobject_size as usize;
        b[at..at + 8].copy_from_slice(&32u64.to_le_bytes());
        let t = DebugTable::from_bytes(b).expect("header");
        let e = t.check_row(&pos, row(hex)).expect_err("trace refs");
        assert!(e.contains("32-byte header"), "{e}");
        assert!(t
            .layout(&pos, row(hex))
            .expect_err("trace refs")
            .contains("32-byte"));
        // Another minor version than the row's.
        let t = DebugTable::from_bytes(table(0x030e_00f0, &pos, row(hex))).expect("header");
        assert!(t
            .check_row(&pos, row(hex))
            .expect_err("minor")
            .contains("3.14.0"));
    }

    #[test]
    fn layouts_built_from_tables_equal_the_rows_but_for_exceptions() {
        for &(hex, pos) in CASES {
            let r = row(hex);
            let t = DebugTable::from_bytes(table(hex, &pos, r)).expect("header");
            // The template is another version's row: what it lends is the
            // same in every 3.13+ row.
            let template =
                row(CASES[(CASES.iter().position(|c| c.0 == hex).unwrap_or(0) + 1) % 3].0);
            let built = t.layout(&pos, template).expect("layout");
            let mut want = *r;
            want.kernel.flags |= OFFSETS_NO_EXC_INFO;
            want.kernel.tstate_exc_info = 0;
            want.kernel.exc_value = 0;
            want.kernel.exc_previous = 0;
            want.kernel.code_ptr_mask = template.kernel.code_ptr_mask;
            want.code.header_size = built.code.header_size;
            assert_eq!(built, want, "3.{}", r.minor);
        }
    }

    #[test]
    fn offsets_outside_their_struct_are_refused() {
        let (hex, pos) = CASES[1];
        let mut b = table(hex, &pos, row(hex));
        let at = pos.current_frame as usize;
        b[at..at + 8].copy_from_slice(&5000u64.to_le_bytes());
        let t = DebugTable::from_bytes(b).expect("header");
        let e = t.layout(&pos, row(hex)).expect_err("outside");
        assert!(e.contains("thread_state.current_frame is 5000"), "{e}");
        // Another release line's arrangement reads garbage and is refused.
        let t = DebugTable::from_bytes(table(hex, &pos, row(hex))).expect("header");
        assert!(t.layout(&POSITIONS_313, row(hex)).is_err());
    }

    #[test]
    fn every_position_lies_inside_its_struct_and_the_bytes_read() {
        for p in DEBUG_OFFSET_ARRANGEMENTS {
            assert!(p.struct_size as usize <= TABLE_READ, "3.{}", p.minor);
            let row = layout_for(p.minor).expect("row");
            let positions = p
                .expectations(row)
                .into_iter()
                .map(|(_, at, _)| at)
                .chain([p.tstate_size, p.frame_size, p.code_size, p.pyobject_size])
                .chain([p.interp_gc, p.gc_collecting, p.interp_modules])
                .chain(p.coroutines.iter().flat_map(|c| c.all()));
            for at in positions {
                assert!(at + 8 <= p.struct_size, "3.{}: {at}", p.minor);
            }
        }
    }

    #[test]
    fn sys_modules_position_is_read_and_bounded() {
        for &(hex, pos) in CASES {
            let mut b = table(hex, &pos, row(hex));
            let t = DebugTable::from_bytes(b.clone()).expect("header");
            assert_eq!(t.interp_modules(&pos), Ok(7656));
            let at = pos.interp_modules as usize;
            b[at..at + 8].copy_from_slice(&200_000u64.to_le_bytes());
            let t = DebugTable::from_bytes(b).expect("header");
            assert!(t.interp_modules(&pos).is_err());
        }
    }

    #[test]
    fn own_release_line_first_then_newest() {
        let minors = |hex| -> Vec<(u32, u32)> {
            arrangements_for(hex)
                .iter()
                .map(|p| (p.minor, p.since_hex))
                .collect()
        };
        assert_eq!(minors(0x030e_0af0)[0], (14, 0x030e_00f0));
        assert_eq!(minors(0x030f_02f0)[0], (15, 0x030f_00b4));
        // A 3.15 beta before the struct grew: no arrangement of its own.
        assert_eq!(minors(0x030f_00b2)[0], (15, 0x030f_00b4));
        assert_eq!(minors(0x030f_00b2).len(), 3);
        assert_eq!(minors(0x0310_00a1)[0].0, 15);
        assert_eq!(minors(0x030d_12f0).len(), 3);
    }

    #[test]
    fn pre_release_versions_read_as_such() {
        assert_eq!(version_string(0x030f_00b4), "3.15.0b4");
        assert_eq!(version_string(0x030d_00c1), "3.13.0rc1");
        assert_eq!(version_string(0x0310_00a1), "3.16.0a1");
        assert_eq!(version_string(0x030c_01f0), "3.12.1");
    }

    #[test]
    fn probe_follows_threads_and_frames() {
        let (hex, pos) = CASES[2];
        let t = DebugTable::from_bytes(table(hex, &pos, row(hex))).expect("header");
        let l = t.layout(&pos, row(hex)).expect("layout");
        let k = l.kernel;
        let (rt, interp, ts, frame, code, code_type) = (
            0x1000u64,
            0x10_0000u64,
            0x20_0000u64,
            0x30_0000u64,
            0x40_0000u64,
            0x50_0000u64,
        );
        let mut mem = FakeMemory::new()
            .with(rt, &[0; 2048])
            .with(interp, &[0; 8192])
            .with(ts, &[0; 1024])
            .with(frame, &[0; 128])
            .with(code, &[0; 256]);
        mem.put_u64(rt + k.runtime_interp_head as u64, interp)
            .put_u64(interp + k.interp_threads_head as u64, ts)
            .put_u64(ts + k.tstate_interp as u64, interp)
            .put_u64(ts + k.tstate_frame as u64, frame)
            .put_u64(frame + k.frame_code as u64, code | 1)
            .put_u64(code + l.objects.ob_type as u64, code_type);
        assert_eq!(probe(&mem, &l, rt, code_type), Ok(1));
        // A code pointer to something else.
        mem.put_u64(code + l.objects.ob_type as u64, 0x666);
        assert!(probe(&mem, &l, rt, code_type)
            .expect_err("type")
            .contains("not PyCode_Type"));
        // A thread state of another interpreter.
        mem.put_u64(ts + k.tstate_interp as u64, 0x777);
        assert!(probe(&mem, &l, rt, code_type).is_err());
    }
}
