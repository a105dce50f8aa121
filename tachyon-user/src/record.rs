//! Decoding ring-buffer records written by the kernel side.
//!
//! A record is the raw `#[repr(C)]` memory of one of the tachyon-common
//! types, written by the (little-endian, `bpfel`) eBPF program: a
//! [`ProcEvent`], a [`SampleHeader`] followed by `nframes` [`Frame`]s,
//! `nnative` native and `nkernel` kernel return addresses (`u64` each), or
//! a [`CodeHeader`] followed by the bytes of a code object's names and line
//! table.
//! Fields are read one by one with [`bytes::Buf`], in declaration order;
//! the types have no padding, so that order is their layout (checked by the
//! `layout_matches_repr_c` test). Nothing here panics on short or garbage
//! input: a record too short for its header is rejected, and counts that
//! claim more than the record holds are cut to what is there.

use bytes::Buf;
use tachyon_common::{
    CodeHeader, Frame, ProcEvent, SampleHeader, CODE_FILE_MAX, CODE_NAME_MAX, CODE_TABLE_MAX,
    EVENT_CODE, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_SAMPLE, EVENT_SWITCH_IN,
};

/// Bytes of a [`SampleHeader`]: 8 × `u32`, 3 × `u64`, 2 × `u32`.
const SAMPLE_HEADER_SIZE: usize = 8 * 4 + 3 * 8 + 2 * 4;
/// Bytes of a [`Frame`]: `u64`, `i32`, `u32`.
const FRAME_SIZE: usize = 8 + 4 + 4;
/// Bytes of a [`ProcEvent`]: 4 × `u32`, `u64`.
const PROC_EVENT_SIZE: usize = 4 * 4 + 8;
/// Bytes of one native or kernel return address.
const ADDR_SIZE: usize = 8;
/// Bytes of a [`CodeHeader`]: `u32` × 2, `u64`, `u32`, `i32`, `u32` × 4.
const CODE_HEADER_SIZE: usize = 2 * 4 + 8 + 4 + 4 + 4 * 4;

// The sizes above are the field sizes added up; a field added to or removed
// from one of the types changes its size and breaks the build here.
const _: () = {
    assert!(size_of::<SampleHeader>() == SAMPLE_HEADER_SIZE);
    assert!(size_of::<Frame>() == FRAME_SIZE);
    assert!(size_of::<ProcEvent>() == PROC_EVENT_SIZE);
    assert!(size_of::<CodeHeader>() == CODE_HEADER_SIZE);
};

/// One ring-buffer record.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A stack sample; `frames` holds `header.nframes` frames, leaf first,
    /// `native` and `kernel` the user and kernel return addresses, leaf first.
    Sample {
        header: SampleHeader,
        frames: FrameIter<'a>,
        native: Vec<u64>,
        kernel: Vec<u64>,
    },
    SwitchIn(ProcEvent),
    Exec(ProcEvent),
    Exit(ProcEvent),
    Fork(ProcEvent),
    /// A code object's names and line table, as the kernel copied them.
    Code(CodeReport<'a>),
}

/// An [`EVENT_CODE`] record: the header and its three byte strings (raw
/// `str` data of the kinds in `header.flags`, and the line table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeReport<'a> {
    pub header: CodeHeader,
    pub name: &'a [u8],
    pub file: &'a [u8],
    pub table: &'a [u8],
}

/// Frames of a sample, decoded lazily from the record bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameIter<'a> {
    bytes: &'a [u8],
}

impl Iterator for FrameIter<'_> {
    type Item = Frame;
    fn next(&mut self) -> Option<Frame> {
        read_frame(&mut self.bytes)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl ExactSizeIterator for FrameIter<'_> {}

impl FrameIter<'_> {
    /// Frames left.
    pub fn remaining(&self) -> usize {
        self.bytes.remaining() / FRAME_SIZE
    }
}

/// Reads a [`SampleHeader`] from the front of `buf`; `None` (and `buf`
/// untouched) when fewer than [`SAMPLE_HEADER_SIZE`] bytes remain.
fn read_sample_header(buf: &mut &[u8]) -> Option<SampleHeader> {
    if buf.remaining() < SAMPLE_HEADER_SIZE {
        return None;
    }
    Some(SampleHeader {
        kind: buf.get_u32_le(),
        flags: buf.get_u32_le(),
        pid: buf.get_u32_le(),
        tid: buf.get_u32_le(),
        cpu: buf.get_u32_le(),
        nframes: buf.get_u32_le(),
        nkernel: buf.get_u32_le(),
        nnative: buf.get_u32_le(),
        ktime_ns: buf.get_u64_le(),
        tstate: buf.get_u64_le(),
        task: buf.get_u64_le(),
        task_frame: buf.get_u32_le(),
        leaf_opcode: buf.get_u32_le(),
    })
}

/// Reads a [`Frame`] from the front of `buf`; `None` (and `buf` untouched)
/// when fewer than [`FRAME_SIZE`] bytes remain.
fn read_frame(buf: &mut &[u8]) -> Option<Frame> {
    if buf.remaining() < FRAME_SIZE {
        return None;
    }
    Some(Frame {
        code: buf.get_u64_le(),
        lasti: buf.get_i32_le(),
        fingerprint: buf.get_u32_le(),
    })
}

/// Reads a [`ProcEvent`] from the front of `buf`; `None` (and `buf`
/// untouched) when fewer than [`PROC_EVENT_SIZE`] bytes remain.
fn read_proc_event(buf: &mut &[u8]) -> Option<ProcEvent> {
    if buf.remaining() < PROC_EVENT_SIZE {
        return None;
    }
    Some(ProcEvent {
        kind: buf.get_u32_le(),
        pid: buf.get_u32_le(),
        aux: buf.get_u32_le(),
        _pad: buf.get_u32_le(),
        ktime_ns: buf.get_u64_le(),
    })
}

/// Reads a code report; `None` when the header is short, a length passes
/// what the kernel ever copies, or the bytes it announces are not all there
/// (a report is used whole or not at all).
fn read_code_report(bytes: &[u8]) -> Option<CodeReport<'_>> {
    let mut buf = bytes;
    if buf.remaining() < CODE_HEADER_SIZE {
        return None;
    }
    let header = CodeHeader {
        kind: buf.get_u32_le(),
        pid: buf.get_u32_le(),
        code: buf.get_u64_le(),
        fingerprint: buf.get_u32_le(),
        firstlineno: buf.get_i32_le(),
        flags: buf.get_u32_le(),
        name_len: buf.get_u32_le(),
        file_len: buf.get_u32_le(),
        table_len: buf.get_u32_le(),
    };
    let (n, f, t) = (
        header.name_len as usize,
        header.file_len as usize,
        header.table_len as usize,
    );
    if n > CODE_NAME_MAX || f > CODE_FILE_MAX || t > CODE_TABLE_MAX || buf.len() < n + f + t {
        return None;
    }
    let (name, rest) = buf.split_at(n);
    let (file, rest) = rest.split_at(f);
    Some(CodeReport {
        header,
        name,
        file,
        table: &rest[..t],
    })
}

/// Reads up to `count` addresses from the front of `buf`: fewer when the
/// buffer ends first (so a garbage count never allocates more than the
/// record holds).
fn read_addrs(buf: &mut &[u8], count: u32) -> Vec<u64> {
    let n = (count as usize).min(buf.remaining() / ADDR_SIZE);
    (0..n).map(|_| buf.get_u64_le()).collect()
}

/// Decodes one record; `None` for a record that is too short or unknown.
pub fn decode(bytes: &[u8]) -> Option<Record<'_>> {
    // The kind is the first field of every record type: peek at it, then
    // read the whole record from the start.
    let mut peek = bytes;
    if peek.remaining() < 4 {
        return None;
    }
    let kind = peek.get_u32_le();
    let mut buf = bytes;
    match kind {
        EVENT_SAMPLE => {
            let header = read_sample_header(&mut buf)?;
            let n = (header.nframes as usize).min(buf.remaining() / FRAME_SIZE);
            let (frames, rest) = buf.split_at(n * FRAME_SIZE);
            buf = rest;
            // In a record cut short, what follows the last whole item is not
            // the next section: no addresses after missing frames, no kernel
            // addresses after missing native ones.
            let mut native = Vec::new();
            let mut kernel = Vec::new();
            if n == header.nframes as usize {
                native = read_addrs(&mut buf, header.nnative);
                if native.len() == header.nnative as usize {
                    kernel = read_addrs(&mut buf, header.nkernel);
                }
            }
            Some(Record::Sample {
                header,
                frames: FrameIter { bytes: frames },
                native,
                kernel,
            })
        }
        EVENT_EXEC => read_proc_event(&mut buf).map(Record::Exec),
        EVENT_EXIT => read_proc_event(&mut buf).map(Record::Exit),
        EVENT_FORK => read_proc_event(&mut buf).map(Record::Fork),
        EVENT_SWITCH_IN => read_proc_event(&mut buf).map(Record::SwitchIn),
        EVENT_CODE => read_code_report(bytes).map(Record::Code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little-endian record bytes, built field by field.
    #[derive(Default)]
    struct Bytes(Vec<u8>);

    impl Bytes {
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn i32(mut self, v: i32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        /// A sample header: kind, flags, pid, tid, cpu, nframes, nkernel,
        /// nnative, ktime_ns, tstate (no asyncio task).
        #[allow(clippy::too_many_arguments)]
        fn header(
            self,
            flags: u32,
            pid: u32,
            tid: u32,
            cpu: u32,
            nframes: u32,
            nkernel: u32,
            nnative: u32,
            ktime_ns: u64,
            tstate: u64,
        ) -> Self {
            self.u32(EVENT_SAMPLE)
                .u32(flags)
                .u32(pid)
                .u32(tid)
                .u32(cpu)
                .u32(nframes)
                .u32(nkernel)
                .u32(nnative)
                .u64(ktime_ns)
                .u64(tstate)
                .u64(0)
                .u32(0)
                .u32(0x100 | 0x7a)
        }
        fn frame(self, code: u64, lasti: i32, fingerprint: u32) -> Self {
            self.u64(code).i32(lasti).u32(fingerprint)
        }
    }

    fn frame(code: u64, lasti: i32, fingerprint: u32) -> Frame {
        Frame {
            code,
            lasti,
            fingerprint,
        }
    }

    /// A sample with 2 frames, 2 native and 1 kernel address (120 bytes).
    fn full_sample() -> Vec<u8> {
        Bytes::default()
            .header(
                0x15,
                100,
                101,
                3,
                2,
                1,
                2,
                0x1122_3344_5566_7788,
                0x7f12_3456_7890,
            )
            .frame(0x7f00_0000_1000, 3, 0xabcd_0123)
            .frame(0x7f00_0000_2000, -1, 0)
            .u64(0x40_1000)
            .u64(0x40_2000)
            .u64(0xffff_ffff_8100_0010)
            .0
    }

    /// The parts of a decoded sample, frames collected.
    fn sample_parts(bytes: &[u8]) -> (SampleHeader, Vec<Frame>, Vec<u64>, Vec<u64>) {
        match decode(bytes) {
            Some(Record::Sample {
                header,
                frames,
                native,
                kernel,
            }) => (header, frames.collect(), native, kernel),
            other => panic!("not a sample: {other:?}"),
        }
    }

    #[test]
    fn sample_with_frames_native_and_kernel_addresses() {
        let bytes = full_sample();
        assert_eq!(bytes.len(), 64 + 2 * 16 + 3 * 8);
        let Some(Record::Sample {
            header,
            mut frames,
            native,
            kernel,
        }) = decode(&bytes)
        else {
            panic!("not a sample")
        };
        assert_eq!(
            header,
            SampleHeader {
                kind: 1,
                flags: 0x15,
                pid: 100,
                tid: 101,
                cpu: 3,
                nframes: 2,
                nkernel: 1,
                nnative: 2,
                ktime_ns: 0x1122_3344_5566_7788,
                tstate: 0x7f12_3456_7890,
                task: 0,
                task_frame: 0,
                leaf_opcode: 0x17a,
            }
        );
        assert_eq!(frames.len(), 2);
        assert_eq!(frames.next(), Some(frame(0x7f00_0000_1000, 3, 0xabcd_0123)));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames.remaining(), 1);
        assert_eq!(frames.next(), Some(frame(0x7f00_0000_2000, -1, 0)));
        assert_eq!(frames.next(), None);
        assert_eq!(frames.len(), 0);
        assert_eq!(native, [0x40_1000, 0x40_2000]);
        assert_eq!(kernel, [0xffff_ffff_8100_0010]);
    }

    #[test]
    fn sample_without_frames_or_addresses() {
        let bytes = Bytes::default().header(0, 7, 8, 0, 0, 0, 0, 5, 0).0;
        let (header, frames, native, kernel) = sample_parts(&bytes);
        assert_eq!((header.pid, header.tid, header.ktime_ns), (7, 8, 5));
        assert!(frames.is_empty() && native.is_empty() && kernel.is_empty());
    }

    #[test]
    fn each_event_kind() {
        type Variant = fn(ProcEvent) -> Record<'static>;
        let kinds: [(u32, Variant); 4] = [
            (EVENT_EXEC, Record::Exec),
            (EVENT_EXIT, Record::Exit),
            (EVENT_FORK, Record::Fork),
            (EVENT_SWITCH_IN, Record::SwitchIn),
        ];
        for (kind, variant) in kinds {
            let bytes = Bytes::default()
                .u32(kind)
                .u32(4242)
                .u32(77)
                .u32(0)
                .u64(123_456_789_012)
                .0;
            assert_eq!(bytes.len(), 24);
            let want = ProcEvent {
                kind,
                pid: 4242,
                aux: 77,
                _pad: 0,
                ktime_ns: 123_456_789_012,
            };
            assert_eq!(decode(&bytes), Some(variant(want)), "kind {kind}");
            // Trailing bytes are ignored; one byte short is rejected.
            let mut longer = bytes.clone();
            longer.extend_from_slice(&[0xee; 8]);
            assert_eq!(decode(&longer), Some(variant(want)), "kind {kind}");
            assert_eq!(decode(&bytes[..23]), None, "kind {kind}");
        }
    }

    #[test]
    fn truncated_header_is_rejected() {
        let bytes = full_sample();
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[1]), None);
        assert_eq!(decode(&[1, 0, 0]), None);
        assert_eq!(decode(&bytes[..4]), None);
        assert_eq!(decode(&bytes[..63]), None);
        assert!(decode(&bytes[..64]).is_some());
    }

    #[test]
    fn counts_claiming_more_than_the_record_holds() {
        // 1000 frames claimed, 2 present and half of a third: the half frame
        // is not read as native addresses.
        let bytes = Bytes::default()
            .header(0, 1, 1, 0, 1000, 5, 5, 0, 0)
            .frame(0x1000, 1, 1)
            .frame(0x2000, 2, 2)
            .u64(0x3000)
            .0;
        let (header, frames, native, kernel) = sample_parts(&bytes);
        assert_eq!(header.nframes, 1000);
        assert_eq!(frames, [frame(0x1000, 1, 1), frame(0x2000, 2, 2)]);
        assert!(native.is_empty() && kernel.is_empty());

        // Frames complete, 3 native addresses claimed, 1 present (plus 4
        // stray bytes): no kernel addresses after the missing native ones.
        let bytes = Bytes::default()
            .header(0, 1, 1, 0, 1, 2, 3, 0, 0)
            .frame(0x1000, 1, 1)
            .u64(0xaaaa)
            .u32(0xbbbb)
            .0;
        let (_, frames, native, kernel) = sample_parts(&bytes);
        assert_eq!(frames, [frame(0x1000, 1, 1)]);
        assert_eq!(native, [0xaaaa]);
        assert!(kernel.is_empty());

        // Native complete, kernel short.
        let bytes = Bytes::default()
            .header(0, 1, 1, 0, 0, 4, 1, 0, 0)
            .u64(0xaaaa)
            .u64(0xffff_ffff_8100_0000)
            .0;
        let (_, frames, native, kernel) = sample_parts(&bytes);
        assert!(frames.is_empty());
        assert_eq!(native, [0xaaaa]);
        assert_eq!(kernel, [0xffff_ffff_8100_0000]);

        // Garbage counts allocate nothing beyond the record.
        let bytes = Bytes::default()
            .header(0, 1, 1, 0, u32::MAX, u32::MAX, u32::MAX, 0, 0)
            .0;
        let (_, frames, native, kernel) = sample_parts(&bytes);
        assert!(frames.is_empty() && native.is_empty() && kernel.is_empty());
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        for kind in [0, 7, 99, u32::MAX] {
            let mut bytes = full_sample();
            bytes[..4].copy_from_slice(&kind.to_le_bytes());
            assert_eq!(decode(&bytes), None, "kind {kind}");
        }
    }

    /// Decoding any prefix of a valid record never panics, and gives at
    /// most what the prefix holds.
    #[test]
    fn every_prefix_decodes_without_panicking() {
        let sample = full_sample();
        for len in 0..=sample.len() {
            let prefix = &sample[..len];
            if len < 64 {
                assert_eq!(decode(prefix), None, "len {len}");
                continue;
            }
            let (header, frames, native, kernel) = sample_parts(prefix);
            assert_eq!(header.pid, 100);
            let whole_frames = ((len - 64) / 16).min(2);
            assert_eq!(frames.len(), whole_frames, "len {len}");
            let addrs = if whole_frames == 2 { (len - 96) / 8 } else { 0 };
            assert_eq!(native.len(), addrs.min(2), "len {len}");
            assert_eq!(kernel.len(), addrs.saturating_sub(2), "len {len}");
        }
        let event = Bytes::default()
            .u32(EVENT_FORK)
            .u32(1)
            .u32(2)
            .u32(0)
            .u64(3)
            .0;
        for len in 0..event.len() {
            assert_eq!(decode(&event[..len]), None, "len {len}");
        }
    }

    /// Pseudo-random bytes (xorshift, fixed seed) with a valid kind in
    /// front decode without panicking, within the record's bounds.
    #[test]
    fn garbage_decodes_without_panicking() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 4 {
                let kind = (next() % 7) as u32;
                bytes[..4].copy_from_slice(&kind.to_le_bytes());
            }
            if len >= 64 && next() % 2 == 0 {
                // Small counts, so that some records are complete.
                for at in [20, 24, 28] {
                    let count = (next() % 4) as u32;
                    bytes[at..at + 4].copy_from_slice(&count.to_le_bytes());
                }
            }
            if let Some(Record::Sample {
                header,
                frames,
                native,
                kernel,
            }) = decode(&bytes)
            {
                let used = 64 + frames.len() * 16 + (native.len() + kernel.len()) * 8;
                assert!(used <= len, "{used} > {len}");
                assert!(frames.len() <= header.nframes as usize);
                assert!(native.len() <= header.nnative as usize);
                assert!(kernel.len() <= header.nkernel as usize);
                // The iterator yields exactly what it announced.
                let announced = frames.len();
                assert_eq!(frames.count(), announced);
            }
        }
    }

    /// A code report: header fields, then name, file and table bytes.
    fn code_report(flags: u32, name: &[u8], file: &[u8], table: &[u8]) -> Vec<u8> {
        let mut b = Bytes::default()
            .u32(EVENT_CODE)
            .u32(4242)
            .u64(0x7f00_1234_5670)
            .u32(0xfeed_beef)
            .i32(17)
            .u32(flags)
            .u32(name.len() as u32)
            .u32(file.len() as u32)
            .u32(table.len() as u32)
            .0;
        b.extend_from_slice(name);
        b.extend_from_slice(file);
        b.extend_from_slice(table);
        b
    }

    #[test]
    fn code_reports_carry_their_three_strings() {
        let bytes = code_report(0x11, b"Worker.run", b"app.py", &[0x80, 0x00, 0xd8]);
        let Some(Record::Code(r)) = decode(&bytes) else {
            panic!("not a code report");
        };
        assert_eq!(
            r.header,
            CodeHeader {
                kind: EVENT_CODE,
                pid: 4242,
                code: 0x7f00_1234_5670,
                fingerprint: 0xfeed_beef,
                firstlineno: 17,
                flags: 0x11,
                name_len: 10,
                file_len: 6,
                table_len: 3,
            }
        );
        assert_eq!(
            (r.name, r.file, r.table),
            (&b"Worker.run"[..], &b"app.py"[..], &[0x80, 0x00, 0xd8][..])
        );
        // Every prefix short of the whole record is refused, never half used.
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "len {len}");
        }
        // Lengths past what the kernel ever copies are garbage.
        for (at, max) in [
            (28, CODE_NAME_MAX),
            (32, CODE_FILE_MAX),
            (36, CODE_TABLE_MAX),
        ] {
            let mut bad = code_report(0, b"", b"", b"");
            bad[at..at + 4].copy_from_slice(&(max as u32 + 1).to_le_bytes());
            bad.resize(bad.len() + max + 1, b'x');
            assert_eq!(decode(&bad), None, "at {at}");
        }
    }

    /// The raw memory of a value, as the eBPF program copies it into the
    /// ring buffer.
    fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
        // SAFETY: `T` is one of the #[repr(C)] integer-only tachyon-common
        // types, which have no padding (their size is the sum of their
        // field sizes, asserted at the top of this module), so all
        // `size_of::<T>()` bytes behind the reference are initialised.
        unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
    }

    /// Field-by-field decoding reads the types in their `#[repr(C)]` layout
    /// (every field distinct, so a swapped pair is caught).
    #[test]
    fn layout_matches_repr_c() {
        let header = SampleHeader {
            kind: EVENT_SAMPLE,
            flags: 2,
            pid: 3,
            tid: 4,
            cpu: 5,
            nframes: 1,
            nkernel: 1,
            nnative: 1,
            ktime_ns: 0x0102_0304_0506_0708,
            tstate: 0x1112_1314_1516_1718,
            task: 0x7172_7374_7576_7778,
            task_frame: 0x8182_8384,
            leaf_opcode: 0x9192_9394,
        };
        let f = frame(0x2122_2324_2526_2728, -0x3132_3334, 0x4142_4344);
        let mut bytes = bytes_of(&header);
        bytes.extend(bytes_of(&f));
        bytes.extend(0x5152_5354_5556_5758u64.to_le_bytes());
        bytes.extend(0x6162_6364_6566_6768u64.to_le_bytes());
        let (h, frames, native, kernel) = sample_parts(&bytes);
        assert_eq!(h, header);
        assert_eq!(frames, [f]);
        assert_eq!(native, [0x5152_5354_5556_5758]);
        assert_eq!(kernel, [0x6162_6364_6566_6768]);

        let ev = ProcEvent {
            kind: EVENT_SWITCH_IN,
            pid: 0x0102_0304,
            aux: 0x1112_1314,
            _pad: 0x2122_2324,
            ktime_ns: 0x3132_3334_3536_3738,
        };
        assert_eq!(decode(&bytes_of(&ev)), Some(Record::SwitchIn(ev)));

        let code = CodeHeader {
            kind: EVENT_CODE,
            pid: 0x0102_0304,
            code: 0x1112_1314_1516_1718,
            fingerprint: 0x2122_2324,
            firstlineno: -0x3132_3334,
            flags: 0x4142_4344,
            name_len: 1,
            file_len: 2,
            table_len: 3,
        };
        let mut bytes = bytes_of(&code);
        bytes.extend_from_slice(b"abcdef");
        let Some(Record::Code(r)) = decode(&bytes) else {
            panic!("not a code report");
        };
        assert_eq!(r.header, code);
        assert_eq!(
            (r.name, r.file, r.table),
            (&b"a"[..], &b"bc"[..], &b"def"[..])
        );
    }
}
