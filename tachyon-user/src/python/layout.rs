//! Per-version CPython layouts, as data.
//!
//! One row per supported minor version. The kernel part ([`PyOffsets`]) goes
//! into the `PY_OFFSETS` map; the rest is what userspace needs to read code
//! objects and strings. Numbers come from `docs/` (measured with `offsetof`
//! against each interpreter's headers and checked on live processes); 3.13+
//! rows are also checked at run time against `_Py_DebugOffsets`.

use super::linetable::LineTableFormat;
use tachyon_common::{
    CodeCapture, PyOffsets, CODE_WINDOW, OFFSETS_BLOCK_READ, OFFSETS_CFRAME, OFFSETS_CODE_REPORTS,
    OFFSETS_GC_IN_INTERP, OFFSETS_GIL_IN_INTERP, OFFSETS_INSTR_PTR, OFFSETS_NAME_HASH,
    OFFSETS_OWNER,
};

/// Oldest and newest supported minor versions of CPython 3.
pub const MIN_MINOR: u32 = 8;
pub const MAX_MINOR: u32 = 15;

/// Where things are in a code object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeLayout {
    pub filename: u32,
    pub name: u32,
    /// `co_qualname` (3.11+).
    pub qualname: Option<u32>,
    /// `co_lnotab` (≤3.9) or `co_linetable` (3.10+): a bytes object.
    pub linetable: u32,
    pub firstlineno: u32,
    /// The u32 mixed into the fingerprint (`co_version` 3.12+, else `co_firstlineno`).
    pub fp_field: u32,
    /// `fp_field` alone tells code objects apart (`co_version`, 3.12+);
    /// without it the hash of `co_name` is mixed in too.
    pub fp_unique: bool,
    /// Bytes to read to cover every field above.
    pub header_size: u32,
    /// Where the bytecode is (read only with `--opcodes`).
    pub bytecode: BytecodeAt,
}

/// Where a code object keeps its bytecode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BytecodeAt {
    /// `co_code` at this offset: a `bytes` object, never rewritten (3.8–3.10).
    Object(u32),
    /// `co_code_adaptive`, inside the code object at `PyOffsets::code_adaptive`:
    /// `Py_SIZE(code)` code units that the interpreter rewrites with
    /// specialised forms as it runs (3.11+).
    Adaptive,
}

/// Where things are in `str` and `bytes` objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectLayout {
    /// `PyObject.ob_type`.
    pub ob_type: u32,
    /// `PyASCIIObject.hash`.
    pub unicode_hash: u32,
    /// `PyASCIIObject.length`.
    pub unicode_length: u32,
    /// `PyASCIIObject.state` (u32 bit field).
    pub unicode_state: u32,
    /// Data of a compact ASCII string (= sizeof PyASCIIObject).
    pub unicode_ascii_data: u32,
    /// Data of a compact non-ASCII string (= sizeof PyCompactUnicodeObject).
    pub unicode_compact_data: u32,
    /// `PyVarObject.ob_size` of bytes.
    pub bytes_size: u32,
    /// `PyBytesObject.ob_sval`.
    pub bytes_data: u32,
    /// The bits of `PyASCIIObject.state`.
    pub unicode_bits: UnicodeBits,
}

/// Where the kind, compact and ascii bits are in `PyASCIIObject.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnicodeBits {
    /// Bytes per character: `(state & kind_mask) >> kind_shift`.
    pub kind_mask: u32,
    pub kind_shift: u32,
    pub compact: u32,
    pub ascii: u32,
}

/// `interned:2, kind:3, compact:1, ascii:1` (every GIL build, 3.8–3.15;
/// ≤3.11 add `ready`, at 0x80).
pub const UNICODE_BITS: UnicodeBits = UnicodeBits {
    kind_mask: 0x1c,
    kind_shift: 2,
    compact: 0x20,
    ascii: 0x40,
};

impl UnicodeBits {
    /// Bytes per character of a string with `state`.
    pub fn kind(&self, state: u32) -> u32 {
        (state & self.kind_mask) >> self.kind_shift
    }
}

/// What the kernel follows to copy a code object's names and line table
/// (`EVENT_CODE`), from a row's code and object layouts.
pub const fn code_capture(c: &CodeLayout, o: &ObjectLayout) -> CodeCapture {
    CodeCapture {
        qualname: match c.qualname {
            Some(q) => q,
            None => c.name,
        },
        filename: c.filename,
        linetable: c.linetable,
        firstlineno: c.firstlineno,
        str_length: o.unicode_length,
        str_state: o.unicode_state,
        str_ascii_data: o.unicode_ascii_data,
        str_compact_data: o.unicode_compact_data,
        str_kind_mask: o.unicode_bits.kind_mask,
        str_kind_shift: o.unicode_bits.kind_shift,
        str_compact_bit: o.unicode_bits.compact,
        str_ascii_bit: o.unicode_bits.ascii,
        bytes_size: o.bytes_size,
        bytes_data: o.bytes_data,
        ob_type: o.ob_type,
        _pad: 0,
    }
}

/// The kernel can report code objects with these offsets: every code
/// field it follows lies in the one window read per code object.
pub fn code_reports_fit(k: &PyOffsets) -> bool {
    let c = &k.capture;
    let window = k.code_window;
    let in_window =
        |off: u32, size: u32| off >= window && off + size <= window + CODE_WINDOW as u32;
    in_window(k.code_name, 8)
        && in_window(k.code_fp_field, 4)
        && in_window(c.qualname, 8)
        && in_window(c.filename, 8)
        && in_window(c.linetable, 8)
        && in_window(c.firstlineno, 4)
        && c.str_kind_mask != 0
}

/// Everything tachyon-bpf knows about one minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub minor: u32,
    pub kernel: PyOffsets,
    pub code: CodeLayout,
    pub objects: ObjectLayout,
    pub linetable: LineTableFormat,
    /// 3.13+: where, inside `_Py_DebugOffsets` (at the start of
    /// `_PyRuntime`), the process states the offsets this row assumes.
    pub debug_offsets: Option<DebugOffsetPositions>,
    /// `PyThreadState + x` → `native_thread_id`, the kernel's tid of the
    /// thread (3.11+; before, the thread state does not hold it).
    pub native_thread_id: Option<u32>,
}

/// Byte positions of fields inside `_Py_DebugOffsets` (3.13+): one
/// arrangement of the struct, as a release line lays it out (measured with
/// `offsetof` against each version's headers; `scripts/offsets/`). The live
/// process states there the offsets of its own structs, so a row of the
/// table can be confirmed, and a version with no row can be read at all
/// (`python::debug_offsets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugOffsetPositions {
    /// The release line that lays the struct out this way, and its first
    /// `PY_VERSION_HEX` (pre-releases changed the struct).
    pub minor: u32,
    pub since_hex: u32,
    /// `sizeof(_Py_DebugOffsets)`: every position lies inside it.
    pub struct_size: u32,
    pub interpreters_head: u32,
    pub interp_next: u32,
    pub interp_threads_head: u32,
    pub interp_gc: u32,
    /// `interpreter_state.imports_modules`: where `sys.modules` is (read
    /// for the `threading` thread names, [`super::thread_names`]).
    pub interp_modules: u32,
    pub gil_locked: u32,
    pub gil_holder: u32,
    pub tstate_size: u32,
    pub tstate_next: u32,
    pub tstate_interp: u32,
    pub current_frame: u32,
    pub thread_id: u32,
    pub native_thread_id: u32,
    pub frame_size: u32,
    pub frame_previous: u32,
    pub frame_executable: u32,
    pub frame_instr_ptr: u32,
    pub frame_owner: u32,
    pub code_size: u32,
    /// `code_object.filename`; name, qualname, linetable and firstlineno follow
    /// at +8, +16, +24, +32.
    pub code_filename: u32,
    pub code_adaptive: u32,
    pub pyobject_size: u32,
    pub pyobject_ob_type: u32,
    pub bytes_ob_size: u32,
    pub bytes_ob_sval: u32,
    pub unicode_state: u32,
    pub unicode_length: u32,
    pub unicode_ascii_size: u32,
    pub gc_collecting: u32,
    /// 3.14+: what `--async-aware` reads of coroutines, sets and ints.
    pub coroutines: Option<CoroutinePositions>,
}

/// Byte positions inside `_Py_DebugOffsets` (3.14+) of what the asyncio
/// task reader needs beyond the frame walk: where a coroutine keeps its
/// frame, a frame its stack top, a type its flags, and the fields of sets
/// (tasks awaited by several) and ints (unnamed tasks' numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoroutinePositions {
    /// `gen_object.size`; `gi_iframe` lies inside it.
    pub gen_size: u32,
    pub gen_iframe: u32,
    pub frame_stackpointer: u32,
    pub type_tp_flags: u32,
    /// `set_object.size`; used, table and mask lie inside it.
    pub set_size: u32,
    pub set_used: u32,
    pub set_table: u32,
    pub set_mask: u32,
    pub long_lv_tag: u32,
    pub long_ob_digit: u32,
}

impl CoroutinePositions {
    /// Every position.
    pub fn all(&self) -> [u32; 10] {
        [
            self.gen_size,
            self.gen_iframe,
            self.frame_stackpointer,
            self.type_tp_flags,
            self.set_size,
            self.set_used,
            self.set_table,
            self.set_mask,
            self.long_lv_tag,
            self.long_ob_digit,
        ]
    }
}

/// 3.13.0 (pyenv) and 3.13.18 (sid).
pub const POSITIONS_313: DebugOffsetPositions = DebugOffsetPositions {
    minor: 13,
    since_hex: 0x030d_00f0,
    struct_size: 584,
    interpreters_head: 40,
    interp_next: 64,
    interp_threads_head: 72,
    interp_gc: 80,
    interp_modules: 88,
    gil_locked: 136,
    gil_holder: 144,
    tstate_size: 152,
    tstate_next: 168,
    tstate_interp: 176,
    current_frame: 184,
    thread_id: 192,
    native_thread_id: 200,
    frame_size: 224,
    frame_previous: 232,
    frame_executable: 240,
    frame_instr_ptr: 248,
    frame_owner: 264,
    code_size: 272,
    code_filename: 280,
    code_adaptive: 344,
    pyobject_size: 352,
    pyobject_ob_type: 360,
    bytes_ob_size: 520,
    bytes_ob_sval: 528,
    unicode_state: 544,
    unicode_length: 552,
    unicode_ascii_size: 560,
    gc_collecting: 576,
    coroutines: None,
};

/// 3.14.10 (sid).
pub const POSITIONS_314: DebugOffsetPositions = DebugOffsetPositions {
    minor: 14,
    since_hex: 0x030e_00f0,
    struct_size: 760,
    interpreters_head: 40,
    interp_next: 64,
    interp_threads_head: 72,
    interp_gc: 88,
    interp_modules: 96,
    gil_locked: 144,
    gil_holder: 152,
    tstate_size: 176,
    tstate_next: 192,
    tstate_interp: 200,
    current_frame: 208,
    thread_id: 216,
    native_thread_id: 224,
    frame_size: 248,
    frame_previous: 256,
    frame_executable: 264,
    frame_instr_ptr: 272,
    frame_owner: 288,
    code_size: 312,
    code_filename: 320,
    code_adaptive: 384,
    pyobject_size: 400,
    pyobject_ob_type: 408,
    bytes_ob_size: 600,
    bytes_ob_sval: 608,
    unicode_state: 624,
    unicode_length: 632,
    unicode_ascii_size: 640,
    gc_collecting: 656,
    coroutines: Some(CoroutinePositions {
        gen_size: 664,
        gen_iframe: 680,
        frame_stackpointer: 296,
        type_tp_flags: 440,
        set_size: 496,
        set_used: 504,
        set_table: 512,
        set_mask: 520,
        long_lv_tag: 576,
        long_ob_digit: 584,
    }),
};

/// 3.15.2 (sid); the struct grew during the 3.15 betas (3.15.0b4).
pub const POSITIONS_315: DebugOffsetPositions = DebugOffsetPositions {
    minor: 15,
    since_hex: 0x030f_00b4,
    struct_size: 888,
    interpreters_head: 40,
    interp_next: 64,
    interp_threads_head: 72,
    interp_gc: 88,
    interp_modules: 96,
    gil_locked: 144,
    gil_holder: 152,
    tstate_size: 176,
    tstate_next: 192,
    tstate_interp: 200,
    current_frame: 208,
    thread_id: 240,
    native_thread_id: 248,
    frame_size: 312,
    frame_previous: 320,
    frame_executable: 328,
    frame_instr_ptr: 336,
    frame_owner: 352,
    code_size: 376,
    code_filename: 384,
    code_adaptive: 448,
    pyobject_size: 464,
    pyobject_ob_type: 472,
    bytes_ob_size: 696,
    bytes_ob_sval: 704,
    unicode_state: 720,
    unicode_length: 728,
    unicode_ascii_size: 736,
    gc_collecting: 760,
    coroutines: Some(CoroutinePositions {
        gen_size: 792,
        gen_iframe: 808,
        frame_stackpointer: 360,
        type_tp_flags: 504,
        set_size: 592,
        set_used: 600,
        set_table: 608,
        set_mask: 616,
        long_lv_tag: 672,
        long_ob_digit: 680,
    }),
};

/// Every known arrangement, newest first.
pub const DEBUG_OFFSET_ARRANGEMENTS: &[DebugOffsetPositions] =
    &[POSITIONS_315, POSITIONS_314, POSITIONS_313];

/// The first minor version with `_Py_DebugOffsets`.
pub const FIRST_DEBUG_OFFSETS_MINOR: u32 = 13;

impl DebugOffsetPositions {
    /// (what, position in `_Py_DebugOffsets`, value the layout expects):
    /// every offset a row takes for granted that the process also states.
    pub fn expectations(&self, l: &Layout) -> Vec<(&'static str, u32, u64)> {
        let k = &l.kernel;
        let c = &l.code;
        let o = &l.objects;
        vec![
            (
                "runtime_state.interpreters_head",
                self.interpreters_head,
                k.runtime_interp_head as u64,
            ),
            (
                "interpreter_state.next",
                self.interp_next,
                k.interp_next as u64,
            ),
            (
                "interpreter_state.threads_head",
                self.interp_threads_head,
                k.interp_threads_head as u64,
            ),
            (
                "interpreter_state.gil_runtime_state_locked",
                self.gil_locked,
                k.gil_locked as u64,
            ),
            (
                "interpreter_state.gil_runtime_state_holder",
                self.gil_holder,
                k.gil_last_holder as u64,
            ),
            ("thread_state.next", self.tstate_next, k.tstate_next as u64),
            (
                "thread_state.interp",
                self.tstate_interp,
                k.tstate_interp as u64,
            ),
            (
                "thread_state.current_frame",
                self.current_frame,
                k.tstate_frame as u64,
            ),
            (
                "thread_state.thread_id",
                self.thread_id,
                k.tstate_thread_id as u64,
            ),
            (
                "thread_state.native_thread_id",
                self.native_thread_id,
                l.native_thread_id.unwrap_or(0) as u64,
            ),
            (
                "interpreter_frame.previous",
                self.frame_previous,
                k.frame_previous as u64,
            ),
            (
                "interpreter_frame.executable",
                self.frame_executable,
                k.frame_code as u64,
            ),
            (
                "interpreter_frame.instr_ptr",
                self.frame_instr_ptr,
                k.frame_instr as u64,
            ),
            (
                "interpreter_frame.owner",
                self.frame_owner,
                k.frame_owner as u64,
            ),
            (
                "code_object.filename",
                self.code_filename,
                c.filename as u64,
            ),
            ("code_object.name", self.code_filename + 8, c.name as u64),
            (
                "code_object.qualname",
                self.code_filename + 16,
                c.qualname.unwrap_or(0) as u64,
            ),
            (
                "code_object.linetable",
                self.code_filename + 24,
                c.linetable as u64,
            ),
            (
                "code_object.firstlineno",
                self.code_filename + 32,
                c.firstlineno as u64,
            ),
            (
                "code_object.co_code_adaptive",
                self.code_adaptive,
                k.code_adaptive as u64,
            ),
            ("pyobject.ob_type", self.pyobject_ob_type, o.ob_type as u64),
            (
                "bytes_object.ob_size",
                self.bytes_ob_size,
                o.bytes_size as u64,
            ),
            (
                "bytes_object.ob_sval",
                self.bytes_ob_sval,
                o.bytes_data as u64,
            ),
            (
                "unicode_object.state",
                self.unicode_state,
                o.unicode_state as u64,
            ),
            (
                "unicode_object.length",
                self.unicode_length,
                o.unicode_length as u64,
            ),
            (
                "unicode_object.asciiobject_size",
                self.unicode_ascii_size,
                o.unicode_ascii_data as u64,
            ),
        ]
    }
}

const OBJECTS_311: ObjectLayout = ObjectLayout {
    ob_type: 8,
    unicode_hash: 24,
    unicode_length: 16,
    unicode_state: 32,
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
    unicode_bits: UNICODE_BITS,
};

const OBJECTS_312: ObjectLayout = ObjectLayout {
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    ..OBJECTS_311
};

const CODE_38: CodeLayout = CodeLayout {
    filename: 104,
    name: 112,
    qualname: None,
    linetable: 120,
    firstlineno: 40,
    fp_field: 40,
    fp_unique: false,
    header_size: 128,
    bytecode: BytecodeAt::Object(48),
};

const CODE_311: CodeLayout = CodeLayout {
    filename: 112,
    name: 120,
    qualname: Some(128),
    linetable: 136,
    firstlineno: 72,
    fp_field: 72,
    fp_unique: false,
    header_size: 144,
    bytecode: BytecodeAt::Adaptive,
};

const CODE_312: CodeLayout = CodeLayout {
    firstlineno: 68,
    fp_field: 92,
    fp_unique: true,
    ..CODE_311
};

/// Code pointers need no masking (up to 3.13).
const NO_MASK: u64 = u64::MAX;

/// `_PyStackRef` tag bits cleared from `f_executable` (3.14+).
const STACKREF_MASK: u64 = !3;

/// The table. Indexed by minor version through [`layout_for`].
///
/// Each row spells out every [`PyOffsets`] field by name, with no `..base`,
/// so a forgotten field does not compile and no two numbers can be swapped
/// unnoticed. The thread-state facts (GIL, GC, exception) were measured with
/// `offsetof` against each version's headers (`scripts/offsets/`).
pub const LAYOUTS: &[Layout] = &[
    Layout {
        minor: 8,
        // Frame objects (3.8–3.10): `tstate->frame`, `f_back`, `f_lasti`;
        // GIL and GC state in `_PyRuntime`.
        kernel: PyOffsets {
            runtime_interp_head: 32,
            interp_next: 0,
            interp_threads_head: 8,
            tstate_next: 8,
            tstate_thread_id: 176,
            tstate_frame: 24,
            cframe_current: 0,
            frame_previous: 24,
            frame_code: 32,
            frame_instr: 104,
            frame_owner: 0,
            frame_read_size: 108, // f_lasti + 4
            owner_skip_min: 0,
            code_adaptive: 0,
            code_name: CODE_38.name,
            code_fp_field: CODE_38.fp_field,
            str_hash: 24,
            flags: OFFSETS_NAME_HASH | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 1160,
            gil_locked: 1168,
            gc_collecting: 544,
            tstate_exc_info: 144,
            exc_value: 8,
            exc_previous: 24,
            code_window: CODE_38.firstlineno,
            capture: code_capture(&CODE_38, &OBJECTS_311),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_38,
        objects: OBJECTS_311,
        linetable: LineTableFormat::Lnotab,
        debug_offsets: None,
        native_thread_id: None,
    },
    Layout {
        minor: 9,
        // GC state moves into the interpreter.
        kernel: PyOffsets {
            runtime_interp_head: 32,
            interp_next: 0,
            interp_threads_head: 8,
            tstate_next: 8,
            tstate_thread_id: 176,
            tstate_frame: 24,
            cframe_current: 0,
            frame_previous: 24,
            frame_code: 32,
            frame_instr: 104,
            frame_owner: 0,
            frame_read_size: 108, // f_lasti + 4
            owner_skip_min: 0,
            code_adaptive: 0,
            code_name: CODE_38.name,
            code_fp_field: CODE_38.fp_field,
            str_hash: 24,
            flags: OFFSETS_NAME_HASH | OFFSETS_GC_IN_INTERP | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 360,
            gil_locked: 368,
            gc_collecting: 816,
            tstate_exc_info: 144,
            exc_value: 8,
            exc_previous: 24,
            code_window: CODE_38.firstlineno,
            capture: code_capture(&CODE_38, &OBJECTS_311),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_38,
        objects: OBJECTS_311,
        linetable: LineTableFormat::Lnotab,
        debug_offsets: None,
        native_thread_id: None,
    },
    Layout {
        minor: 10,
        kernel: PyOffsets {
            runtime_interp_head: 32,
            interp_next: 0,
            interp_threads_head: 8,
            tstate_next: 8,
            tstate_thread_id: 176,
            tstate_frame: 24,
            cframe_current: 0,
            frame_previous: 24,
            frame_code: 32,
            frame_instr: 96,
            frame_owner: 0,
            frame_read_size: 100, // f_lasti + 4
            owner_skip_min: 0,
            code_adaptive: 0,
            code_name: CODE_38.name,
            code_fp_field: CODE_38.fp_field,
            str_hash: 24,
            flags: OFFSETS_NAME_HASH | OFFSETS_GC_IN_INTERP | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 360,
            gil_locked: 368,
            gc_collecting: 816,
            tstate_exc_info: 144,
            exc_value: 8,
            exc_previous: 24,
            code_window: CODE_38.firstlineno,
            capture: code_capture(&CODE_38, &OBJECTS_311),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_38,
        objects: OBJECTS_311,
        linetable: LineTableFormat::Linetable310,
        debug_offsets: None,
        native_thread_id: None,
    },
    Layout {
        minor: 11,
        // Interpreter frames (3.11+), reached through `_PyCFrame` (3.11, 3.12).
        kernel: PyOffsets {
            runtime_interp_head: 40,
            interp_next: 0,
            interp_threads_head: 16,
            tstate_next: 8,
            tstate_thread_id: 152,
            tstate_frame: 56,
            cframe_current: 8, // with OFFSETS_CFRAME
            frame_previous: 48,
            frame_code: 32,
            frame_instr: 56,
            frame_owner: 69,
            frame_read_size: 72,
            owner_skip_min: 3,
            code_adaptive: 184,
            code_name: CODE_311.name,
            code_fp_field: CODE_311.fp_field,
            str_hash: 24,
            flags: OFFSETS_CFRAME
                | OFFSETS_BLOCK_READ
                | OFFSETS_INSTR_PTR
                | OFFSETS_OWNER
                | OFFSETS_NAME_HASH
                | OFFSETS_GC_IN_INTERP
                | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 368,
            gil_locked: 376,
            gc_collecting: 848,
            tstate_exc_info: 120,
            exc_value: 0,
            exc_previous: 8,
            code_window: CODE_311.firstlineno,
            capture: code_capture(&CODE_311, &OBJECTS_311),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_311,
        objects: OBJECTS_311,
        linetable: LineTableFormat::Locations311,
        debug_offsets: None,
        native_thread_id: Some(160),
    },
    Layout {
        minor: 12,
        // GIL moves into the interpreter; `co_version` makes the fingerprint unique.
        kernel: PyOffsets {
            runtime_interp_head: 40,
            interp_next: 0,
            interp_threads_head: 72,
            tstate_next: 8,
            tstate_thread_id: 136,
            tstate_frame: 56,
            cframe_current: 0, // with OFFSETS_CFRAME
            frame_previous: 8,
            frame_code: 0,
            frame_instr: 56,
            frame_owner: 70,
            frame_read_size: 72,
            owner_skip_min: 3,
            code_adaptive: 192,
            code_name: CODE_312.name,
            code_fp_field: CODE_312.fp_field,
            str_hash: 24,
            flags: OFFSETS_CFRAME
                | OFFSETS_BLOCK_READ
                | OFFSETS_INSTR_PTR
                | OFFSETS_OWNER
                | OFFSETS_GIL_IN_INTERP
                | OFFSETS_GC_IN_INTERP
                | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 1048,
            gil_locked: 1056,
            gc_collecting: 312,
            tstate_exc_info: 104,
            exc_value: 0,
            exc_previous: 8,
            code_window: CODE_312.firstlineno,
            capture: code_capture(&CODE_312, &OBJECTS_312),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_312,
        objects: OBJECTS_312,
        linetable: LineTableFormat::Locations311,
        debug_offsets: None,
        native_thread_id: Some(144),
    },
    Layout {
        minor: 13,
        // No more `_PyCFrame`: `tstate->current_frame` is the frame.
        kernel: PyOffsets {
            runtime_interp_head: 632,
            interp_next: 7264,
            interp_threads_head: 7344,
            tstate_next: 8,
            tstate_thread_id: 152,
            tstate_frame: 72,
            cframe_current: 0,
            frame_previous: 8,
            frame_code: 0,
            frame_instr: 56,
            frame_owner: 70,
            frame_read_size: 72,
            owner_skip_min: 3,
            code_adaptive: 200,
            code_name: CODE_312.name,
            code_fp_field: CODE_312.fp_field,
            str_hash: 24,
            flags: OFFSETS_BLOCK_READ
                | OFFSETS_INSTR_PTR
                | OFFSETS_OWNER
                | OFFSETS_GIL_IN_INTERP
                | OFFSETS_GC_IN_INTERP
                | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 7760,
            gil_locked: 7768,
            gc_collecting: 7600,
            tstate_exc_info: 120,
            exc_value: 0,
            exc_previous: 8,
            code_window: CODE_312.firstlineno,
            capture: code_capture(&CODE_312, &OBJECTS_312),
            code_ptr_mask: NO_MASK,
        },
        code: CODE_312,
        objects: OBJECTS_312,
        linetable: LineTableFormat::Locations311,
        debug_offsets: Some(POSITIONS_313),
        native_thread_id: Some(160),
    },
    Layout {
        minor: 14,
        // `f_executable` is a tagged `_PyStackRef`.
        kernel: PyOffsets {
            runtime_interp_head: 808,
            interp_next: 7272,
            interp_threads_head: 7344,
            tstate_next: 8,
            tstate_thread_id: 152,
            tstate_frame: 72,
            cframe_current: 0,
            frame_previous: 8,
            frame_code: 0,
            frame_instr: 56,
            frame_owner: 74,
            frame_read_size: 80,
            owner_skip_min: 3,
            code_adaptive: 208,
            code_name: CODE_312.name,
            code_fp_field: CODE_312.fp_field,
            str_hash: 24,
            flags: OFFSETS_BLOCK_READ
                | OFFSETS_INSTR_PTR
                | OFFSETS_OWNER
                | OFFSETS_GIL_IN_INTERP
                | OFFSETS_GC_IN_INTERP
                | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 7792,
            gil_locked: 7800,
            gc_collecting: 7600,
            tstate_exc_info: 120,
            exc_value: 0,
            exc_previous: 8,
            code_window: CODE_312.firstlineno,
            capture: code_capture(&CODE_312, &OBJECTS_312),
            code_ptr_mask: STACKREF_MASK,
        },
        code: CODE_312,
        objects: OBJECTS_312,
        linetable: LineTableFormat::Locations311,
        debug_offsets: Some(POSITIONS_314),
        native_thread_id: Some(160),
    },
    Layout {
        minor: 15,
        kernel: PyOffsets {
            runtime_interp_head: 936,
            interp_next: 7264,
            interp_threads_head: 7336,
            tstate_next: 8,
            tstate_thread_id: 176,
            tstate_frame: 72,
            cframe_current: 0,
            frame_previous: 8,
            frame_code: 0,
            frame_instr: 56,
            frame_owner: 74,
            frame_read_size: 80,
            owner_skip_min: 3,
            code_adaptive: 208,
            code_name: CODE_312.name,
            code_fp_field: CODE_312.fp_field,
            str_hash: 24,
            flags: OFFSETS_BLOCK_READ
                | OFFSETS_INSTR_PTR
                | OFFSETS_OWNER
                | OFFSETS_GIL_IN_INTERP
                | OFFSETS_GC_IN_INTERP
                | OFFSETS_CODE_REPORTS,
            tstate_interp: 16,
            gil_last_holder: 7744,
            gil_locked: 7752,
            gc_collecting: 7512,
            tstate_exc_info: 144,
            exc_value: 0,
            exc_previous: 8,
            code_window: CODE_312.firstlineno,
            capture: code_capture(&CODE_312, &OBJECTS_312),
            code_ptr_mask: STACKREF_MASK,
        },
        code: CODE_312,
        objects: OBJECTS_312,
        linetable: LineTableFormat::Locations311,
        debug_offsets: Some(POSITIONS_315),
        native_thread_id: Some(184),
    },
];

/// The layout of `3.minor`, if supported.
pub fn layout_for(minor: u32) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|l| l.minor == minor)
}

/// The version slot a minor version occupies in `PY_OFFSETS`.
pub fn version_slot(minor: u32) -> u32 {
    minor
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_common::{CODE_WINDOW, FRAME_BUF_SIZE};

    #[test]
    fn every_kernel_offset_fits_the_frame_buffer() {
        for l in LAYOUTS {
            let k = &l.kernel;
            assert!(
                (k.frame_read_size as usize) < FRAME_BUF_SIZE,
                "3.{}",
                l.minor
            );
            let instr_size = if k.flags & OFFSETS_INSTR_PTR != 0 {
                8
            } else {
                4
            };
            for (off, size) in [
                (k.frame_previous, 8),
                (k.frame_code, 8),
                (k.frame_instr, instr_size),
            ] {
                assert!(off + size <= k.frame_read_size, "3.{}", l.minor);
            }
            if k.flags & OFFSETS_OWNER != 0 {
                assert!(k.frame_owner < k.frame_read_size, "3.{}", l.minor);
            }
            // The thread-state fields every sample reads lie in the one
            // window the kernel reads of it.
            for f in [
                k.tstate_thread_id,
                k.tstate_frame,
                k.tstate_interp,
                k.tstate_exc_info,
            ] {
                assert!(
                    f as usize + 8 <= tachyon_common::TSTATE_WINDOW,
                    "3.{}",
                    l.minor
                );
            }
            // And the GIL's holder and lock are one read.
            assert_eq!(k.gil_locked, k.gil_last_holder + 8, "3.{}", l.minor);
            assert!(l.code.header_size >= l.code.linetable + 8);
            assert!(l.code.header_size >= l.code.fp_field + 4);
            assert_eq!(k.code_fp_field, l.code.fp_field);
            assert_eq!(k.code_name, l.code.name);
            assert_eq!(k.str_hash, l.objects.unicode_hash);
            // co_name and the fingerprint field lie in the one window read,
            // and so does everything a code report follows.
            assert!(k.code_fp_field >= k.code_window && k.code_name >= k.code_window);
            assert!(code_reports_fit(k), "3.{}", l.minor);
            assert_ne!(k.flags & OFFSETS_CODE_REPORTS, 0, "3.{}", l.minor);
            assert_eq!(
                k.capture,
                code_capture(&l.code, &l.objects),
                "3.{}",
                l.minor
            );
            assert!(
                (k.code_fp_field + 4).max(k.code_name + 8) <= k.code_window + CODE_WINDOW as u32
            );
            assert_eq!(
                k.flags & OFFSETS_NAME_HASH == 0,
                l.code.fp_unique,
                "3.{}",
                l.minor
            );
        }
    }

    #[test]
    fn versions_are_unique_and_in_range() {
        for (i, l) in LAYOUTS.iter().enumerate() {
            assert!((MIN_MINOR..=MAX_MINOR).contains(&l.minor));
            assert!(LAYOUTS[i + 1..].iter().all(|o| o.minor != l.minor));
            assert!(version_slot(l.minor) < tachyon_common::MAX_VERSION_SLOTS);
        }
    }
}
