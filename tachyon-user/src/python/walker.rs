//! Walking a process's Python stacks from userspace, with the layout table
//! the kernel walker uses: every thread, running or asleep, at one moment
//! (`tachyon-bpf dump`). It reads the process's memory through
//! [`RemoteMemory`] (`process_vm_readv`) and gives the kernel's raw
//! [`Frame`]s, so the same symbolizer names them; its rules are the kernel
//! walker's, step for step (the thread list, the frame owners and the
//! `<native>` marker where C called back into Python, the instruction
//! index, the code object's fingerprint), and its bounds too (threads,
//! frames, cycles). Its frames are therefore the kernel's frames: the
//! symbolizer caches and names them under the same keys, and a stack read
//! here merges with the same stack sampled in the kernel.

use tachyon_common::{
    fingerprint, identity_mix, Frame, PyOffsets, CODE_WINDOW, MAX_FRAMES, MAX_INTERPRETERS_WALK,
    MAX_THREADS_WALK, OFFSETS_CFRAME, OFFSETS_GIL_IN_INTERP, OFFSETS_INSTR_PTR, OFFSETS_NAME_HASH,
    OFFSETS_OWNER,
};

use super::layout::Layout;
use super::memory::{MemoryError, RemoteMemory};

/// One thread's stack at the moment of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadStack {
    /// Its `PyThreadState`.
    pub tstate: u64,
    /// `pthread_self()` of the thread (its `thread_id`).
    pub thread_id: u64,
    /// The kernel's id of the thread (`native_thread_id`), where the
    /// thread state holds it (3.11+); 0 otherwise.
    pub native_id: u64,
    /// It holds the GIL.
    pub holds_gil: bool,
    /// Innermost frame first, as the kernel sends them (`code == 0`: the
    /// `<native>` marker).
    pub frames: Vec<Frame>,
    /// The walk stopped early: the frame limit, a cycle, or memory that
    /// could not be read.
    pub truncated: bool,
}

fn u64_at(buf: &[u8], off: u32) -> u64 {
    super::memory::le_u64(buf, off).unwrap_or(0)
}

/// Every thread of every interpreter of the process whose `_PyRuntime` is
/// at `runtime`, up to [`MAX_FRAMES`] frames each (an on-CPU sample's
/// bound).
pub fn walk_process(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    runtime: u64,
) -> Result<Vec<ThreadStack>, MemoryError> {
    walk_process_up_to(mem, layout, runtime, MAX_FRAMES)
}

/// [`walk_process`], keeping at most `max_frames` frames per thread (the
/// off-CPU captures' bound, for stacks that stand for those).
pub fn walk_process_up_to(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    runtime: u64,
    max_frames: usize,
) -> Result<Vec<ThreadStack>, MemoryError> {
    let k = &layout.kernel;
    let mut out = Vec::new();
    let mut interp = mem.read_u64(runtime.wrapping_add(k.runtime_interp_head as u64))?;
    for _ in 0..MAX_INTERPRETERS_WALK {
        if interp == 0 {
            break;
        }
        let gil_base = if k.flags & OFFSETS_GIL_IN_INTERP != 0 {
            interp
        } else {
            runtime
        };
        let locked = mem
            .read_u32(gil_base.wrapping_add(k.gil_locked as u64))
            .unwrap_or(0);
        let holder = mem
            .read_u64(gil_base.wrapping_add(k.gil_last_holder as u64))
            .unwrap_or(0);
        let mut tstate = mem.read_u64(interp.wrapping_add(k.interp_threads_head as u64))?;
        for _ in 0..MAX_THREADS_WALK {
            if tstate == 0 {
                break;
            }
            let mut t = walk_thread_up_to(mem, layout, tstate, max_frames)?;
            t.holds_gil = locked != 0 && holder == tstate;
            out.push(t);
            tstate = mem.read_u64(tstate.wrapping_add(k.tstate_next as u64))?;
        }
        interp = mem.read_u64(interp.wrapping_add(k.interp_next as u64))?;
    }
    Ok(out)
}

/// The stack of the thread whose state is at `tstate`.
pub fn walk_thread(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    tstate: u64,
) -> Result<ThreadStack, MemoryError> {
    walk_thread_up_to(mem, layout, tstate, MAX_FRAMES)
}

/// [`walk_thread`], keeping at most `max_frames` frames.
pub fn walk_thread_up_to(
    mem: &dyn RemoteMemory,
    layout: &Layout,
    tstate: u64,
    max_frames: usize,
) -> Result<ThreadStack, MemoryError> {
    let max_frames = max_frames.min(MAX_FRAMES);
    let k = &layout.kernel;
    let thread_id = mem.read_u64(tstate.wrapping_add(k.tstate_thread_id as u64))?;
    let native_id = match layout.native_thread_id {
        Some(off) => mem.read_u64(tstate.wrapping_add(off as u64)).unwrap_or(0),
        None => 0,
    };
    let mut frame = mem.read_u64(tstate.wrapping_add(k.tstate_frame as u64))?;
    if k.flags & OFFSETS_CFRAME != 0 && frame != 0 {
        frame = mem.read_u64(frame.wrapping_add(k.cframe_current as u64))?;
    }
    let mut frames = Vec::new();
    let mut truncated = false;
    let mut last_code = 0u64;
    // The fingerprint of the code object last met (the kernel's cache of one).
    let (mut fp_code, mut fp) = (0u64, 0u32);
    let mut buf = vec![0u8; k.frame_read_size as usize];
    // Brent's cycle detection, as in the kernel.
    let (mut mark, mut power, mut steps) = (0u64, 1u32, 0u32);
    while frame != 0 {
        if frame == mark {
            truncated = true;
            break;
        }
        steps += 1;
        if steps >= power {
            mark = frame;
            power = power.wrapping_shl(1);
            steps = 0;
        }
        if mem.read(frame, &mut buf).is_err() {
            truncated = true;
            break;
        }
        let prev = u64_at(&buf, k.frame_previous);
        frame = prev;
        if k.flags & OFFSETS_OWNER != 0 {
            let owner = buf.get(k.frame_owner as usize).copied().unwrap_or(0) as u32;
            if owner >= k.owner_skip_min {
                // Where C called back into Python: one marker.
                if prev != 0 && last_code != 0 && frames.len() < max_frames {
                    frames.push(Frame {
                        code: 0,
                        lasti: 0,
                        fingerprint: 0,
                    });
                    last_code = 0;
                }
                continue;
            }
        }
        let code = u64_at(&buf, k.frame_code) & k.code_ptr_mask;
        if code == 0 {
            continue;
        }
        let lasti = if k.flags & OFFSETS_INSTR_PTR != 0 {
            let ptr = u64_at(&buf, k.frame_instr);
            let start = code.wrapping_add(k.code_adaptive as u64);
            ((ptr.wrapping_sub(start) as i64) / 2) as i32
        } else {
            super::memory::le_u32(&buf, k.frame_instr).map_or(-1, |v| v as i32)
        };
        if code != fp_code {
            fp = code_fingerprint(mem, k, code);
            fp_code = code;
        }
        if frames.len() >= max_frames {
            truncated = true;
            break;
        }
        frames.push(Frame {
            code,
            lasti,
            fingerprint: fp,
        });
        last_code = code;
    }
    Ok(ThreadStack {
        tstate,
        thread_id,
        native_id,
        holds_gil: false,
        frames,
        truncated,
    })
}

/// The code object's fingerprint as the kernel computes it: one read of
/// [`CODE_WINDOW`] bytes at `code_window` for `co_name` and the
/// fingerprint field, and the name's hash where the layout mixes it in;
/// 0 when the object cannot be read (as the kernel sends it then).
fn code_fingerprint(mem: &dyn RemoteMemory, k: &PyOffsets, code: u64) -> u32 {
    let mut window = [0u8; CODE_WINDOW];
    if mem
        .read(code.wrapping_add(k.code_window as u64), &mut window)
        .is_err()
    {
        return 0;
    }
    let name = u64_at(&window, k.code_name.wrapping_sub(k.code_window));
    let field =
        super::memory::le_u32(&window, k.code_fp_field.wrapping_sub(k.code_window)).unwrap_or(0);
    if name == 0 {
        return 0;
    }
    if k.flags & OFFSETS_NAME_HASH == 0 {
        return fingerprint(name, 0, field);
    }
    let at = |off: u32| u64_at(&window, off.wrapping_sub(k.code_window));
    match mem.read_u64(name.wrapping_add(k.str_hash as u64)) {
        Ok(hash) => fingerprint(
            name,
            identity_mix(hash, at(k.capture.filename), at(k.capture.linetable)),
            field,
        ),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::layout_for;
    use crate::python::memory::FakeMemory;

    /// A 3.12 process: one interpreter, two threads; the first runs
    /// `f` called from C called from `g`, the second has no frame.
    #[test]
    fn walks_threads_frames_and_markers_like_the_kernel() {
        let l = *layout_for(12).expect("3.12");
        let k = l.kernel;
        let (rt, interp, t1, t2) = (0x1000u64, 0x10_0000u64, 0x20_0000u64, 0x21_0000u64);
        let (leaf, shim, caller) = (0x30_0000u64, 0x30_1000u64, 0x30_2000u64);
        let (code_f, code_g) = (0x40_0000u64, 0x41_0000u64);
        let mut mem = FakeMemory::new()
            .with(rt, &[0; 2048])
            .with(interp, &[0; 16384])
            .with(t1, &[0; 1024])
            .with(t2, &[0; 1024])
            .with(leaf, &[0; 256])
            .with(shim, &[0; 256])
            .with(caller, &[0; 256]);
        mem.put_u64(rt + k.runtime_interp_head as u64, interp)
            .put_u64(interp + k.interp_threads_head as u64, t1)
            .put_u64(t1 + k.tstate_next as u64, t2)
            .put_u64(t1 + k.tstate_thread_id as u64, 0x7f00_0000_1000)
            .put_u64(t2 + k.tstate_thread_id as u64, 0x7f00_0000_2000)
            .put_u64(interp + k.gil_last_holder as u64, t1)
            .put_u64(interp + k.gil_locked as u64, 1);
        // 3.12: tstate → _PyCFrame → current frame.
        let cframe = t1 + 512;
        mem.put_u64(t1 + k.tstate_frame as u64, cframe)
            .put_u64(cframe + k.cframe_current as u64, leaf);
        let frame = |mem: &mut FakeMemory, at: u64, prev: u64, code: u64, owner: u8| {
            mem.put_u64(at + k.frame_previous as u64, prev)
                .put_u64(at + k.frame_code as u64, code)
                .put_u64(
                    at + k.frame_instr as u64,
                    code + k.code_adaptive as u64 + 2 * 7,
                )
                .put(at + k.frame_owner as u64, &[owner]);
        };
        frame(&mut mem, leaf, shim, code_f, 0);
        frame(&mut mem, shim, caller, 0, 3);
        frame(&mut mem, caller, 0, code_g, 0);
        // f's code object is readable: its fingerprint is the kernel's
        // (co_name's address and co_version on 3.12); g's is not: 0.
        let name_f = 0x50_0000u64;
        mem = mem.with(code_f, &vec![0; k.code_window as usize + CODE_WINDOW]);
        mem.put_u64(code_f + k.code_name as u64, name_f)
            .put_u32(code_f + k.code_fp_field as u64, 77);
        let fp_f = fingerprint(name_f, 0, 77);
        let threads = walk_process(&mem, &l, rt).expect("walk");
        assert_eq!(threads.len(), 2);
        let f = |code, lasti, fingerprint| Frame {
            code,
            lasti,
            fingerprint,
        };
        assert_eq!(
            threads[0].frames,
            [f(code_f, 7, fp_f), f(0, 0, 0), f(code_g, 7, 0)]
        );
        assert!(threads[0].holds_gil && !threads[0].truncated);
        assert_eq!(threads[0].thread_id, 0x7f00_0000_1000);
        assert!(threads[1].frames.is_empty() && !threads[1].holds_gil);

        // A bound on frames ends the walk, marked.
        let t = walk_thread_up_to(&mem, &l, t1, 2).expect("walk");
        assert_eq!(t.frames, [f(code_f, 7, fp_f), f(0, 0, 0)]);
        assert!(t.truncated);

        // A frame list that comes round ends the walk, marked.
        mem.put_u64(caller + k.frame_previous as u64, leaf);
        let t = walk_thread(&mem, &l, t1).expect("walk");
        assert!(t.truncated && t.frames.len() < 16);
    }
}
