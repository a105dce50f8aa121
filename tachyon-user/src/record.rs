//! Decoding ring-buffer records written by the kernel side.

use tachyon_common::{
    Frame, ProcEvent, SampleHeader, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_SAMPLE,
    EVENT_SWITCH_IN,
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
}

/// Frames of a sample, decoded lazily from the record bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameIter<'a> {
    bytes: &'a [u8],
}

impl Iterator for FrameIter<'_> {
    type Item = Frame;
    fn next(&mut self) -> Option<Frame> {
        let f = read_pod::<Frame>(self.bytes)?;
        self.bytes = &self.bytes[size_of::<Frame>()..];
        Some(f)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl ExactSizeIterator for FrameIter<'_> {}

impl FrameIter<'_> {
    /// Frames left.
    pub fn remaining(&self) -> usize {
        self.bytes.len() / size_of::<Frame>()
    }
}

/// Reads a plain-old-data kernel type from the front of `bytes`.
fn read_pod<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length was checked; `T` is one of the #[repr(C)]
    // integer-only types of tachyon-common, valid for any bit pattern, and
    // `read_unaligned` has no alignment requirement.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

/// Decodes one record; `None` for a record that is too short or unknown.
pub fn decode(bytes: &[u8]) -> Option<Record<'_>> {
    let kind = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    match kind {
        EVENT_SAMPLE => {
            let header = read_pod::<SampleHeader>(bytes)?;
            let rest = &bytes[size_of::<SampleHeader>()..];
            let n = (header.nframes as usize).min(rest.len() / size_of::<Frame>());
            let (frames, after) = rest.split_at(n * size_of::<Frame>());
            let mut addrs = after
                .chunks_exact(8)
                .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes));
            let native = addrs.by_ref().take(header.nnative as usize).collect();
            let kernel = addrs.take(header.nkernel as usize).collect();
            Some(Record::Sample {
                header,
                frames: FrameIter { bytes: frames },
                native,
                kernel,
            })
        }
        EVENT_EXEC => read_pod(bytes).map(Record::Exec),
        EVENT_EXIT => read_pod(bytes).map(Record::Exit),
        EVENT_FORK => read_pod(bytes).map(Record::Fork),
        EVENT_SWITCH_IN => read_pod(bytes).map(Record::SwitchIn),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
        // SAFETY: test-only view of a #[repr(C)] integer-only value.
        unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
    }

    #[test]
    fn sample_round_trip() {
        let h = SampleHeader {
            kind: EVENT_SAMPLE,
            nframes: 2,
            pid: 7,
            ..Default::default()
        };
        let f1 = Frame {
            code: 0x1000,
            lasti: 3,
            fingerprint: 9,
        };
        let f2 = Frame {
            code: 0x2000,
            lasti: -1,
            fingerprint: 0,
        };
        let mut b = bytes_of(&h);
        b.extend(bytes_of(&f1));
        b.extend(bytes_of(&f2));
        b.extend(0xffff_ffff_8100_0000u64.to_le_bytes());
        let Some(Record::Sample {
            header,
            frames,
            kernel,
            ..
        }) = decode(&b)
        else {
            panic!("not a sample")
        };
        assert_eq!(header.pid, 7);
        assert_eq!(frames.collect::<Vec<_>>(), vec![f1, f2]);
        assert!(kernel.is_empty(), "nkernel is 0");
    }

    #[test]
    fn short_and_unknown_records_are_rejected() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[1, 0, 0]).is_none());
        assert!(decode(&[99, 0, 0, 0, 0, 0, 0, 0]).is_none());
        let h = SampleHeader {
            kind: EVENT_SAMPLE,
            nframes: 1000,
            ..Default::default()
        };
        let bytes = bytes_of(&h);
        let Some(Record::Sample { frames, .. }) = decode(&bytes) else {
            panic!("not a sample")
        };
        assert_eq!(frames.remaining(), 0);
    }
}
