//! Types that cross the kernel boundary between `tachyon-ebpf` and `tachyon-user`.
//!
//! Every type is `#[repr(C)]` with explicit padding, so both sides agree on the
//! layout byte for byte. Flags are `u32` bit sets, never `bool`.
#![no_std]

/// Frames kept per sample. A stack deeper than this is emitted with
/// [`SAMPLE_TRUNCATED`]. A `SampleRecord` must stay under the 32 KiB limit of
/// a per-CPU map value.
pub const MAX_FRAMES: usize = 2000;
/// Threads visited per tick when the thread-state cache misses, over all
/// interpreters together.
pub const MAX_THREADS_WALK: u32 = 1024;
/// Frames kept for an off-CPU capture (wall mode): it runs inside
/// `sched_switch`, on every context switch of a profiled thread, so its
/// budget is smaller than an on-CPU sample's.
pub const MAX_OFF_CPU_FRAMES: usize = 1024;
/// How long a thread found without a `PyThreadState` is remembered as such
/// (its ticks skip the thread-list walk meanwhile), in nanoseconds.
pub const NO_TSTATE_TTL_NS: u64 = 100_000_000;
/// Bytes of a `PyThreadState` the kernel reads at once: its thread id,
/// frame (or `_PyCFrame`), interpreter and exception fields lie inside on
/// every layout (fields beyond are read one by one).
pub const TSTATE_WINDOW: usize = 192;
/// Interpreters visited (main interpreter plus sub-interpreters).
pub const MAX_INTERPRETERS_WALK: u32 = 4;
/// Version slots in the `PY_OFFSETS` array (one per supported minor version).
pub const MAX_VERSION_SLOTS: u32 = 32;
/// Bytes of a frame read in one `bpf_probe_read_user`.
pub const FRAME_BUF_SIZE: usize = 128;
/// Python processes tracked at once.
pub const MAX_PROCESSES: u32 = 8192;
/// Per-thread cache entries mapping a thread to its `PyThreadState`.
pub const MAX_THREAD_CACHE: u32 = 65536;

/// `PyOffsets::flags`: the thread state holds a `_PyCFrame*`; the current frame
/// is read through it at `cframe_current` (3.11, 3.12).
pub const OFFSETS_CFRAME: u32 = 1 << 0;
/// `PyOffsets::flags`: the frame holds an instruction pointer (3.11+); the index
/// is `(ptr - code - code_adaptive) / 2`. Without it the frame holds `f_lasti`.
pub const OFFSETS_INSTR_PTR: u32 = 1 << 1;
/// `PyOffsets::flags`: the frame has an `owner` byte at `frame_owner` (3.11+).
pub const OFFSETS_OWNER: u32 = 1 << 2;
/// `PyOffsets::flags`: the GIL state lives in the thread's interpreter
/// (`tstate->interp + gil_*`, 3.12+), not in `_PyRuntime` (3.8–3.11).
pub const OFFSETS_GIL_IN_INTERP: u32 = 1 << 3;
/// `PyOffsets::flags`: the GC state lives in the interpreter (3.9+), not in
/// `_PyRuntime` (3.8).
pub const OFFSETS_GC_IN_INTERP: u32 = 1 << 4;
/// `PyOffsets::flags`: mix the hash of `co_name` into the fingerprint (up to
/// 3.11, where no field tells code objects apart; 3.12+ has `co_version`).
pub const OFFSETS_NAME_HASH: u32 = 1 << 5;
/// Bytes of a code object read in one go for its fingerprint.
pub const CODE_WINDOW: usize = 96;
/// `PyOffsets::flags`: frames live in contiguous data-stack chunks (3.11+),
/// callers below callees: read them in [`FRAME_BLOCK`]-byte blocks.
pub const OFFSETS_BLOCK_READ: u32 = 1 << 6;
/// `PyOffsets::flags`: where the exception state is is not known (a layout
/// built from `_Py_DebugOffsets` alone, which does not state it): no
/// sample is marked [`SAMPLE_IN_EXCEPTION`].
pub const OFFSETS_NO_EXC_INFO: u32 = 1 << 7;
/// Bytes of the data stack read at once when frames are read in blocks.
pub const FRAME_BLOCK: usize = 4096;
/// `PyOffsets::flags`: report code objects ([`EVENT_CODE`]): every field of
/// [`CodeCapture`] lies inside the [`CODE_WINDOW`] at `code_window`.
pub const OFFSETS_CODE_REPORTS: u32 = 1 << 8;

/// Per-version layout knowledge, written by userspace into `PY_OFFSETS`.
/// All offsets are in bytes. The eBPF program never branches on a version:
/// it only follows this table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PyOffsets {
    /// `_PyRuntime + x` → `PyInterpreterState*` (interpreters.head).
    pub runtime_interp_head: u32,
    /// `PyInterpreterState + x` → next interpreter.
    pub interp_next: u32,
    /// `PyInterpreterState + x` → first `PyThreadState*`.
    pub interp_threads_head: u32,
    /// `PyThreadState + x` → next thread state.
    pub tstate_next: u32,
    /// `PyThreadState + x` → `thread_id` (`pthread_self()`, equals fsbase on x86_64).
    pub tstate_thread_id: u32,
    /// `PyThreadState + x` → top frame pointer (or `_PyCFrame*` with [`OFFSETS_CFRAME`]).
    pub tstate_frame: u32,
    /// `_PyCFrame + x` → current frame, with [`OFFSETS_CFRAME`].
    pub cframe_current: u32,
    /// Frame + x → previous (calling) frame.
    pub frame_previous: u32,
    /// Frame + x → code object (possibly tagged; see `code_ptr_mask`).
    pub frame_code: u32,
    /// Frame + x → `f_lasti` (i32) or instruction pointer (u64, [`OFFSETS_INSTR_PTR`]).
    pub frame_instr: u32,
    /// Frame + x → owner byte, with [`OFFSETS_OWNER`].
    pub frame_owner: u32,
    /// Bytes of each frame to read (≤ [`FRAME_BUF_SIZE`]).
    pub frame_read_size: u32,
    /// Frames whose owner is ≥ this are not Python frames: skipped, walk goes on.
    pub owner_skip_min: u32,
    /// Code object + x → first code unit (`co_code_adaptive`).
    pub code_adaptive: u32,
    /// Code object + x → `co_name` pointer, part of the fingerprint.
    pub code_name: u32,
    /// Code object + x → a u32 that tells code objects apart (`co_version` on
    /// 3.12+, `co_firstlineno` before), part of the fingerprint.
    pub code_fp_field: u32,
    /// `str + x` → the cached hash of a `str` (`co_name`'s hash is part of
    /// the fingerprint, so a recycled address with another name never matches).
    pub str_hash: u32,
    /// `OFFSETS_*` bits.
    pub flags: u32,
    /// `PyThreadState + x` → its `PyInterpreterState*`.
    pub tstate_interp: u32,
    /// GIL base (`_PyRuntime` or interpreter) + x → `last_holder` (`PyThreadState*`).
    pub gil_last_holder: u32,
    /// GIL base + x → `locked` (int).
    pub gil_locked: u32,
    /// GC base (`_PyRuntime` or interpreter) + x → `collecting` (int).
    pub gc_collecting: u32,
    /// `PyThreadState + x` → `exc_info` (`_PyErr_StackItem*`).
    pub tstate_exc_info: u32,
    /// `_PyErr_StackItem + x` → `exc_value`.
    pub exc_value: u32,
    /// `_PyErr_StackItem + x` → `previous_item`.
    pub exc_previous: u32,
    /// Code object + x → start of the [`CODE_WINDOW`] bytes read once per
    /// code object; `code_name` and `code_fp_field` lie inside it.
    pub code_window: u32,
    /// Where the name, file and line table of a code object are, for the
    /// code reports ([`OFFSETS_CODE_REPORTS`]).
    pub capture: CodeCapture,
    /// Mask applied to the code pointer (clears `_PyStackRef` tag bits on 3.14+).
    pub code_ptr_mask: u64,
}

/// What the kernel follows to copy a code object's qualname, file name and
/// line table into an [`EVENT_CODE`] record. Code-object offsets lie inside
/// the code window; `str` and `bytes` offsets are from the object's start.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeCapture {
    /// Code object + x → `co_qualname` (`co_name` where there is none).
    pub qualname: u32,
    /// Code object + x → `co_filename`.
    pub filename: u32,
    /// Code object + x → `co_linetable` / `co_lnotab` (a `bytes`).
    pub linetable: u32,
    /// Code object + x → `co_firstlineno` (i32).
    pub firstlineno: u32,
    /// `str + x` → length in characters (u64).
    pub str_length: u32,
    /// `str + x` → state bits (u32); the last field of the header read.
    pub str_state: u32,
    /// Data of a compact ASCII `str`.
    pub str_ascii_data: u32,
    /// Data of a compact non-ASCII `str`.
    pub str_compact_data: u32,
    /// State bits: the kind (bytes per character) is
    /// `(state & str_kind_mask) >> str_kind_shift`.
    pub str_kind_mask: u32,
    pub str_kind_shift: u32,
    /// State bit of a compact string (data right after the header).
    pub str_compact_bit: u32,
    /// State bit of an ASCII string.
    pub str_ascii_bit: u32,
    /// `bytes + x` → `ob_size` (u64).
    pub bytes_size: u32,
    /// `bytes + x` → `ob_sval`.
    pub bytes_data: u32,
    /// Object + x → `ob_type`: what is reported must be a code object
    /// ([`ProcInfo::code_type`]), not whatever a torn frame pointed at.
    pub ob_type: u32,
    pub _pad: u32,
}

/// One profiled process, written by userspace into `PY_PROCS` keyed by tgid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Address of `_PyRuntime` in the process.
    pub runtime_addr: u64,
    /// Index into `PY_OFFSETS`.
    pub version_slot: u32,
    /// Bumped by userspace each time it tracks a process (a pid reused, an
    /// exec): the kernel's memory of code objects it reported holds the
    /// epoch, so nothing reported to an earlier process suppresses a
    /// report to this one.
    pub epoch: u32,
    /// Address of `_Py_NoneStruct` (an exception value of None means none).
    pub none_addr: u64,
    /// `--async-aware`: `PyThreadState + x` → the running asyncio task
    /// (`_PyThreadStateImpl.asyncio_running_task`, 3.14+); 0: not read.
    pub async_running_task: u32,
    /// `TaskObj + x` → its coroutine (`task_coro`).
    pub async_task_coro: u32,
    /// Coroutine object + x → its embedded frame (`gen_object.gi_iframe`):
    /// the frame the kernel looks for in the walk ([`SampleHeader::task_frame`]).
    pub async_coro_frame: u32,
    pub _pad2: u32,
    /// Address of `PyCode_Type` in the process (0: not known, nothing is
    /// checked): an object reported as a code object must have this type.
    pub code_type: u64,
}

/// Global configuration, entry 0 of the `CONFIG` array.
///
/// Every kernel offset comes from vmlinux BTF: the lifecycle and
/// context-switch programs are raw tracepoints, whose arguments are the
/// kernel's own `task_struct` pointers, so nothing needs tracefs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `task_struct + x` → `thread.fsbase`.
    pub task_fsbase: u32,
    /// `task_struct + x` → `pid` (the thread id).
    pub task_pid: u32,
    /// `task_struct + x` → `tgid` (the process id).
    pub task_tgid: u32,
    /// `task_struct + x` → `__state` (`state` before 5.14), an unsigned int.
    pub task_state: u32,
    /// 1 when `sched_switch` passes `prev_state` as its fourth argument
    /// (5.18+); 0: the state is read from `prev` at `task_state`.
    pub switch_state_arg: u32,
    /// Capture the kernel stack with each sample (`--kernel`); 0 or 1.
    pub kernel_stacks: u32,
    /// Capture the native user stack (frame pointers) with each sample
    /// (`--native`); 0 or 1.
    pub native_stacks: u32,
    /// Read the opcode byte at the leaf frame's instruction pointer
    /// (`--opcodes`; 3.11+ layouts, [`OFFSETS_INSTR_PTR`]) into
    /// [`SampleHeader::leaf_opcode`]; 0 or 1.
    pub opcodes: u32,
    /// Which of [`SAMPLE_HOLDS_GIL`], [`SAMPLE_IN_EXCEPTION`] and
    /// [`SAMPLE_IN_GC`] the run needs: each costs reads of process memory
    /// on every sample, so the kernel finds out only those.
    pub thread_flags: u32,
}

/// Ring buffer record kinds (first u32 of every record).
pub const EVENT_SAMPLE: u32 = 1;
/// A process called exec(); userspace decides whether it is Python.
pub const EVENT_EXEC: u32 = 2;
/// A thread group leader exited.
pub const EVENT_EXIT: u32 = 3;
/// A tracked Python process forked a new process.
pub const EVENT_FORK: u32 = 4;
/// A thread whose off-CPU stack was captured runs again (wall mode).
pub const EVENT_SWITCH_IN: u32 = 5;
/// A code object the walker had not reported recently: its names and line
/// table, copied while the process (and the object) still exist.
pub const EVENT_CODE: u32 = 6;

/// Bytes of a code object's qualname kept in an [`EVENT_CODE`] record.
pub const CODE_NAME_MAX: usize = 256;
/// Bytes of its file name.
pub const CODE_FILE_MAX: usize = 512;
/// Bytes of its line table.
pub const CODE_TABLE_MAX: usize = 24 * 1024;
/// Slots of the per-CPU memory of code objects reported (direct-mapped).
pub const CODE_SEEN_SLOTS: u32 = 1024;

/// `CodeHeader::flags`: the kind of the name's characters (bytes per
/// character: 1, 2 or 4) in bits 0–2; 0: not captured.
pub const CODE_NAME_KIND_MASK: u32 = 0x7;
/// `CodeHeader::flags`: the file name's kind, bits 4–6 (as the name's).
pub const CODE_FILE_KIND_SHIFT: u32 = 4;
/// `CodeHeader::flags`: the name was longer than [`CODE_NAME_MAX`] bytes.
pub const CODE_NAME_CUT: u32 = 1 << 8;
/// `CodeHeader::flags`: the file name was longer than [`CODE_FILE_MAX`].
pub const CODE_FILE_CUT: u32 = 1 << 9;
/// `CodeHeader::flags`: the line table was longer than [`CODE_TABLE_MAX`].
pub const CODE_TABLE_CUT: u32 = 1 << 10;
/// `CodeHeader::flags`: the line table could not be read.
pub const CODE_TABLE_MISSING: u32 = 1 << 11;

/// `SampleHeader::flags`: the stack was deeper than [`MAX_FRAMES`].
pub const SAMPLE_TRUNCATED: u32 = 1 << 0;
/// `SampleHeader::flags`: a frame could not be read; the stack ends early.
pub const SAMPLE_READ_ERROR: u32 = 1 << 1;
/// `SampleHeader::flags`: the thread was on CPU (perf tick).
pub const SAMPLE_ON_CPU: u32 = 1 << 2;
/// `SampleHeader::flags`: the thread is leaving the CPU (wall mode); the
/// matching [`EVENT_SWITCH_IN`] gives the time it spent off CPU.
pub const SAMPLE_OFF_CPU: u32 = 1 << 3;
/// `SampleHeader::flags`: the thread held the GIL.
pub const SAMPLE_HOLDS_GIL: u32 = 1 << 4;
/// `SampleHeader::flags`: the thread was handling an exception.
pub const SAMPLE_IN_EXCEPTION: u32 = 1 << 5;
/// `SampleHeader::flags`: the garbage collector was running.
pub const SAMPLE_IN_GC: u32 = 1 << 6;
/// `SampleHeader::flags`, off-CPU only: the thread was still runnable
/// (preempted, waiting for a CPU).
pub const SAMPLE_PREEMPTED: u32 = 1 << 7;
/// `SampleHeader::flags`, off-CPU only: uninterruptible wait (disk I/O).
pub const SAMPLE_UNINTERRUPTIBLE: u32 = 1 << 8;
/// `SampleHeader::flags`: the frame list came round to a frame again. What
/// was read is not one stack (a list read while the interpreter relinked
/// it, or a corrupt process): its frames are not named, the sample is
/// `<stack unreadable>` (counted in [`counter::FRAME_CYCLES`]).
pub const SAMPLE_TORN: u32 = 1 << 9;
/// Kernel stack frames kept per sample (`--kernel`).
pub const MAX_KERNEL_FRAMES: usize = 64;
/// Native user stack frames kept per sample (`--native`).
pub const MAX_NATIVE_FRAMES: usize = 32;

/// Header of an [`EVENT_SAMPLE`] record, followed by `nframes` [`Frame`]s,
/// leaf first, then `nnative` native user addresses (u64, leaf first), then
/// `nkernel` kernel addresses (u64), leaf first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleHeader {
    pub kind: u32,
    pub flags: u32,
    pub pid: u32,
    pub tid: u32,
    pub cpu: u32,
    pub nframes: u32,
    /// Kernel return addresses after the frames (leaf first), `--kernel` only.
    pub nkernel: u32,
    /// Native user return addresses after the frames (leaf first), `--native` only.
    pub nnative: u32,
    /// `bpf_ktime_get_ns()` at the sample.
    pub ktime_ns: u64,
    /// The `PyThreadState*` of the thread.
    pub tstate: u64,
    /// `--async-aware`: the asyncio task running on the thread (0: none, or
    /// not asked for).
    pub task: u64,
    /// 1-based index among the frames of the running task's coroutine frame
    /// (0: not in the stack): frames past it are the event loop's.
    pub task_frame: u32,
    /// [`LEAF_OPCODE_READ`] `|` the opcode byte at the leaf frame's
    /// instruction pointer, read at sample time (`Config::opcodes`, 3.11+:
    /// the specialised form that ran); 0 when not read.
    pub leaf_opcode: u32,
}

/// `SampleHeader::leaf_opcode`: the low byte holds an opcode the kernel read.
pub const LEAF_OPCODE_READ: u32 = 1 << 8;

/// One Python frame as the kernel saw it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Address of the code object.
    pub code: u64,
    /// Instruction index: `f_lasti` as stored (≤3.10) or code-unit index (3.11+).
    pub lasti: i32,
    /// Fingerprint of the code object (see [`fingerprint`]); 0 if unreadable.
    pub fingerprint: u32,
}

/// Header of an [`EVENT_CODE`] record, followed by `name_len` bytes of the
/// qualname, `file_len` bytes of the file name and `table_len` bytes of the
/// line table (raw `str` data of the kind in `flags`, and the `bytes`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeHeader {
    pub kind: u32,
    pub pid: u32,
    /// Address of the code object, and its fingerprint (as in [`Frame`]).
    pub code: u64,
    pub fingerprint: u32,
    pub firstlineno: i32,
    /// `CODE_*` bits.
    pub flags: u32,
    pub name_len: u32,
    pub file_len: u32,
    pub table_len: u32,
}

/// The per-CPU scratch record a code report is built in.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CodeRecord {
    pub header: CodeHeader,
    pub data: [u8; CODE_NAME_MAX + CODE_FILE_MAX + CODE_TABLE_MAX],
}

/// The per-CPU scratch record a sample is built in before it is copied into
/// the ring buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SampleRecord {
    pub header: SampleHeader,
    pub frames: [Frame; MAX_FRAMES],
}

/// A process or scheduling record ([`EVENT_EXEC`], [`EVENT_EXIT`],
/// [`EVENT_FORK`], [`EVENT_SWITCH_IN`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcEvent {
    pub kind: u32,
    /// The process (tgid).
    pub pid: u32,
    /// Parent tgid for [`EVENT_FORK`]; the thread id for [`EVENT_SWITCH_IN`].
    pub aux: u32,
    pub _pad: u32,
    pub ktime_ns: u64,
}

// Compile-time layout checks. The eBPF program and userspace must agree on
// these types byte for byte, and they must have no implicit padding (so every
// byte is initialised and any bit pattern is valid, see `aya::Pod` below).
// Every size and offset is written out by hand from the field types, so a
// reordered, resized or inserted field breaks the build instead of silently
// changing the layout on one side only.

const _: () = {
    // 26 × u32, the 16 × u32 of the capture, then one u64:
    // 26 * 4 = 104, + 64 = 168, + 8 = 176.
    assert!(core::mem::size_of::<PyOffsets>() == 176);
    assert!(core::mem::offset_of!(PyOffsets, runtime_interp_head) == 0);
    assert!(core::mem::offset_of!(PyOffsets, interp_next) == 4);
    assert!(core::mem::offset_of!(PyOffsets, interp_threads_head) == 8);
    assert!(core::mem::offset_of!(PyOffsets, tstate_next) == 12);
    assert!(core::mem::offset_of!(PyOffsets, tstate_thread_id) == 16);
    assert!(core::mem::offset_of!(PyOffsets, tstate_frame) == 20);
    assert!(core::mem::offset_of!(PyOffsets, cframe_current) == 24);
    assert!(core::mem::offset_of!(PyOffsets, frame_previous) == 28);
    assert!(core::mem::offset_of!(PyOffsets, frame_code) == 32);
    assert!(core::mem::offset_of!(PyOffsets, frame_instr) == 36);
    assert!(core::mem::offset_of!(PyOffsets, frame_owner) == 40);
    assert!(core::mem::offset_of!(PyOffsets, frame_read_size) == 44);
    assert!(core::mem::offset_of!(PyOffsets, owner_skip_min) == 48);
    assert!(core::mem::offset_of!(PyOffsets, code_adaptive) == 52);
    assert!(core::mem::offset_of!(PyOffsets, code_name) == 56);
    assert!(core::mem::offset_of!(PyOffsets, code_fp_field) == 60);
    assert!(core::mem::offset_of!(PyOffsets, str_hash) == 64);
    assert!(core::mem::offset_of!(PyOffsets, flags) == 68);
    assert!(core::mem::offset_of!(PyOffsets, tstate_interp) == 72);
    assert!(core::mem::offset_of!(PyOffsets, gil_last_holder) == 76);
    assert!(core::mem::offset_of!(PyOffsets, gil_locked) == 80);
    assert!(core::mem::offset_of!(PyOffsets, gc_collecting) == 84);
    assert!(core::mem::offset_of!(PyOffsets, tstate_exc_info) == 88);
    assert!(core::mem::offset_of!(PyOffsets, exc_value) == 92);
    assert!(core::mem::offset_of!(PyOffsets, exc_previous) == 96);
    assert!(core::mem::offset_of!(PyOffsets, code_window) == 100);
    assert!(core::mem::offset_of!(PyOffsets, capture) == 104);
    assert!(core::mem::offset_of!(PyOffsets, code_ptr_mask) == 168);
};

const _: () = {
    assert!(core::mem::size_of::<CodeCapture>() == 64);
    assert!(core::mem::offset_of!(CodeCapture, qualname) == 0);
    assert!(core::mem::offset_of!(CodeCapture, filename) == 4);
    assert!(core::mem::offset_of!(CodeCapture, linetable) == 8);
    assert!(core::mem::offset_of!(CodeCapture, firstlineno) == 12);
    assert!(core::mem::offset_of!(CodeCapture, str_length) == 16);
    assert!(core::mem::offset_of!(CodeCapture, str_state) == 20);
    assert!(core::mem::offset_of!(CodeCapture, str_ascii_data) == 24);
    assert!(core::mem::offset_of!(CodeCapture, str_compact_data) == 28);
    assert!(core::mem::offset_of!(CodeCapture, str_kind_mask) == 32);
    assert!(core::mem::offset_of!(CodeCapture, str_kind_shift) == 36);
    assert!(core::mem::offset_of!(CodeCapture, str_compact_bit) == 40);
    assert!(core::mem::offset_of!(CodeCapture, str_ascii_bit) == 44);
    assert!(core::mem::offset_of!(CodeCapture, bytes_size) == 48);
    assert!(core::mem::offset_of!(CodeCapture, bytes_data) == 52);
    assert!(core::mem::offset_of!(CodeCapture, ob_type) == 56);
};

const _: () = {
    assert!(core::mem::size_of::<CodeHeader>() == 40);
    assert!(core::mem::offset_of!(CodeHeader, kind) == 0);
    assert!(core::mem::offset_of!(CodeHeader, pid) == 4);
    assert!(core::mem::offset_of!(CodeHeader, code) == 8);
    assert!(core::mem::offset_of!(CodeHeader, fingerprint) == 16);
    assert!(core::mem::offset_of!(CodeHeader, firstlineno) == 20);
    assert!(core::mem::offset_of!(CodeHeader, flags) == 24);
    assert!(core::mem::offset_of!(CodeHeader, name_len) == 28);
    assert!(core::mem::offset_of!(CodeHeader, file_len) == 32);
    assert!(core::mem::offset_of!(CodeHeader, table_len) == 36);
    // 40-byte header + 256 + 512 + 24576 bytes = 25384, under the 32 KiB
    // of a per-CPU map value.
    assert!(core::mem::size_of::<CodeRecord>() == 25384);
    assert!(core::mem::size_of::<CodeRecord>() < 32 * 1024);
};

const _: () = {
    assert!(core::mem::size_of::<ProcInfo>() == 48);
    assert!(core::mem::offset_of!(ProcInfo, runtime_addr) == 0);
    assert!(core::mem::offset_of!(ProcInfo, version_slot) == 8);
    assert!(core::mem::offset_of!(ProcInfo, epoch) == 12);
    assert!(core::mem::offset_of!(ProcInfo, none_addr) == 16);
    assert!(core::mem::offset_of!(ProcInfo, async_running_task) == 24);
    assert!(core::mem::offset_of!(ProcInfo, async_task_coro) == 28);
    assert!(core::mem::offset_of!(ProcInfo, async_coro_frame) == 32);
    assert!(core::mem::offset_of!(ProcInfo, _pad2) == 36);
    assert!(core::mem::offset_of!(ProcInfo, code_type) == 40);
};

const _: () = {
    assert!(core::mem::size_of::<Config>() == 36);
    assert!(core::mem::offset_of!(Config, task_fsbase) == 0);
    assert!(core::mem::offset_of!(Config, task_pid) == 4);
    assert!(core::mem::offset_of!(Config, task_tgid) == 8);
    assert!(core::mem::offset_of!(Config, task_state) == 12);
    assert!(core::mem::offset_of!(Config, switch_state_arg) == 16);
    assert!(core::mem::offset_of!(Config, kernel_stacks) == 20);
    assert!(core::mem::offset_of!(Config, native_stacks) == 24);
    assert!(core::mem::offset_of!(Config, opcodes) == 28);
};

const _: () = {
    assert!(core::mem::size_of::<SampleHeader>() == 64);
    assert!(core::mem::offset_of!(SampleHeader, kind) == 0);
    assert!(core::mem::offset_of!(SampleHeader, flags) == 4);
    assert!(core::mem::offset_of!(SampleHeader, pid) == 8);
    assert!(core::mem::offset_of!(SampleHeader, tid) == 12);
    assert!(core::mem::offset_of!(SampleHeader, cpu) == 16);
    assert!(core::mem::offset_of!(SampleHeader, nframes) == 20);
    assert!(core::mem::offset_of!(SampleHeader, nkernel) == 24);
    assert!(core::mem::offset_of!(SampleHeader, nnative) == 28);
    assert!(core::mem::offset_of!(SampleHeader, ktime_ns) == 32);
    assert!(core::mem::offset_of!(SampleHeader, tstate) == 40);
    assert!(core::mem::offset_of!(SampleHeader, task) == 48);
    assert!(core::mem::offset_of!(SampleHeader, task_frame) == 56);
    assert!(core::mem::offset_of!(SampleHeader, leaf_opcode) == 60);
};

const _: () = {
    assert!(core::mem::size_of::<Frame>() == 16);
    assert!(core::mem::offset_of!(Frame, code) == 0);
    assert!(core::mem::offset_of!(Frame, lasti) == 8);
    assert!(core::mem::offset_of!(Frame, fingerprint) == 12);
};

const _: () = {
    // 64-byte header + MAX_FRAMES (2000) × 16-byte frames = 32064.
    assert!(core::mem::size_of::<SampleRecord>() == 32064);
    assert!(core::mem::offset_of!(SampleRecord, header) == 0);
    assert!(core::mem::offset_of!(SampleRecord, frames) == 64);
    // A per-CPU map value must stay under 32 KiB.
    assert!(core::mem::size_of::<SampleRecord>() < 32 * 1024);
};

const _: () = {
    assert!(core::mem::size_of::<ProcEvent>() == 24);
    assert!(core::mem::offset_of!(ProcEvent, kind) == 0);
    assert!(core::mem::offset_of!(ProcEvent, pid) == 4);
    assert!(core::mem::offset_of!(ProcEvent, aux) == 8);
    assert!(core::mem::offset_of!(ProcEvent, _pad) == 12);
    assert!(core::mem::offset_of!(ProcEvent, ktime_ns) == 16);
};

// The eBPF program reads the code-object window into a `FRAME_BUF_SIZE`
// buffer (`cbuf`).
const _: () = assert!(CODE_WINDOW <= FRAME_BUF_SIZE);

/// Counters in the per-CPU `COUNTERS` array (indices).
pub mod counter {
    /// perf ticks that hit a tracked Python process.
    pub const TICKS: u32 = 0;
    /// Samples written to the ring buffer.
    pub const EMITTED: u32 = 1;
    /// Samples lost because the ring buffer was full.
    pub const LOST: u32 = 2;
    /// Ticks whose thread had no `PyThreadState` (native thread, not started).
    pub const NO_TSTATE: u32 = 3;
    /// Samples with a frame that could not be read.
    pub const READ_ERRORS: u32 = 4;
    /// Samples truncated at `MAX_FRAMES`.
    pub const TRUNCATED: u32 = 5;
    /// Lifecycle events lost because the ring buffer was full.
    pub const EVENTS_LOST: u32 = 6;
    /// Thread-state cache misses (thread list walks).
    pub const TSTATE_WALKS: u32 = 7;
    /// Off-CPU stacks captured at a context switch (wall mode).
    pub const SWITCHES: u32 = 8;
    /// Of the `NO_TSTATE` ticks, those answered from the memory of a recent
    /// miss (no thread-list walk).
    pub const NO_TSTATE_REMEMBERED: u32 = 9;
    /// Frame walks ended because a frame came round again (a cyclic frame
    /// list); the sample is marked truncated.
    pub const FRAME_CYCLES: u32 = 10;
    /// Code reports ([`super::EVENT_CODE`]) written to the ring buffer.
    pub const CODE_REPORTS: u32 = 11;
    /// Code reports lost because the ring buffer was full (the code object
    /// is reported again at its next sample).
    pub const CODE_REPORTS_LOST: u32 = 12;
    pub const COUNT: u32 = 13;
}

/// What a fingerprint mixes in besides `co_name`'s address where no field
/// of the code object tells code objects apart (up to 3.11,
/// [`OFFSETS_NAME_HASH`]): the hash of `co_name` and the addresses of
/// `co_filename` and of the line table. Every module body is `<module>` at
/// line 1 (and every lambda and comprehension of a line shares its name):
/// a module body freed after its import and the next one made at the same
/// address differ in their file and line table, which outlive neither.
#[inline(always)]
pub fn identity_mix(name_hash: u64, filename_ptr: u64, table_ptr: u64) -> u64 {
    name_hash ^ filename_ptr.rotate_left(29) ^ table_ptr.rotate_left(47)
}

/// Fingerprint of a code object from its `co_name` pointer, what
/// [`identity_mix`] gives (or 0 where `field` alone tells code objects
/// apart) and one u32 field; computed identically in the kernel and in
/// userspace. Never 0 for a readable object.
#[inline(always)]
pub fn fingerprint(name_ptr: u64, name_hash: u64, field: u32) -> u32 {
    let x = name_ptr ^ name_hash.rotate_left(17) ^ ((field as u64) << 32 | field as u64);
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = (x >> 32) as u32 ^ x as u32;
    if h == 0 {
        1
    } else {
        h
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all these types are #[repr(C)], Copy, contain only integers and
    // have no implicit padding, so any bit pattern is a valid value.
    unsafe impl aya::Pod for super::PyOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ProcInfo {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Config {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CodeCapture {}
}
