//! Reading asyncio tasks out of a process (3.14+), with the offsets
//! asyncio and `_Py_DebugOffsets` state ([`super::asyncio_offsets`]): a
//! task's name, the tasks awaiting it, and the frames of its suspended
//! coroutines. Every pointer is the process's: each read is bounded, each
//! chain is cut at a depth and never visits an object twice.

use tachyon_common::{Frame, MAX_INTERPRETERS_WALK, MAX_THREADS_WALK};

use super::asyncio_offsets::AsyncLayout;
use super::layout::Layout;
use super::memory::{le_u64, MemoryError, RemoteMemory};
use super::objects::{read_str, ObjectError};

/// Tasks listed per walk of a process (`--async-mode all`).
pub const MAX_TASKS_WALK: usize = 4096;
/// Tasks followed up the chain of awaiting tasks.
pub const MAX_AWAIT_DEPTH: usize = 32;
/// Coroutines awaiting coroutines, followed within one task.
pub const MAX_CORO_DEPTH: usize = 64;
/// Slots of an `awaited_by` set read (a set of more tasks is cut).
const MAX_SET_SLOTS: u64 = 256;
/// Characters of a task name kept.
pub const MAX_NAME_CHARS: usize = 256;
/// `tp_flags` bits telling an `int` and a `str` (any subclass).
const TPFLAGS_LONG_SUBCLASS: u64 = 1 << 24;
const TPFLAGS_UNICODE_SUBCLASS: u64 = 1 << 28;
/// Bits of a compact int's digit (`PyLong_SHIFT`).
const DIGIT_BITS: u32 = 30;
/// A frame's value stack is this close above it (the frame's own slots
/// and its code's stack size): a stack pointer further away is garbage.
const MAX_STACK_SPAN: u64 = 1 << 20;

/// One task as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub addr: u64,
    pub name: String,
    /// Its coroutine object (0: none).
    pub coro: u64,
    /// Tasks awaiting it (lowest address first).
    pub awaited_by: Vec<u64>,
}

/// Reads tasks of one process.
pub struct TaskReader<'a> {
    mem: &'a dyn RemoteMemory,
    layout: &'a Layout,
    lay: &'a AsyncLayout,
}

fn malformed(what: &'static str, addr: u64) -> ObjectError {
    ObjectError::Malformed { what, addr }
}

impl<'a> TaskReader<'a> {
    pub fn new(mem: &'a dyn RemoteMemory, layout: &'a Layout, lay: &'a AsyncLayout) -> Self {
        Self { mem, layout, lay }
    }

    fn u64_at(&self, addr: u64, off: u32) -> Result<u64, MemoryError> {
        self.mem.read_u64(addr.wrapping_add(off as u64))
    }

    /// The task at `addr` (read in one go): refused unless it says it is
    /// a task.
    pub fn task(&self, addr: u64) -> Result<Task, ObjectError> {
        let a = &self.lay.asyncio;
        if addr == 0 {
            return Err(malformed("task", addr));
        }
        let obj = self.mem.read_vec(addr, a.task_size as usize)?;
        let byte = |off: u32| obj.get(off as usize).copied().unwrap_or(0);
        if byte(a.task_is_task) != 1 {
            return Err(malformed("task", addr));
        }
        let word = |off: u32| le_u64(&obj, off).unwrap_or(0);
        let name = self.name(word(a.task_name))?;
        let by = word(a.task_awaited_by);
        let awaited_by = match (by, byte(a.task_awaited_by_is_set)) {
            (0, _) => Vec::new(),
            (set, 1) => self.set_members(set)?,
            (one, _) => vec![one],
        };
        Ok(Task {
            addr,
            name,
            coro: word(a.task_coro),
            awaited_by,
        })
    }

    /// A task's name: its `str` (cut at [`MAX_NAME_CHARS`]), or `Task-N`
    /// for the int N an unnamed task holds until its name is asked for.
    pub fn name(&self, obj: u64) -> Result<String, ObjectError> {
        let c = &self.lay.coroutines;
        let objects = &self.layout.objects;
        if obj == 0 {
            return Err(malformed("task name", obj));
        }
        let ty = self.u64_at(obj, objects.ob_type)?;
        let flags = self.u64_at(ty, c.type_tp_flags)?;
        if flags & TPFLAGS_UNICODE_SUBCLASS != 0 {
            let mut s = read_str(self.mem, objects, obj)?;
            if let Some((cut, _)) = s.char_indices().nth(MAX_NAME_CHARS) {
                s.truncate(cut);
            }
            return Ok(s);
        }
        if flags & TPFLAGS_LONG_SUBCLASS != 0 {
            // 3.12+ compact ints: lv_tag = digits << 3 | sign (0 positive,
            // 1 zero, 2 negative); a task counter needs at most two digits.
            let tag = self.u64_at(obj, c.long_lv_tag)?;
            let (digits, sign) = (tag >> 3, tag & 3);
            if digits > 2 || sign == 2 || (sign == 1) != (digits == 0) {
                return Err(malformed("task number", obj));
            }
            let mut n: u64 = 0;
            for i in 0..digits {
                let d = self
                    .mem
                    .read_u32(obj.wrapping_add(c.long_ob_digit as u64 + 4 * i))?;
                n |= u64::from(d & ((1 << DIGIT_BITS) - 1)) << (DIGIT_BITS as u64 * i);
            }
            return Ok(format!("Task-{n}"));
        }
        Err(malformed("task name", obj))
    }

    /// The keys of the set at `set` (its hash table, at most
    /// [`MAX_SET_SLOTS`] slots), lowest address first; dummies of removed
    /// keys are among them, and are refused later as not being tasks.
    fn set_members(&self, set: u64) -> Result<Vec<u64>, ObjectError> {
        let c = &self.lay.coroutines;
        let mask = self.u64_at(set, c.set_mask)?;
        let table = self.u64_at(set, c.set_table)?;
        let slots = mask.saturating_add(1).min(MAX_SET_SLOTS);
        // setentry: {PyObject *key; Py_hash_t hash;}
        let entries = self.mem.read_vec(table, (slots * 16) as usize)?;
        let mut keys: Vec<u64> = entries
            .chunks_exact(16)
            .filter_map(|e| le_u64(e, 0))
            .filter(|&k| k != 0)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// The tasks of the list whose head node is at `head` (asyncio links
    /// each task through its `task_node`), at most `max`, each once.
    pub fn task_list(&self, head: u64, max: usize) -> Vec<u64> {
        let node_off = self.lay.asyncio.task_node as u64;
        let mut tasks = Vec::new();
        let mut node = self.mem.read_u64(head).unwrap_or(0);
        while node != head && node != 0 && tasks.len() < max {
            tasks.push(node.wrapping_sub(node_off));
            node = self.mem.read_u64(node).unwrap_or(0);
        }
        tasks.sort_unstable();
        tasks.dedup();
        tasks
    }

    /// Every task of the process whose `_PyRuntime` is at `runtime` that is
    /// not running now, with the thread state whose list holds it (0: the
    /// interpreter's list, of tasks whose thread is gone); at most
    /// [`MAX_TASKS_WALK`].
    pub fn waiting_tasks(&self, runtime: u64) -> Vec<(u64, u64)> {
        let k = &self.layout.kernel;
        let a = &self.lay.asyncio;
        let mut out = Vec::new();
        let mut interp = self.u64_at(runtime, k.runtime_interp_head).unwrap_or(0);
        for _ in 0..MAX_INTERPRETERS_WALK {
            if interp == 0 {
                break;
            }
            let mut tstate = self.u64_at(interp, k.interp_threads_head).unwrap_or(0);
            for _ in 0..MAX_THREADS_WALK {
                if tstate == 0 || out.len() >= MAX_TASKS_WALK {
                    break;
                }
                let running = self.u64_at(tstate, a.tstate_running_task).unwrap_or(0);
                let head = tstate.wrapping_add(a.tstate_tasks_head as u64);
                for t in self.task_list(head, MAX_TASKS_WALK - out.len()) {
                    if t != running {
                        out.push((tstate, t));
                    }
                }
                tstate = self.u64_at(tstate, k.tstate_next).unwrap_or(0);
            }
            let head = interp.wrapping_add(a.interp_tasks_head as u64);
            for t in self.task_list(head, MAX_TASKS_WALK.saturating_sub(out.len())) {
                out.push((0, t));
            }
            interp = self.u64_at(interp, k.interp_next).unwrap_or(0);
        }
        out
    }

    /// The frames of the suspended coroutine `coro` and of the coroutines
    /// it awaits, innermost first, as the kernel would send them (no
    /// fingerprint). An awaited object is followed when it is a coroutine
    /// of the same type, found at the top of the awaiting frame's stack.
    pub fn coroutine_frames(&self, coro: u64) -> Vec<Frame> {
        let mut frames = Vec::new();
        let Ok(coro_type) = self.u64_at(coro, self.layout.objects.ob_type) else {
            return frames;
        };
        let mut cur = coro;
        let mut seen = Vec::new();
        while cur != 0 && frames.len() < MAX_CORO_DEPTH && !seen.contains(&cur) {
            seen.push(cur);
            let frame_addr = cur.wrapping_add(self.lay.coroutines.gen_iframe as u64);
            let Some((frame, sp)) = self.frame(frame_addr) else {
                break;
            };
            frames.push(frame);
            cur = self.awaited_coroutine(frame_addr, sp, coro_type);
        }
        frames.reverse();
        frames
    }

    /// The frame at `addr` and its stack pointer.
    fn frame(&self, addr: u64) -> Option<(Frame, u64)> {
        let k = &self.layout.kernel;
        let sp_off = self.lay.coroutines.frame_stackpointer;
        let size = (k.frame_read_size.max(sp_off + 8)) as usize;
        let buf = self.mem.read_vec(addr, size).ok()?;
        let code = le_u64(&buf, k.frame_code)? & k.code_ptr_mask;
        if code == 0 {
            return None;
        }
        let ptr = le_u64(&buf, k.frame_instr)?;
        let start = code.wrapping_add(k.code_adaptive as u64);
        let lasti = ((ptr.wrapping_sub(start) as i64) / 2) as i32;
        let frame = Frame {
            code,
            lasti,
            fingerprint: 0,
        };
        Some((frame, le_u64(&buf, sp_off)?))
    }

    /// The coroutine a suspended frame awaits: the top of its value stack
    /// (3.14), or the item below (where the value sent in sits on top), if
    /// that is a coroutine of type `coro_type`; else 0.
    fn awaited_coroutine(&self, frame: u64, sp: u64, coro_type: u64) -> u64 {
        if sp <= frame || sp - frame > MAX_STACK_SPAN {
            return 0;
        }
        let mask = self.layout.kernel.code_ptr_mask;
        for depth in 1..=2u64 {
            let Some(at) = sp.checked_sub(8 * depth).filter(|&a| a > frame) else {
                break;
            };
            let Ok(obj) = self.mem.read_u64(at) else {
                break;
            };
            let obj = obj & mask;
            if obj != 0
                && self
                    .u64_at(obj, self.layout.objects.ob_type)
                    .is_ok_and(|t| t == coro_type)
            {
                return obj;
            }
        }
        0
    }
}

/// One step of a chain, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// A task's frame, by its label.
    Task(String),
    /// A frame of an awaiting task's suspended coroutines.
    Frame(Frame),
}

/// The chain of the running task `task`: its frame, then for each task
/// awaiting it (the lowest address where several do: the label says how
/// many), the frames of its suspended coroutines and its own frame. The
/// chain ends at a task nobody awaits, at one that cannot be read, at one
/// seen before, or after [`MAX_AWAIT_DEPTH`] tasks.
pub fn read_chain(reader: &TaskReader<'_>, task: u64) -> Result<Vec<Link>, ObjectError> {
    let mut links = Vec::new();
    let mut seen = Vec::new();
    let mut cur = reader.task(task)?;
    for depth in 0..MAX_AWAIT_DEPTH {
        seen.push(cur.addr);
        if depth > 0 {
            links.extend(
                reader
                    .coroutine_frames(cur.coro)
                    .into_iter()
                    .map(Link::Frame),
            );
        }
        let label = match cur.awaited_by.len() {
            0 | 1 => cur.name.clone(),
            n => format!("{} ({n} parents)", cur.name),
        };
        links.push(Link::Task(label));
        let next = cur
            .awaited_by
            .iter()
            .filter(|a| !seen.contains(a))
            .find_map(|&a| reader.task(a).ok());
        match next {
            Some(t) => cur = t,
            None => break,
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::asyncio_offsets::{AsyncioOffsets, CoroutineOffsets};
    use crate::python::layout::layout_for;
    use crate::python::memory::FakeMemory;

    const STR_TYPE: u64 = 0x7000_1000;
    const LONG_TYPE: u64 = 0x7000_2000;
    const CORO_TYPE: u64 = 0x7000_3000;
    const CODE: u64 = 0x7100_0000;

    fn lay() -> AsyncLayout {
        AsyncLayout {
            asyncio: AsyncioOffsets {
                task_size: 168,
                task_name: 136,
                task_awaited_by: 96,
                task_is_task: 108,
                task_awaited_by_is_set: 109,
                task_coro: 128,
                task_node: 152,
                interp_tasks_head: 10880,
                tstate_running_loop: 864,
                tstate_running_task: 872,
                tstate_tasks_head: 880,
            },
            coroutines: CoroutineOffsets {
                gen_iframe: 72,
                frame_stackpointer: 64,
                type_tp_flags: 168,
                set_used: 24,
                set_table: 40,
                set_mask: 32,
                long_lv_tag: 16,
                long_ob_digit: 24,
            },
        }
    }

    /// Types, laid out as CPython's: `tp_flags` at 168.
    fn memory() -> FakeMemory {
        let mut m = FakeMemory::new();
        for (ty, flags) in [
            (STR_TYPE, TPFLAGS_UNICODE_SUBCLASS),
            (LONG_TYPE, TPFLAGS_LONG_SUBCLASS),
            (CORO_TYPE, 0),
        ] {
            m = m.with_zeroed(ty, 200);
            m.put_u64(ty + 168, flags);
        }
        m
    }

    /// A compact ASCII str (3.12+: data at 40, length at 16, state at 32).
    fn put_str(m: &mut FakeMemory, addr: u64, s: &str) {
        let mut b = vec![0u8; 40 + s.len() + 1];
        b[8..16].copy_from_slice(&STR_TYPE.to_le_bytes());
        b[16..24].copy_from_slice(&(s.len() as u64).to_le_bytes());
        b[32..36].copy_from_slice(&(1u32 << 2 | 0x20 | 0x40).to_le_bytes());
        b[40..40 + s.len()].copy_from_slice(s.as_bytes());
        m.put(addr, &b);
    }

    fn put_int(m: &mut FakeMemory, addr: u64, digits: &[u32]) {
        let mut b = vec![0u8; 24 + 4 * digits.len().max(1)];
        b[8..16].copy_from_slice(&LONG_TYPE.to_le_bytes());
        let tag = if digits.is_empty() {
            1
        } else {
            (digits.len() as u64) << 3
        };
        b[16..24].copy_from_slice(&tag.to_le_bytes());
        for (i, d) in digits.iter().enumerate() {
            b[24 + 4 * i..28 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        m.put(addr, &b);
    }

    fn put_task(m: &mut FakeMemory, addr: u64, name: u64, coro: u64, by: u64, is_set: bool) {
        let mut b = vec![0u8; 168];
        b[96..104].copy_from_slice(&by.to_le_bytes());
        b[108] = 1;
        b[109] = is_set as u8;
        b[128..136].copy_from_slice(&coro.to_le_bytes());
        b[136..144].copy_from_slice(&name.to_le_bytes());
        m.put(addr, &b);
    }

    /// A coroutine whose frame runs `CODE` at unit `lasti` and whose
    /// stack holds `awaits` on top (3.14 frame: executable at 0, instr_ptr
    /// at 56, stackpointer at 64).
    fn put_coro(m: &mut FakeMemory, addr: u64, lasti: u64, awaits: u64) {
        let l = layout_for(14).expect("3.14");
        let mut b = vec![0u8; 400];
        b[8..16].copy_from_slice(&CORO_TYPE.to_le_bytes());
        let frame = 72usize;
        b[frame..frame + 8].copy_from_slice(&CODE.to_le_bytes());
        let ip = CODE + l.kernel.code_adaptive as u64 + 2 * lasti;
        b[frame + 56..frame + 64].copy_from_slice(&ip.to_le_bytes());
        let sp = addr + frame as u64 + 120;
        b[frame + 64..frame + 72].copy_from_slice(&sp.to_le_bytes());
        b[frame + 112..frame + 120].copy_from_slice(&(awaits | 1).to_le_bytes());
        m.put(addr, &b);
    }

    #[test]
    fn names_are_strs_or_the_number_of_an_unnamed_task() {
        let mut m = memory();
        put_str(&mut m, 0x1000, "heavy");
        put_int(&mut m, 0x2000, &[7]);
        put_int(&mut m, 0x3000, &[5, 1]);
        put_str(&mut m, 0x4000, &"x".repeat(1000));
        let (l, a) = (layout_for(14).expect("3.14"), lay());
        let r = TaskReader::new(&m, l, &a);
        assert_eq!(r.name(0x1000).expect("str"), "heavy");
        assert_eq!(r.name(0x2000).expect("int"), "Task-7");
        assert_eq!(
            r.name(0x3000).expect("int"),
            format!("Task-{}", 5 + (1 << 30))
        );
        assert_eq!(r.name(0x4000).expect("long").len(), MAX_NAME_CHARS);
        // A coroutine is neither.
        m.put_u64(0x5008, CORO_TYPE);
        let r = TaskReader::new(&m, l, &a);
        assert!(r.name(0x5000).is_err());
    }

    #[test]
    fn tasks_and_who_awaits_them() {
        let mut m = memory();
        put_str(&mut m, 0x1000, "child");
        put_str(&mut m, 0x1100, "p1");
        put_task(&mut m, 0x10_0000, 0x1000, 0, 0x20_0000, false);
        put_task(&mut m, 0x20_0000, 0x1100, 0, 0, false);
        // A set of two parents (and an empty slot) in an 8-slot table.
        put_task(&mut m, 0x30_0000, 0x1000, 0, 0x40_0000, true);
        let mut set = vec![0u8; 200];
        set[32..40].copy_from_slice(&7u64.to_le_bytes());
        set[40..48].copy_from_slice(&0x50_0000u64.to_le_bytes());
        m.put(0x40_0000, &set);
        let mut table = vec![0u8; 8 * 16];
        table[16..24].copy_from_slice(&0x20_0000u64.to_le_bytes());
        table[80..88].copy_from_slice(&0x1f_0000u64.to_le_bytes());
        m.put(0x50_0000, &table);
        let (l, a) = (layout_for(14).expect("3.14"), lay());
        let r = TaskReader::new(&m, l, &a);
        let t = r.task(0x10_0000).expect("task");
        assert_eq!(
            (t.name.as_str(), t.awaited_by.as_slice()),
            ("child", &[0x20_0000][..])
        );
        assert!(r.task(0x20_0000).expect("parent").awaited_by.is_empty());
        let t = r.task(0x30_0000).expect("task");
        assert_eq!(t.awaited_by, [0x1f_0000, 0x20_0000]);
        // Not a task: is_task is 0.
        m.put(0x20_0000 + 108, &[0]);
        let r = TaskReader::new(&m, l, &a);
        assert!(r.task(0x20_0000).is_err());
    }

    #[test]
    fn suspended_coroutines_are_followed_innermost_first_and_cycles_end() {
        let mut m = memory();
        put_coro(&mut m, 0x10_0000, 3, 0x20_0000);
        put_coro(&mut m, 0x20_0000, 5, 0x30_0000);
        put_coro(&mut m, 0x30_0000, 9, 0);
        let (l, a) = (layout_for(14).expect("3.14"), lay());
        let r = TaskReader::new(&m, l, &a);
        let lastis: Vec<i32> = r
            .coroutine_frames(0x10_0000)
            .iter()
            .map(|f| f.lasti)
            .collect();
        assert_eq!(lastis, [9, 5, 3]);
        // A cycle: the third awaits the first.
        put_coro(&mut m, 0x30_0000, 9, 0x10_0000);
        let r = TaskReader::new(&m, l, &a);
        assert_eq!(r.coroutine_frames(0x10_0000).len(), 3);
        // What is on the stack but not a coroutine is not followed.
        put_coro(&mut m, 0x20_0000, 5, 0x1000);
        let r = TaskReader::new(&m, l, &a);
        assert_eq!(r.coroutine_frames(0x10_0000).len(), 2);
    }

    #[test]
    fn a_chain_goes_up_the_awaiting_tasks_with_their_suspended_frames() {
        let mut m = memory();
        put_str(&mut m, 0x1000, "heavy");
        put_int(&mut m, 0x1100, &[1]);
        put_str(&mut m, 0x1200, "loop");
        // heavy (running) <- Task-1 (suspended in main at unit 4) <- loop,
        // which awaits heavy again (a cycle): the chain stops there.
        put_task(&mut m, 0x10_0000, 0x1000, 0x80_0000, 0x20_0000, false);
        put_task(&mut m, 0x20_0000, 0x1100, 0x90_0000, 0x30_0000, false);
        put_task(&mut m, 0x30_0000, 0x1200, 0, 0x10_0000, false);
        put_coro(&mut m, 0x90_0000, 4, 0);
        let (l, a) = (layout_for(14).expect("3.14"), lay());
        let r = TaskReader::new(&m, l, &a);
        let chain = read_chain(&r, 0x10_0000).expect("chain");
        assert_eq!(
            chain,
            [
                Link::Task("heavy".into()),
                Link::Frame(Frame {
                    code: CODE,
                    lasti: 4,
                    fingerprint: 0
                }),
                Link::Task("Task-1".into()),
                Link::Task("loop".into()),
            ]
        );
        // The running task unreadable: no chain.
        assert!(read_chain(&r, 0x40_0000).is_err());
    }

    #[test]
    fn task_lists_end_at_their_head_and_within_bounds() {
        let a = lay();
        let l = layout_for(14).expect("3.14");
        let mut m = memory();
        // head at 0x9000 -> task 0x10_0000 -> task 0x20_0000 -> head.
        let node = a.asyncio.task_node as u64;
        m.put(0x9000, &[0u8; 16]);
        m.put_u64(0x9000, 0x10_0000 + node);
        put_task(&mut m, 0x10_0000, 0, 0, 0, false);
        put_task(&mut m, 0x20_0000, 0, 0, 0, false);
        m.put_u64(0x10_0000 + node, 0x20_0000 + node);
        m.put_u64(0x20_0000 + node, 0x9000);
        let r = TaskReader::new(&m, l, &a);
        assert_eq!(r.task_list(0x9000, 100), [0x10_0000, 0x20_0000]);
        assert_eq!(r.task_list(0x9000, 1), [0x10_0000]);
        // A list that loops without coming back to its head is cut.
        m.put_u64(0x20_0000 + node, 0x10_0000 + node);
        let r = TaskReader::new(&m, l, &a);
        assert_eq!(r.task_list(0x9000, 100), [0x10_0000, 0x20_0000]);
    }
}
