//! Kernel side of tachyon-bpf.
//!
//! `sample` runs on every cpu-clock tick. For a thread of a tracked Python
//! process it finds the thread's `PyThreadState` (cache, else a walk of the
//! interpreter's thread list matching `thread_id == fsbase`), walks the frame
//! chain with the offsets userspace wrote into `PY_OFFSETS`, and sends
//! `(code, lasti, fingerprint)` per frame through the `EVENTS` ring buffer.
//! The tracepoint programs report exec, fork and exit so userspace can follow
//! processes as they come and go. They are raw tracepoints: attached by
//! name (no tracefs, and no parse of kernel BTF in userspace), with the
//! kernel's own arguments (`task_struct` pointers, read at offsets
//! userspace took from vmlinux BTF, where it also checked the arguments).
//!
//! Nothing here knows a Python version, a symbol name or a line table.
#![no_std]
#![no_main]

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{BPF_F_USER_STACK, BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_smp_processor_id, bpf_ktime_get_ns,
        generated::{
            bpf_get_stack, bpf_loop, bpf_probe_read_kernel, bpf_probe_read_user, bpf_ringbuf_output,
        },
    },
    macros::{map, perf_event, raw_tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
    programs::{PerfEventContext, RawTracePointContext},
    EbpfContext,
};
use aya_log_ebpf::debug;
use tachyon_common::{
    counter, fingerprint, identity_mix, CodeCapture, CodeHeader, CodeRecord, Config, Frame,
    ProcEvent, ProcInfo, PyOffsets, SampleHeader, SampleRecord, CODE_FILE_CUT,
    CODE_FILE_KIND_SHIFT, CODE_FILE_MAX, CODE_NAME_CUT, CODE_NAME_MAX, CODE_SEEN_SLOTS,
    CODE_TABLE_CUT, CODE_TABLE_MAX, CODE_TABLE_MISSING, CODE_WINDOW, EVENT_CODE, EVENT_EXEC,
    EVENT_EXIT, EVENT_FORK, EVENT_SAMPLE, EVENT_SWITCH_IN, FRAME_BLOCK, FRAME_BUF_SIZE,
    LEAF_OPCODE_READ, MAX_FRAMES, MAX_INTERPRETERS_WALK, MAX_KERNEL_FRAMES, MAX_NATIVE_FRAMES,
    MAX_OFF_CPU_FRAMES, MAX_PROCESSES, MAX_THREADS_WALK, MAX_THREAD_CACHE, MAX_VERSION_SLOTS,
    NO_TSTATE_TTL_NS, OFFSETS_BLOCK_READ, OFFSETS_CFRAME, OFFSETS_CODE_REPORTS,
    OFFSETS_GC_IN_INTERP, OFFSETS_GIL_IN_INTERP, OFFSETS_INSTR_PTR, OFFSETS_NAME_HASH,
    OFFSETS_NO_EXC_INFO, OFFSETS_OWNER, SAMPLE_HOLDS_GIL, SAMPLE_IN_EXCEPTION, SAMPLE_IN_GC,
    SAMPLE_OFF_CPU, SAMPLE_ON_CPU, SAMPLE_PREEMPTED, SAMPLE_READ_ERROR, SAMPLE_TORN,
    SAMPLE_TRUNCATED, SAMPLE_UNINTERRUPTIBLE, TSTATE_WINDOW,
};

#[map]
static CONFIG: Array<Config> = Array::with_max_entries(1, 0);
#[map]
static PY_OFFSETS: Array<PyOffsets> = Array::with_max_entries(MAX_VERSION_SLOTS, 0);
#[map]
static PY_PROCS: HashMap<u32, ProcInfo> = HashMap::with_max_entries(MAX_PROCESSES, 0);
/// (tgid << 32 | tid) → `PyThreadState*`, revalidated on every hit.
#[map]
static TSTATE_CACHE: LruHashMap<u64, u64> = LruHashMap::with_max_entries(MAX_THREAD_CACHE, 0);
/// (tgid << 32 | tid) → when a walk last found no `PyThreadState` for it
/// (ktime ns): its ticks skip the walk for `NO_TSTATE_TTL_NS`. Not while
/// the interpreter has no thread state at all (a starting interpreter: its
/// main thread gets the first one within milliseconds, and must be walked
/// for again at once).
#[map]
static NO_TSTATE_SEEN: LruHashMap<u64, u64> = LruHashMap::with_max_entries(MAX_THREAD_CACHE, 0);
/// Threads whose off-CPU stack was captured: tid → tgid (wall mode).
#[map]
static OFF_CPU: LruHashMap<u32, u32> = LruHashMap::with_max_entries(MAX_THREAD_CACHE, 0);
#[map]
static SCRATCH: PerCpuArray<SampleRecord> = PerCpuArray::with_max_entries(1, 0);
#[map]
static WALK: PerCpuArray<WalkState> = PerCpuArray::with_max_entries(1, 0);
/// The code report being built.
#[map]
static CODE_SCRATCH: PerCpuArray<CodeRecord> = PerCpuArray::with_max_entries(1, 0);
/// Code objects reported lately, direct-mapped by (pid, code pointer): a
/// miss reports the code object and takes the slot.
#[map]
static CODE_SEEN: PerCpuArray<CodeSeen> = PerCpuArray::with_max_entries(CODE_SEEN_SLOTS, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// A code object reported to userspace: which process (and which epoch of
/// that pid) it belongs to, and its fingerprint.
#[repr(C)]
struct CodeSeen {
    code: u64,
    fingerprint: u32,
    pid: u32,
    epoch: u32,
    _pad: u32,
}

/// Per-CPU state of one sample's walk, shared with the `bpf_loop` callbacks.
#[repr(C)]
struct WalkState {
    off: PyOffsets,
    /// The process walked, and its epoch (`ProcInfo::epoch`).
    pid: u32,
    epoch: u32,
    /// `ProcInfo::code_type` of the process walked.
    code_type: u64,
    /// The first [`TSTATE_WINDOW`] bytes of the thread state found, read
    /// once: its thread id, frame, interpreter and exception fields come
    /// from here (when they lie inside) instead of a read each.
    tbuf: [u8; TSTATE_WINDOW],
    /// `tbuf` holds the thread state at this address (0: nothing).
    tbuf_of: u64,
    /// Next frame to read (0: done).
    frame: u64,
    /// Thread-list cursor, then the thread state found (0: none).
    tstate: u64,
    fsbase: u64,
    /// Code pointer of the previous frame and its fingerprint (recursion
    /// repeats the same code object; its fingerprint is read once).
    last_code: u64,
    last_fp: u32,
    nframes: u32,
    flags: u32,
    /// 1: the thread walk found the thread; 2: a recent miss was
    /// remembered (no walk).
    found: u32,
    /// Thread-list steps left this tick (all interpreters together).
    steps_left: u32,
    /// Cycle detection in the frame list (Brent): a frame saved every
    /// power-of-two steps; meeting it again means a cycle.
    cycle_steps: u32,
    cycle_power: u32,
    /// `LEAF_OPCODE_READ | byte` once the leaf's opcode was read, else 0.
    leaf_opcode: u32,
    /// Frames the walk may still visit (Python frames and skipped ones).
    frames_left: u32,
    _pad0: u32,
    cycle_mark: u64,
    /// `--async-aware`: the frame embedded in the running task's coroutine
    /// (0: none), and the 1-based index it got among the frames (0: not
    /// met yet).
    task_frame_addr: u64,
    /// The leaf frame's instruction pointer (3.11+; 0: none).
    leaf_ip: u64,
    task_index: u32,
    _pad1: u32,
    buf: [u8; FRAME_BUF_SIZE],
    /// The fingerprint window of the current code object.
    cbuf: [u8; FRAME_BUF_SIZE],
    /// The frame being walked.
    fields: FrameFields,
    /// User address of `block[0]`, when `block_valid`.
    block_start: u64,
    block_valid: u32,
    _pad: u32,
    /// A run of the data stack ending just past the last frame read there,
    /// as u64 words (frames and their pointer fields are 8-byte aligned).
    block: [u64; FRAME_BLOCK / 8],
    /// Code objects met in this walk that this CPU has not reported lately:
    /// reported after the walk, by a `bpf_loop` of their own, so the
    /// verifier checks the report once, not inside every frame step.
    pending: [PendingReport; PENDING_REPORTS],
    npending: u32,
    _pad2: u32,
}

/// A code report to send after the walk: the code object, its
/// fingerprint, and the CODE_SEEN slot that already names it.
#[repr(C)]
#[derive(Clone, Copy)]
struct PendingReport {
    code: u64,
    fingerprint: u32,
    slot: u32,
}

/// Code reports one sample sends at most; code objects beyond them are
/// reported by a later sample (they are not marked as seen).
const PENDING_REPORTS: usize = 16;

#[inline(always)]
fn count(idx: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(idx) {
        // SAFETY: the pointer comes from a per-CPU array lookup and is valid
        // for this CPU for the duration of the program.
        unsafe { *c += 1 };
    }
}

/// Reads a `T` from user memory; `None` on fault.
#[inline(always)]
fn read_user<T: Copy>(addr: u64) -> Option<T> {
    let mut v = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: the helper writes at most size_of::<T>() bytes into `v` and
    // reports faults through its return value instead of crashing.
    let r = unsafe {
        bpf_probe_read_user(
            v.as_mut_ptr() as *mut c_void,
            core::mem::size_of::<T>() as u32,
            addr as *const c_void,
        )
    };
    if r == 0 {
        // SAFETY: the helper succeeded, so every byte of `v` was written.
        Some(unsafe { v.assume_init() })
    } else {
        None
    }
}

/// Reads a `T` at a userspace-supplied offset inside a buffer of `N`
/// bytes (a frame, a code window, a thread state's head), bounds-checked
/// for the verifier.
#[inline(always)]
fn buf_read<T: Copy, const N: usize>(buf: &[u8; N], off: u32) -> Option<T> {
    let off = off as usize;
    if off > N - core::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: `off + size_of::<T>() <= N` was checked above, and
    // `read_unaligned` has no alignment requirement.
    Some(unsafe { core::ptr::read_unaligned(buf.as_ptr().add(off) as *const T) })
}

/// `bpf_loop` callback: one step of the thread-list walk.
extern "C" fn thread_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let Some(st) = WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU map value, valid for this program run; no other
    // program touches this CPU's value concurrently.
    let st = unsafe { &mut *st };
    let cur = st.tstate;
    if cur == 0 || st.steps_left == 0 {
        return 1;
    }
    st.steps_left -= 1;
    let Some(tid) = read_user::<u64>(cur + st.off.tstate_thread_id as u64) else {
        st.tstate = 0;
        return 1;
    };
    if tid == st.fsbase {
        st.found = 1;
        return 1;
    }
    st.tstate = read_user::<u64>(cur + st.off.tstate_next as u64).unwrap_or(0);
    0
}

/// Reads FRAME_BLOCK bytes of user memory at `start` into `st.block`.
#[inline(always)]
fn read_block(st: &mut WalkState, start: u64) -> i64 {
    // SAFETY: the destination is FRAME_BLOCK bytes long.
    unsafe {
        bpf_probe_read_user(
            st.block.as_mut_ptr() as *mut c_void,
            FRAME_BLOCK as u32,
            start as *const c_void,
        )
    }
}

/// The fields of one frame the walk needs (in the per-CPU walk state: the
/// program's stack is small).
#[repr(C)]
struct FrameFields {
    previous: u64,
    /// Code pointer, tag bits not yet masked.
    code: u64,
    /// Instruction pointer ([`OFFSETS_INSTR_PTR`]) or `f_lasti` (low 32 bits).
    instr: u64,
    /// Owner byte (0 without [`OFFSETS_OWNER`]).
    owner: u32,
    _pad: u32,
}

/// The u64 at byte `off` of the block (`off` 8-aligned: the caller checked
/// the frame and the field offsets); `None` when not inside.
#[inline(always)]
fn block_u64(st: &WalkState, off: u64) -> Option<u64> {
    const WORDS: usize = FRAME_BLOCK / 8;
    let i = (off >> 3) as usize;
    if i >= WORDS {
        return None;
    }
    // Masked after an opaque copy, so that the compiler keeps the mask
    // (it would otherwise merge the bound checks of several fields into
    // one the verifier cannot follow); a no-op since `i < WORDS`.
    let i = core::hint::black_box(i) & (WORDS - 1);
    Some(st.block[i])
}

/// The fields of the frame at `frame` straight from the data-stack block
/// (3.11+), reading a new block ending at this frame when it is not inside
/// the current one. `None`: not in a readable block, or a field not
/// aligned: the caller reads the frame alone.
#[inline(always)]
fn block_fields(st: &mut WalkState, frame: u64) -> bool {
    const SPAN: u64 = FRAME_BUF_SIZE as u64;
    let need = (st.off.frame_read_size & (FRAME_BUF_SIZE as u32 - 1)) as u64;
    if st.off.flags & OFFSETS_BLOCK_READ == 0
        || st.off.flags & OFFSETS_INSTR_PTR == 0
        || (frame | st.off.frame_previous as u64 | st.off.frame_code as u64) & 7 != 0
        || st.off.frame_instr & 7 != 0
        || need == 0
    {
        return false;
    }
    let inside = st.block_valid != 0
        && frame >= st.block_start
        && frame + need <= st.block_start + FRAME_BLOCK as u64;
    if !inside {
        // Callers sit below their callees: end the block at this frame.
        // Near the bottom of a data-stack chunk that reaches below the
        // mapping; then take the frame's own page.
        let mut start = (frame + SPAN).saturating_sub(FRAME_BLOCK as u64);
        let mut r = read_block(st, start);
        if r != 0 {
            start = frame & !(FRAME_BLOCK as u64 - 1);
            r = read_block(st, start);
        }
        st.block_start = start;
        st.block_valid = (r == 0) as u32;
        if r != 0 || frame + need > start + FRAME_BLOCK as u64 {
            return false;
        }
    }
    match block_frame(st, frame.wrapping_sub(st.block_start)) {
        Some(f) => {
            st.fields = f;
            true
        }
        None => false,
    }
}

/// The fields of the frame at `base` bytes into the block read; `None`
/// when one lies outside it.
#[inline(always)]
fn block_frame(st: &WalkState, base: u64) -> Option<FrameFields> {
    let owner = if st.off.flags & OFFSETS_OWNER != 0 {
        let at = base + st.off.frame_owner as u64;
        let word = block_u64(st, at & !7)?;
        ((word >> ((at & 7) * 8)) & 0xff) as u32
    } else {
        0
    };
    Some(FrameFields {
        previous: block_u64(st, base + st.off.frame_previous as u64)?,
        code: block_u64(st, base + st.off.frame_code as u64)?,
        instr: block_u64(st, base + st.off.frame_instr as u64)?,
        owner,
        _pad: 0,
    })
}

/// Cycle detection (Brent): one more step; every power-of-two steps the
/// frame is saved, and meeting it again means the list is a cycle.
#[inline(always)]
fn cycle_step(st: &mut WalkState, frame: u64) {
    st.cycle_steps += 1;
    if st.cycle_steps >= st.cycle_power {
        st.cycle_mark = frame;
        st.cycle_power = st.cycle_power.wrapping_shl(1);
        st.cycle_steps = 0;
    }
}

/// Appends the Python frame read at `frame` as the sample's frame `n`
/// (`n < MAX_FRAMES`, checked by the caller), and notes where the running
/// task's coroutine frame is.
#[inline(always)]
fn push_frame(st: &mut WalkState, rec: &mut SampleRecord, n: usize, frame: u64, f: Frame) {
    rec.frames[n] = f;
    st.nframes += 1;
    if frame == st.task_frame_addr && st.task_index == 0 {
        st.task_index = st.nframes;
    }
}

/// The fields of the frame at `frame` from one read of the frame alone
/// (into `st.buf`); `None` when it cannot be read.
#[inline(always)]
fn read_fields(st: &mut WalkState, frame: u64) -> bool {
    // Masked (not compared) so the verifier sees the bound: sizes are < 128.
    let size = st.off.frame_read_size & (FRAME_BUF_SIZE as u32 - 1);
    if size == 0 {
        return false;
    }
    // SAFETY: `size < FRAME_BUF_SIZE`, the destination buffer's length.
    let r = unsafe {
        bpf_probe_read_user(
            st.buf.as_mut_ptr() as *mut c_void,
            size,
            frame as *const c_void,
        )
    };
    if r != 0 {
        return false;
    }
    let instr = if st.off.flags & OFFSETS_INSTR_PTR != 0 {
        buf_read::<u64, _>(&st.buf, st.off.frame_instr).unwrap_or(0)
    } else {
        buf_read::<i32, _>(&st.buf, st.off.frame_instr).unwrap_or(-1) as u32 as u64
    };
    let owner = if st.off.flags & OFFSETS_OWNER != 0 {
        buf_read::<u8, _>(&st.buf, st.off.frame_owner).unwrap_or(0) as u32
    } else {
        0
    };
    st.fields = FrameFields {
        previous: buf_read::<u64, _>(&st.buf, st.off.frame_previous).unwrap_or(0),
        code: buf_read::<u64, _>(&st.buf, st.off.frame_code).unwrap_or(0),
        instr,
        owner,
        _pad: 0,
    };
    true
}

/// Clamps a length to `cap` (a power of two) in a way the verifier sees:
/// masked first, then compared.
#[inline(always)]
fn clamp_len(n: u64, cap: usize) -> (usize, bool) {
    if n > cap as u64 {
        return (cap, true);
    }
    let n = (n as usize) & (cap * 2 - 1);
    if n > cap {
        (cap, true)
    } else {
        (n, false)
    }
}

/// Copies the characters of the compact `str` at `addr` (at most `cap`
/// bytes) to `dst`: (bytes copied, bytes per character (0: not
/// captured), cut).
#[inline(always)]
fn copy_str(c: &CodeCapture, addr: u64, dst: *mut u8, cap: usize) -> (usize, u32, bool) {
    const NONE: (usize, u32, bool) = (0, 0, false);
    if addr == 0 {
        return NONE;
    }
    let (Some(len), Some(state)) = (
        read_user::<u64>(addr + c.str_length as u64),
        read_user::<u32>(addr + c.str_state as u64),
    ) else {
        return NONE;
    };
    if state & c.str_compact_bit == 0 || len > 1 << 30 {
        return NONE;
    }
    let kind = (state & c.str_kind_mask) >> (c.str_kind_shift & 31);
    if kind != 1 && kind != 2 && kind != 4 {
        return NONE;
    }
    let data = if state & c.str_ascii_bit != 0 {
        c.str_ascii_data
    } else {
        c.str_compact_data
    };
    // `cap` is a multiple of 4: a cut string keeps whole characters.
    let (n, cut) = clamp_len(len * kind as u64, cap);
    if n > 0 {
        // SAFETY: the caller guarantees `cap` bytes at `dst`; `n <= cap`.
        let r = unsafe {
            bpf_probe_read_user(
                dst as *mut c_void,
                n as u32,
                (addr + data as u64) as *const c_void,
            )
        };
        if r != 0 {
            return NONE;
        }
    }
    (n, kind, cut)
}

/// Sends userspace what it needs to name a code object whose process
/// (or the object) may be gone when the sample is symbolized: its qualname,
/// file name, line table and first line, from the window in `st.cbuf`.
/// False when the ring buffer was full.
#[inline(always)]
fn report_code(st: &WalkState, code: u64, fp: u32) -> bool {
    let Some(rec) = CODE_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let c = &st.off.capture;
    let w = st.off.code_window;
    let qualname = buf_read::<u64, _>(&st.cbuf, c.qualname.wrapping_sub(w)).unwrap_or(0);
    let filename = buf_read::<u64, _>(&st.cbuf, c.filename.wrapping_sub(w)).unwrap_or(0);
    let table = buf_read::<u64, _>(&st.cbuf, c.linetable.wrapping_sub(w)).unwrap_or(0);
    let firstlineno = buf_read::<i32, _>(&st.cbuf, c.firstlineno.wrapping_sub(w)).unwrap_or(0);
    // SAFETY: `rec` points at this CPU's CODE_SCRATCH value; `data` holds
    // CODE_NAME_MAX + CODE_FILE_MAX + CODE_TABLE_MAX bytes.
    let data = unsafe { core::ptr::addr_of_mut!((*rec).data) as *mut u8 };
    let (name_len, name_kind, name_cut) = copy_str(c, qualname, data, CODE_NAME_MAX);
    let name_len = name_len & (CODE_NAME_MAX * 2 - 1);
    if name_len > CODE_NAME_MAX {
        return false;
    }
    // SAFETY: `name_len <= CODE_NAME_MAX`: CODE_FILE_MAX bytes follow.
    let (file_len, file_kind, file_cut) =
        copy_str(c, filename, unsafe { data.add(name_len) }, CODE_FILE_MAX);
    let file_len = file_len & (CODE_FILE_MAX * 2 - 1);
    if file_len > CODE_FILE_MAX {
        return false;
    }
    let mut flags = name_kind | file_kind << CODE_FILE_KIND_SHIFT;
    if name_cut {
        flags |= CODE_NAME_CUT;
    }
    if file_cut {
        flags |= CODE_FILE_CUT;
    }
    let mut table_len = 0usize;
    let size = if table != 0 {
        read_user::<i64>(table + c.bytes_size as u64)
    } else {
        None
    };
    match size {
        Some(size) if size >= 0 => {
            let (n, cut) = clamp_len(size as u64, CODE_TABLE_MAX);
            if cut {
                flags |= CODE_TABLE_CUT;
            }
            if n > 0 {
                // SAFETY: `name_len + file_len <= CODE_NAME_MAX +
                // CODE_FILE_MAX`, so `n <= CODE_TABLE_MAX` bytes fit.
                let r = unsafe {
                    bpf_probe_read_user(
                        data.add(name_len + file_len) as *mut c_void,
                        n as u32,
                        (table + c.bytes_data as u64) as *const c_void,
                    )
                };
                if r == 0 {
                    table_len = n;
                } else {
                    flags |= CODE_TABLE_MISSING;
                }
            }
        }
        _ => flags |= CODE_TABLE_MISSING,
    }
    let header = CodeHeader {
        kind: EVENT_CODE,
        pid: st.pid,
        code,
        fingerprint: fp,
        firstlineno,
        flags,
        name_len: name_len as u32,
        file_len: file_len as u32,
        table_len: table_len as u32,
    };
    // SAFETY: `rec` points at this CPU's CODE_SCRATCH value.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*rec).header), header) };
    let size = core::mem::size_of::<CodeHeader>() + name_len + file_len + table_len;
    emit(rec, size, counter::CODE_REPORTS, counter::CODE_REPORTS_LOST)
}

/// Sends the first `size` bytes of the per-CPU record at `rec` to the
/// ring buffer, counted under `sent`, or `lost` when the buffer is full;
/// false when it was not sent (a size over the record's is never sent).
#[inline(always)]
fn emit<T>(rec: *mut T, size: usize, sent: u32, lost: u32) -> bool {
    if size > core::mem::size_of::<T>() {
        return false;
    }
    // SAFETY: `size` is at most size_of::<T>(), the size of the map value
    // `rec` points to.
    let r = unsafe {
        bpf_ringbuf_output(
            &EVENTS as *const RingBuf as *mut c_void,
            rec as *mut c_void,
            size as u64,
            wakeup_flags(),
        )
    };
    count(if r == 0 { sent } else { lost });
    r == 0
}

/// Queues the code object at `code` for a report after the walk unless
/// this CPU reported it (for this process and epoch) lately; its
/// CODE_SEEN slot names it from now on (cleared again if the report is
/// lost).
#[inline(always)]
fn queue_report(st: &mut WalkState, code: u64, fp: u32) {
    let n = st.npending as usize;
    if n >= PENDING_REPORTS {
        return;
    }
    let h = (code ^ (st.pid as u64) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let slot = (h >> 54) as u32 & (CODE_SEEN_SLOTS - 1);
    let Some(seen) = CODE_SEEN.get_ptr_mut(slot) else {
        return;
    };
    // SAFETY: per-CPU map value, valid for this program run, used by this
    // CPU only.
    let seen = unsafe { &mut *seen };
    if seen.code == code && seen.fingerprint == fp && seen.pid == st.pid && seen.epoch == st.epoch {
        return;
    }
    seen.code = code;
    seen.fingerprint = fp;
    seen.pid = st.pid;
    seen.epoch = st.epoch;
    st.pending[n] = PendingReport {
        code,
        fingerprint: fp,
        slot,
    };
    st.npending += 1;
}

/// `bpf_loop` callback: sends the `index`th queued code report.
extern "C" fn report_step(index: u64, _ctx: *mut c_void) -> i64 {
    let Some(st) = WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU map value, valid for this program run and used by
    // this CPU only.
    let st = unsafe { &mut *st };
    let i = index as usize;
    if i >= PENDING_REPORTS {
        return 1;
    }
    let p = st.pending[i];
    // Only a code object is reported: a frame torn by the sample (its
    // code pointer left from a frame that ended) may point at anything.
    // Not reported, its frame is named by a read of it, which checks too.
    let ob_type = read_user::<u64>(p.code.wrapping_add(st.off.capture.ob_type as u64));
    if st.code_type != 0 && ob_type != Some(st.code_type) {
        return 0;
    }
    // The code object's window again (the walk has read others since).
    // SAFETY: CODE_WINDOW <= FRAME_BUF_SIZE, the destination's length.
    let r = unsafe {
        bpf_probe_read_user(
            st.cbuf.as_mut_ptr() as *mut c_void,
            CODE_WINDOW as u32,
            (p.code + st.off.code_window as u64) as *const c_void,
        )
    };
    if r != 0 || !report_code(st, p.code, p.fingerprint) {
        // Not reported: a later sample tries again.
        if let Some(seen) = CODE_SEEN.get_ptr_mut(p.slot) {
            // SAFETY: per-CPU map value, used by this CPU only.
            unsafe { (*seen).code = 0 };
        }
    }
    0
}

/// Frames walked per `bpf_loop` callback: one by the general path, then up
/// to this many minus one by the fast path.
const FRAMES_PER_STEP: u32 = 64;

/// `bpf_loop` callback: walks one frame by the general path, then as many
/// as the fast path takes (up to [`FRAMES_PER_STEP`] in all): the
/// callback's call and its two map lookups are paid once per batch.
extern "C" fn frame_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let (Some(st), Some(rec)) = (WALK.get_ptr_mut(0), SCRATCH.get_ptr_mut(0)) else {
        return 1;
    };
    // SAFETY: per-CPU map values, valid for this program run and used by
    // this CPU only.
    let (st, rec) = unsafe { (&mut *st, &mut *rec) };
    if !walk_one(st, rec) {
        return 1;
    }
    let mut i = 1;
    while i < FRAMES_PER_STEP {
        if !walk_fast(st, rec) {
            break;
        }
        i += 1;
    }
    0
}

/// The fast path of the walk: the next frame lies in the block already
/// read, is a Python frame and runs the previous frame's code object (a
/// recursion), so nothing but the block is read. False, with nothing
/// changed, when any of that does not hold (the general path takes it).
#[inline(always)]
fn walk_fast(st: &mut WalkState, rec: &mut SampleRecord) -> bool {
    let frame = st.frame;
    if frame == 0
        || st.frames_left == 0
        || st.block_valid == 0
        || frame < st.block_start
        || st.last_code == 0
    {
        return false;
    }
    // `block_fields` checked the flags and the alignment of the offsets
    // before it read the block (the offsets do not change during a walk);
    // the flags are checked again, as cheap as a comment.
    if frame & 7 != 0
        || st.off.flags & OFFSETS_BLOCK_READ == 0
        || st.off.flags & OFFSETS_INSTR_PTR == 0
    {
        return false;
    }
    let Some(f) = block_frame(st, frame - st.block_start) else {
        return false;
    };
    if st.off.flags & OFFSETS_OWNER != 0 && f.owner >= st.off.owner_skip_min {
        return false;
    }
    let code = f.code & st.off.code_ptr_mask;
    let n = st.nframes as usize;
    if code != st.last_code || frame == st.cycle_mark || n >= MAX_FRAMES {
        return false;
    }
    st.frames_left -= 1;
    cycle_step(st, frame);
    st.frame = f.previous;
    let fingerprint = st.last_fp;
    push_frame(
        st,
        rec,
        n,
        frame,
        Frame {
            code,
            lasti: instr_index(st, code, f.instr),
            fingerprint,
        },
    );
    true
}

/// The index of the code unit at instruction pointer `ptr` in the code
/// object at `code` ([`OFFSETS_INSTR_PTR`] layouts: 2-byte units from
/// `co_code_adaptive`).
#[inline(always)]
fn instr_index(st: &WalkState, code: u64, ptr: u64) -> i32 {
    let start = code.wrapping_add(st.off.code_adaptive as u64);
    ((ptr.wrapping_sub(start) as i64) / 2) as i32
}

/// Reads one frame and appends it to the sample (the general path); false
/// when the walk ends.
#[inline(always)]
fn walk_one(st: &mut WalkState, rec: &mut SampleRecord) -> bool {
    let frame = st.frame;
    if frame == 0 || st.frames_left == 0 {
        return false;
    }
    if !block_fields(st, frame) && !read_fields(st, frame) {
        st.flags |= SAMPLE_READ_ERROR;
        return false;
    }
    let skip = st.off.flags & OFFSETS_OWNER != 0 && st.fields.owner >= st.off.owner_skip_min;
    let code = st.fields.code & st.off.code_ptr_mask;
    st.frames_left -= 1;
    // A frame met again: the list is a cycle (read while the interpreter
    // relinked it, or a corrupt or hostile process). End the walk: the
    // sample is torn.
    if frame == st.cycle_mark {
        st.flags |= SAMPLE_TORN;
        count(counter::FRAME_CYCLES);
        return false;
    }
    cycle_step(st, frame);
    let prev = st.fields.previous;
    st.frame = prev;
    if skip {
        // Shim / C-stack / interpreter-owned frame: not Python. In the
        // middle of the stack it is where C code called back into
        // Python: leave a `<native>` marker (code 0), once, and go on.
        let n = st.nframes as usize;
        if prev != 0 && st.last_code != 0 && n < MAX_FRAMES {
            rec.frames[n] = Frame {
                code: 0,
                lasti: 0,
                fingerprint: 0,
            };
            st.nframes += 1;
            st.last_code = 0;
        }
        return true;
    }
    if code == 0 {
        return true;
    }
    let lasti = if st.off.flags & OFFSETS_INSTR_PTR != 0 {
        let ptr = st.fields.instr;
        let lasti = instr_index(st, code, ptr);
        // `--opcodes`: where the leaf's instruction is; its byte is read
        // after the walk (`read_leaf_opcode`), not here, where no stack
        // is to spare.
        if st.nframes == 0 && lasti >= 0 {
            st.leaf_ip = ptr;
        }
        lasti
    } else {
        st.fields.instr as u32 as i32
    };
    let fp = if code == st.last_code {
        st.last_fp
    } else {
        code_fingerprint(st, code)
    };
    let n = st.nframes as usize;
    if n >= MAX_FRAMES {
        st.flags |= SAMPLE_TRUNCATED;
        return false;
    }
    push_frame(
        st,
        rec,
        n,
        frame,
        Frame {
            code,
            lasti,
            fingerprint: fp,
        },
    );
    true
}

/// The fingerprint of the code object at `code` (0: unreadable), reported
/// to userspace when this CPU has not reported it lately.
#[inline(always)]
fn code_fingerprint(st: &mut WalkState, code: u64) -> u32 {
    // One read covers co_name and the fingerprint field.
    // SAFETY: CODE_WINDOW <= FRAME_BUF_SIZE, the destination's length.
    let r = unsafe {
        bpf_probe_read_user(
            st.cbuf.as_mut_ptr() as *mut c_void,
            CODE_WINDOW as u32,
            (code + st.off.code_window as u64) as *const c_void,
        )
    };
    // Offsets validated by userspace: both fields lie inside the window.
    let name = buf_read::<u64, _>(&st.cbuf, st.off.code_name.wrapping_sub(st.off.code_window))
        .unwrap_or(0);
    let field = buf_read::<u32, _>(
        &st.cbuf,
        st.off.code_fp_field.wrapping_sub(st.off.code_window),
    )
    .unwrap_or(0);
    let mut fp = 0;
    if r == 0 && name != 0 {
        if st.off.flags & OFFSETS_NAME_HASH == 0 {
            fp = fingerprint(name, 0, field);
        } else if let Some(h) = read_user::<u64>(name + st.off.str_hash as u64) {
            let at = |off: u32| {
                buf_read::<u64, _>(&st.cbuf, off.wrapping_sub(st.off.code_window)).unwrap_or(0)
            };
            let mix = identity_mix(h, at(st.off.capture.filename), at(st.off.capture.linetable));
            fp = fingerprint(name, mix, field);
        }
    }
    st.last_code = code;
    st.last_fp = fp;
    if fp != 0 && st.off.flags & OFFSETS_CODE_REPORTS != 0 {
        queue_report(st, code, fp);
    }
    fp
}

/// `--async-aware`: the running asyncio task of the thread whose state is
/// at `tstate` (0: none, or not asked for), and the address of the frame
/// embedded in its coroutine.
#[inline(always)]
fn running_task(proc_info: &ProcInfo, tstate: u64) -> (u64, u64) {
    if proc_info.async_running_task == 0 {
        return (0, 0);
    }
    let task = user_u64(tstate, proc_info.async_running_task);
    if task == 0 {
        return (0, 0);
    }
    let coro = user_u64(task, proc_info.async_task_coro);
    if coro == 0 {
        return (task, 0);
    }
    (task, coro.wrapping_add(proc_info.async_coro_frame as u64))
}

/// Reads a field of the per-CPU walk state that a `bpf_loop` callback may
/// have written (volatile: the compiler cannot see the callback's writes).
macro_rules! shared_get {
    ($st:expr, $field:ident) => {
        // SAFETY: `$st` points at this CPU's WALK map value.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*$st).$field)) }
    };
}

/// Writes a field of the per-CPU walk state before a `bpf_loop` callback
/// reads it.
macro_rules! shared_set {
    ($st:expr, $field:ident, $v:expr) => {
        // SAFETY: `$st` points at this CPU's WALK map value.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*$st).$field), $v) }
    };
}

/// Finds the `PyThreadState*` of the current thread, or 0. With
/// `trust_misses`, a miss remembered from under NO_TSTATE_TTL_NS ago is
/// answered without a walk (the tick path). A thread leaving the CPU is
/// always looked for (unless its process's memory cannot be read): a new
/// thread that first blocked before its thread state existed and then
/// blocks for good within the TTL would otherwise never be seen (its last
/// switch-out is its only chance).
#[inline(always)]
fn find_tstate(
    st: *mut WalkState,
    off: &PyOffsets,
    key: u64,
    runtime: u64,
    fsbase: u64,
    trust_misses: bool,
) -> u64 {
    shared_set!(st, tbuf_of, 0);
    if let Some(p) = TSTATE_CACHE.get_ptr(key) {
        // SAFETY: pointer from a successful map lookup.
        let ts = unsafe { *p };
        if read_tstate_window(st, ts) && tstate_u64(st, ts, off.tstate_thread_id) == fsbase {
            return ts;
        }
        shared_set!(st, tbuf_of, 0);
    }
    // SAFETY: bpf_ktime_get_ns has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: plain map lookup; the value is copied out at once.
    let remembered = unsafe { NO_TSTATE_SEEN.get(key) }
        .is_some_and(|&missed| now.wrapping_sub(missed) < NO_TSTATE_TTL_NS);
    if remembered && trust_misses {
        shared_set!(st, found, 2);
        return 0;
    }
    let first_interp = read_user::<u64>(runtime + off.runtime_interp_head as u64);
    // A thread whose process's memory cannot be read (a thread exiting
    // has none left) cannot be walked for either.
    if remembered && first_interp.is_none() {
        shared_set!(st, found, 2);
        return 0;
    }
    count(counter::TSTATE_WALKS);
    shared_set!(st, steps_left, MAX_THREADS_WALK);
    let mut interp = first_interp.unwrap_or(0);
    // Whether the first interpreter has any thread state yet.
    let mut any_tstate = false;
    let mut i = 0;
    while i < MAX_INTERPRETERS_WALK {
        if interp == 0 {
            break;
        }
        let head = read_user::<u64>(interp + off.interp_threads_head as u64).unwrap_or(0);
        any_tstate |= head != 0;
        shared_set!(st, tstate, head);
        shared_set!(st, found, 0);
        // SAFETY: `thread_step` is a valid bpf_loop callback; it takes no context.
        unsafe {
            bpf_loop(
                MAX_THREADS_WALK,
                thread_step as *mut c_void,
                core::ptr::null_mut(),
                0,
            )
        };
        let ts = shared_get!(st, tstate);
        if shared_get!(st, found) != 0 && ts != 0 {
            let _ = TSTATE_CACHE.insert(key, ts, 0);
            read_tstate_window(st, ts);
            return ts;
        }
        interp = read_user::<u64>(interp + off.interp_next as u64).unwrap_or(0);
        i += 1;
    }
    shared_set!(st, found, 0);
    if any_tstate {
        let _ = NO_TSTATE_SEEN.insert(key, now, 0);
    }
    0
}

/// Reads a u64 at `base + off` in user memory, 0 on fault.
#[inline(always)]
fn user_u64(base: u64, off: u32) -> u64 {
    read_user::<u64>(base + off as u64).unwrap_or(0)
}

/// Reads the head of the thread state at `tstate` into `st.tbuf`; false
/// when it cannot be read.
#[inline(always)]
fn read_tstate_window(st: *mut WalkState, tstate: u64) -> bool {
    // SAFETY: the helper writes at most TSTATE_WINDOW bytes into `tbuf`,
    // an array of that size in this CPU's WALK map value.
    let r = unsafe {
        bpf_probe_read_user(
            core::ptr::addr_of_mut!((*st).tbuf) as *mut c_void,
            TSTATE_WINDOW as u32,
            tstate as *const c_void,
        )
    };
    shared_set!(st, tbuf_of, if r == 0 { tstate } else { 0 });
    r == 0
}

/// A u64 field of the thread state at `tstate`: from `st.tbuf` when it
/// holds that thread state and the field lies inside, else read.
#[inline(always)]
fn tstate_u64(st: *const WalkState, tstate: u64, off: u32) -> u64 {
    // SAFETY: `st` points at this CPU's WALK map value.
    let st = unsafe { &*st };
    if tstate != 0 && st.tbuf_of == tstate {
        if let Some(v) = buf_read::<u64, TSTATE_WINDOW>(&st.tbuf, off) {
            return v;
        }
    }
    user_u64(tstate, off)
}

/// Flags describing the thread's interpreter state: GIL held, exception
/// being handled, garbage collection running; only those in `want`
/// (`Config::thread_flags`: each costs reads of process memory).
#[inline(always)]
fn thread_flags(
    st: *const WalkState,
    off: &PyOffsets,
    proc_info: &ProcInfo,
    tstate: u64,
    want: u32,
) -> u32 {
    let mut flags = 0;
    let interp = if want & (SAMPLE_HOLDS_GIL | SAMPLE_IN_GC) != 0 {
        tstate_u64(st, tstate, off.tstate_interp)
    } else {
        0
    };
    let gil_base = if off.flags & OFFSETS_GIL_IN_INTERP != 0 {
        interp
    } else {
        proc_info.runtime_addr
    };
    if want & SAMPLE_HOLDS_GIL != 0 && gil_base != 0 {
        // `last_holder` and `locked` side by side (every layout so far):
        // one read.
        let (locked, holder) = if off.gil_locked == off.gil_last_holder + 8 {
            let pair =
                read_user::<[u64; 2]>(gil_base + off.gil_last_holder as u64).unwrap_or([0; 2]);
            (pair[1] as u32, pair[0])
        } else {
            let locked = read_user::<u32>(gil_base + off.gil_locked as u64).unwrap_or(0);
            (locked, user_u64(gil_base, off.gil_last_holder))
        };
        if locked != 0 && holder == tstate {
            flags |= SAMPLE_HOLDS_GIL;
        }
    }
    let gc_base = if off.flags & OFFSETS_GC_IN_INTERP != 0 {
        interp
    } else {
        proc_info.runtime_addr
    };
    if want & SAMPLE_IN_GC != 0
        && gc_base != 0
        && read_user::<u32>(gc_base + off.gc_collecting as u64).unwrap_or(0) != 0
    {
        flags |= SAMPLE_IN_GC;
    }
    // sys.exc_info(): the first item of the exc_info chain whose value is
    // neither NULL nor None (generators push empty items).
    let mut item = if want & SAMPLE_IN_EXCEPTION != 0 && off.flags & OFFSETS_NO_EXC_INFO == 0 {
        tstate_u64(st, tstate, off.tstate_exc_info)
    } else {
        0
    };
    let mut i = 0;
    while i < 8 && item != 0 {
        let v = user_u64(item, off.exc_value);
        if v != 0 && v != proc_info.none_addr {
            flags |= SAMPLE_IN_EXCEPTION;
            break;
        }
        item = user_u64(item, off.exc_previous);
        i += 1;
    }
    flags
}

/// `--opcodes` (`Config::opcodes`): reads the byte at the leaf frame's
/// instruction pointer (the specialised form running now) into
/// `leaf_opcode`. Its own subprogram, so the sampling programs' stacks do
/// not grow.
#[inline(never)]
fn read_leaf_opcode(st: *mut WalkState) {
    let ip = shared_get!(st, leaf_ip);
    if ip == 0 || !CONFIG.get(0).is_some_and(|c| c.opcodes != 0) {
        return;
    }
    // SAFETY: the helper writes at most 1 byte into the low byte of
    // `leaf_opcode` (little-endian; zeroed for each sample), a u32 of this
    // CPU's WALK map value, and reports faults through its return value.
    let r = unsafe {
        bpf_probe_read_user(
            core::ptr::addr_of_mut!((*st).leaf_opcode) as *mut c_void,
            1,
            ip as *const c_void,
        )
    };
    let byte = shared_get!(st, leaf_opcode) & 0xff;
    shared_set!(
        st,
        leaf_opcode,
        if r == 0 { LEAF_OPCODE_READ | byte } else { 0 }
    );
}

/// Walks the current thread's Python stack (at most `max_frames` frames)
/// and writes one sample record to the ring buffer. `ctx` is the program
/// context (for the kernel stack).
#[inline(always)]
fn capture(
    ctx: *mut c_void,
    pid_tgid: u64,
    proc_info: &ProcInfo,
    base_flags: u32,
    max_frames: u32,
) -> bool {
    let tgid = (pid_tgid >> 32) as u32;
    let (Some(cfg), Some(off), Some(st), Some(rec)) = (
        CONFIG.get(0),
        PY_OFFSETS.get(proc_info.version_slot),
        WALK.get_ptr_mut(0),
        SCRATCH.get_ptr_mut(0),
    ) else {
        return false;
    };
    // SAFETY: `off` is a PY_OFFSETS map value and `st` this CPU's WALK map
    // value: both valid for a PyOffsets, and distinct. Copied map to map,
    // not through the stack (the program's stack is small).
    unsafe {
        core::ptr::copy_nonoverlapping(
            off as *const PyOffsets,
            core::ptr::addr_of_mut!((*st).off),
            1,
        )
    };
    shared_set!(st, pid, tgid);
    shared_set!(st, epoch, proc_info.epoch);
    shared_set!(st, code_type, proc_info.code_type);
    // SAFETY: bpf_get_current_task has no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let mut fsbase: u64 = 0;
    // SAFETY: reads 8 bytes of the current task_struct at an offset taken
    // from vmlinux BTF; faults are reported through the return value.
    let r = unsafe {
        bpf_probe_read_kernel(
            &mut fsbase as *mut u64 as *mut c_void,
            8,
            (task + cfg.task_fsbase as u64) as *const c_void,
        )
    };
    let tid = pid_tgid as u32;
    if r != 0 || fsbase == 0 {
        count(counter::NO_TSTATE);
        debug!(&(), target: "tachyon_ebpf", "pid {} tid {}: no thread pointer (fsbase)", tgid, tid);
        return false;
    }
    shared_set!(st, fsbase, fsbase);
    let tstate = find_tstate(
        st,
        off,
        pid_tgid,
        proc_info.runtime_addr,
        fsbase,
        base_flags & SAMPLE_OFF_CPU == 0,
    );
    if tstate == 0 && shared_get!(st, found) == 2 {
        count(counter::NO_TSTATE);
        count(counter::NO_TSTATE_REMEMBERED);
        debug!(
            &(),
            target: "tachyon_ebpf",
            "pid {} tid {}: no PyThreadState (remembered from a walk under 100 ms ago)",
            tgid,
            tid
        );
        return false;
    }
    if tstate == 0 {
        count(counter::NO_TSTATE);
        debug!(
            &(),
            target: "tachyon_ebpf",
            "pid {} tid {}: no PyThreadState has thread_id {:x} (not a Python thread, or not started)",
            tgid,
            tid,
            fsbase
        );
        return false;
    }
    let mut top = tstate_u64(st, tstate, off.tstate_frame);
    if off.flags & OFFSETS_CFRAME != 0 && top != 0 {
        top = user_u64(top, off.cframe_current);
    }
    let flags = base_flags | thread_flags(st, off, proc_info, tstate, cfg.thread_flags);
    let (task, task_frame_addr) = running_task(proc_info, tstate);
    shared_set!(st, task_frame_addr, task_frame_addr);
    shared_set!(st, task_index, 0);
    shared_set!(st, frame, top);
    shared_set!(st, nframes, 0);
    shared_set!(st, flags, flags);
    shared_set!(st, last_code, 0);
    shared_set!(st, last_fp, 0);
    shared_set!(st, block_valid, 0);
    shared_set!(st, cycle_mark, 0);
    shared_set!(st, cycle_power, 1);
    shared_set!(st, cycle_steps, 0);
    shared_set!(st, npending, 0);
    shared_set!(st, leaf_opcode, 0);
    shared_set!(st, leaf_ip, 0);
    shared_set!(st, frames_left, max_frames + 1);
    // SAFETY: `frame_step` is a valid bpf_loop callback; it takes no context.
    unsafe {
        bpf_loop(
            max_frames + 1,
            frame_step as *mut c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    let npending = shared_get!(st, npending);
    if npending != 0 {
        // SAFETY: `report_step` is a valid bpf_loop callback; it takes no
        // context.
        unsafe {
            bpf_loop(
                npending,
                report_step as *mut c_void,
                core::ptr::null_mut(),
                0,
            )
        };
    }
    read_leaf_opcode(st);
    let mut flags = shared_get!(st, flags);
    if shared_get!(st, frame) != 0 && flags & (SAMPLE_READ_ERROR | SAMPLE_TORN) == 0 {
        flags |= SAMPLE_TRUNCATED;
    }
    if flags & SAMPLE_TRUNCATED != 0 {
        count(counter::TRUNCATED);
        debug!(&(), target: "tachyon_ebpf", "pid {} tid {}: stack truncated at {} frames", tgid, tid, max_frames);
    }
    if flags & SAMPLE_READ_ERROR != 0 {
        count(counter::READ_ERRORS);
        let at = shared_get!(st, frame);
        let depth = shared_get!(st, nframes);
        debug!(
            &(),
            target: "tachyon_ebpf",
            "pid {} tid {}: walk stopped after {} frames: cannot read the frame at {:x}",
            tgid,
            tid,
            depth,
            at
        );
    }
    let mut n = shared_get!(st, nframes) as usize;
    if n > MAX_FRAMES {
        n = MAX_FRAMES;
    }
    // The native and kernel stacks go right after the frames, in the same
    // buffer: native first, then kernel.
    let mut nnative = 0usize;
    let mut nkernel = 0usize;
    const STACKS_SLOTS: usize =
        (MAX_NATIVE_FRAMES + MAX_KERNEL_FRAMES) * 8 / core::mem::size_of::<Frame>();
    if (cfg.kernel_stacks | cfg.native_stacks) != 0 && n <= MAX_FRAMES - STACKS_SLOTS {
        // SAFETY: `n + STACKS_SLOTS <= MAX_FRAMES`, so both destination
        // ranges (at most MAX_NATIVE_FRAMES then MAX_KERNEL_FRAMES u64s from
        // frame n) lie inside `rec`.
        let base =
            unsafe { (core::ptr::addr_of_mut!((*rec).frames) as *mut Frame).add(n) as *mut u64 };
        if cfg.native_stacks != 0 {
            // SAFETY: see above; the helper writes at most the size given.
            let got = unsafe {
                bpf_get_stack(
                    ctx,
                    base as *mut c_void,
                    (MAX_NATIVE_FRAMES * 8) as u32,
                    BPF_F_USER_STACK as u64,
                )
            };
            if got > 0 {
                nnative = (got as usize / 8) & (MAX_NATIVE_FRAMES * 2 - 1);
                if nnative > MAX_NATIVE_FRAMES {
                    nnative = MAX_NATIVE_FRAMES;
                }
            }
        }
        if cfg.kernel_stacks != 0 {
            // SAFETY: `nnative <= MAX_NATIVE_FRAMES`, so the kernel range
            // still lies inside `rec`.
            let got = unsafe {
                bpf_get_stack(
                    ctx,
                    base.add(nnative) as *mut c_void,
                    (MAX_KERNEL_FRAMES * 8) as u32,
                    0,
                )
            };
            if got > 0 {
                nkernel = (got as usize / 8) & (MAX_KERNEL_FRAMES * 2 - 1);
                if nkernel > MAX_KERNEL_FRAMES {
                    nkernel = MAX_KERNEL_FRAMES;
                }
            }
        }
    }
    let header = SampleHeader {
        kind: EVENT_SAMPLE,
        flags,
        pid: tgid,
        tid: pid_tgid as u32,
        // SAFETY: helper without arguments.
        cpu: unsafe { bpf_get_smp_processor_id() },
        nframes: n as u32,
        nkernel: nkernel as u32,
        nnative: nnative as u32,
        // SAFETY: helper without arguments.
        ktime_ns: unsafe { bpf_ktime_get_ns() },
        tstate,
        task,
        task_frame: shared_get!(st, task_index),
        leaf_opcode: shared_get!(st, leaf_opcode),
    };
    // SAFETY: `rec` points at this CPU's SCRATCH map value.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*rec).header), header) };
    let size = core::mem::size_of::<SampleHeader>()
        + n * core::mem::size_of::<Frame>()
        + (nnative + nkernel) * 8;
    if emit(rec, size, counter::EMITTED, counter::LOST) {
        return true;
    }
    debug!(&(), target: "tachyon_ebpf", "pid {} tid {}: sample not sent (ring buffer full)", tgid, tid);
    false
}

#[perf_event]
pub fn sample(ctx: PerfEventContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: plain map lookup; the value is copied out.
    let Some(proc_info) = (unsafe { PY_PROCS.get((pid_tgid >> 32) as u32) }).copied() else {
        return 0;
    };
    count(counter::TICKS);
    capture(
        EbpfContext::as_ptr(&ctx),
        pid_tgid,
        &proc_info,
        SAMPLE_ON_CPU,
        MAX_FRAMES as u32,
    );
    0
}

/// The floor: an empty program on the same `cpu-clock` event, at the same
/// rate (`tachyon-bpf floor`). What any eBPF sampler pays per tick (the
/// timer interrupt, the perf event, the program's dispatch) before it does
/// anything; the benchmark measures `sample` against it.
#[perf_event]
pub fn floor(_ctx: PerfEventContext) -> u32 {
    0
}

/// `task_struct.__state` bits (include/linux/sched.h, stable for years).
const TASK_UNINTERRUPTIBLE: u32 = 0x2;
const TASK_NOLOAD: u32 = 0x400;

/// Reads a u32 of a kernel `task_struct` at `off`; `None` on fault.
#[inline(always)]
fn task_u32(task: u64, off: u32) -> Option<u32> {
    let mut v: u32 = 0;
    // SAFETY: reads 4 bytes of a task_struct the tracepoint handed us, at an
    // offset taken from vmlinux BTF; faults are reported through the return
    // value.
    let r = unsafe {
        bpf_probe_read_kernel(
            &mut v as *mut u32 as *mut c_void,
            4,
            (task + off as u64) as *const c_void,
        )
    };
    (r == 0).then_some(v)
}

/// Wall mode: a thread of a tracked process leaves the CPU. It is still
/// `current`, so its user memory is readable: capture its stack now, and
/// report how long it stayed away when it comes back.
///
/// Arguments: `(bool preempt, task_struct *prev, task_struct *next
/// [, unsigned int prev_state])`; userspace checked them against BTF.
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch(ctx: RawTracePointContext) -> u32 {
    let Some(cfg) = CONFIG.get(0) else {
        return 0;
    };
    let prev: u64 = ctx.arg(1);
    let next: u64 = ctx.arg(2);
    // Switch-in first: a thread we saw leave is back.
    if let Some(next_tid) = task_u32(next, cfg.task_pid) {
        // SAFETY: plain map lookup; the value is copied out.
        if let Some(tgid) = unsafe { OFF_CPU.get(next_tid) }.copied() {
            let _ = OFF_CPU.remove(next_tid);
            emit_proc_event(EVENT_SWITCH_IN, tgid, next_tid);
        }
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: plain map lookup; the value is copied out.
    let Some(proc_info) = (unsafe { PY_PROCS.get(tgid) }).copied() else {
        return 0;
    };
    let state = if cfg.switch_state_arg != 0 {
        let s: u64 = ctx.arg(3);
        s as u32
    } else {
        task_u32(prev, cfg.task_state).unwrap_or(0)
    };
    let preempt: u64 = ctx.arg(0);
    let mut flags = SAMPLE_OFF_CPU;
    if preempt & 0xff != 0 || state & 0xff == 0 {
        // Preempted, or runnable again before it left: waiting for a CPU.
        flags |= SAMPLE_PREEMPTED;
    } else if state & TASK_UNINTERRUPTIBLE != 0 && state & TASK_NOLOAD == 0 {
        // `D` (disk I/O and the like); TASK_IDLE waits do not count.
        flags |= SAMPLE_UNINTERRUPTIBLE;
    }
    count(counter::SWITCHES);
    if capture(
        EbpfContext::as_ptr(&ctx),
        pid_tgid,
        &proc_info,
        flags,
        MAX_OFF_CPU_FRAMES as u32,
    ) {
        let _ = OFF_CPU.insert(pid_tgid as u32, tgid, 0);
    }
    0
}

/// Ring buffer size in the object; userspace sizes it at load time from
/// the rate and the CPU count (`map_max_entries`, tachyon-user's drain.rs).
const EVENTS_BYTES: u32 = 16 * 1024 * 1024;

/// Load-time policy, set by userspace (`EbpfLoader::override_global`):
/// a wake-up is forced once this much data waits (a quarter of the buffer).
#[no_mangle]
static EVENTS_WAKEUP_BYTES: u64 = (EVENTS_BYTES / 4) as u64;
/// Load-time policy: 1 below 1 kHz, where the reader sleeps until there is
/// data. A sample then wakes it when it is the first record since the
/// reader drained (no flags: the kernel wakes the reader when the record
/// sits at the consumer position, i.e. the buffer was empty), and process
/// events always wake it. 0: samples never wake the reader, which drains
/// on a short timer.
#[no_mangle]
static EVENTS_WAKE_ON_DATA: u32 = 0;

/// Reads a load-time global (volatile: its value is patched at load).
macro_rules! load_time {
    ($g:ident) => {
        // SAFETY: a plain read of a static the loader may have patched.
        unsafe { core::ptr::read_volatile(&$g) }
    };
}

/// The wake-up flags of a sample (or a context-switch event): forced when
/// the buffer is a quarter full; else none at all (timer-drained), or the
/// kernel's own rule (the first record after a drain wakes the reader).
#[inline(always)]
fn wakeup_flags() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA as u64) >= load_time!(EVENTS_WAKEUP_BYTES) {
        BPF_RB_FORCE_WAKEUP as u64
    } else if load_time!(EVENTS_WAKE_ON_DATA) != 0 {
        0
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

#[inline(always)]
fn emit_proc_event(kind: u32, pid: u32, aux: u32) {
    let ev = ProcEvent {
        kind,
        pid,
        aux,
        _pad: 0,
        // SAFETY: helper without arguments.
        ktime_ns: unsafe { bpf_ktime_get_ns() },
    };
    // Context-switch events are as frequent as samples. Process events are
    // rare: on a timer-drained run they wake the reader when it has caught
    // up; a reader that sleeps until there is data is always woken, so a
    // new process is picked up at once.
    let flags = if kind == EVENT_SWITCH_IN {
        wakeup_flags()
    } else if load_time!(EVENTS_WAKE_ON_DATA) != 0 {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        0
    };
    if EVENTS.output::<ProcEvent>(&ev, flags).is_err() {
        count(counter::EVENTS_LOST);
    }
}

/// `(task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`: the
/// current task has just exec'd.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(_ctx: RawTracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    emit_proc_event(EVENT_EXEC, tgid, 0);
    0
}

/// `(task_struct *p[, bool group_dead])`: the current task exits; only a
/// thread-group leader of a tracked process is reported.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if tgid != pid_tgid as u32 {
        return 0;
    }
    // SAFETY: plain map lookup.
    if unsafe { PY_PROCS.get(tgid) }.is_some() {
        emit_proc_event(EVENT_EXIT, tgid, 0);
    }
    0
}

/// `(task_struct *parent, task_struct *child)`: reported when a tracked
/// process creates a new process (not a thread).
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> u32 {
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: plain map lookup.
    if unsafe { PY_PROCS.get(parent) }.is_none() {
        return 0;
    }
    let Some(cfg) = CONFIG.get(0) else {
        return 0;
    };
    let child: u64 = ctx.arg(1);
    let (Some(pid), Some(tgid)) = (
        task_u32(child, cfg.task_pid),
        task_u32(child, cfg.task_tgid),
    ) else {
        return 0;
    };
    if pid == tgid {
        emit_proc_event(EVENT_FORK, tgid, parent);
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: eBPF programs cannot panic at run time; the verifier rejects
    // any path that could reach here.
    unsafe { core::hint::unreachable_unchecked() }
}

#[no_mangle]
#[link_section = "license"]
pub static LICENSE: [u8; 4] = *b"GPL\0";
