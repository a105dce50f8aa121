//! Binary recording (`.tbr`): the whole [`Profile`], every timed sample
//! included, so it can be replayed later into any format
//! (`tachyon-bpf replay FILE`).
//!
//! Layout (integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `TACHYREC` |
//! | 8 | 4 | format version ([`RECORDING_VERSION`]) |
//! | 12 | 4 | flags, 0 (reserved) |
//! | 16 | 8 | payload length (compressed) |
//! | 24 | 8 | body length (uncompressed) |
//! | 32 | 4 | CRC-32 of bytes 8..32 |
//! | 36 | 4 | CRC-32 of the payload |
//! | 40 | … | payload: the body, zstd-compressed |
//!
//! The body holds, in order: the meta, the frame table, the stack table, the
//! process table (with threads and, from version 2, where each process ran:
//! cgroup, container id, name and image, pod uid, pid in its namespace), the
//! per-(pid, tid, stack) totals sorted by key, and the timeline (absent, or
//! every sample: time, cpu, pid, tid, flags, weight, stack id). From version
//! 3 each frame also says whether it carries an instruction (`--opcodes`:
//! opcode, family, end line and columns). Strings are a `u64` length and
//! UTF-8 bytes. A profile is written in the oldest version that holds
//! everything in it (1 without places or instructions), so older readers
//! still take what they can represent.
//!
//! Reading checks the magic, the version, both checksums, the lengths and
//! every id, so a truncated or damaged file gives a [`RecordingError`], never
//! a panic or a wrong profile. Writing is deterministic.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::{
    Counts, FrameInfo, FrameKind, Instr, ProcessInfo, ProcessPlace, Profile, ProfileMeta, StackKey,
    ThreadInfo, TimedSample,
};

/// First bytes of every recording.
pub const RECORDING_MAGIC: &[u8; 8] = b"TACHYREC";
/// The newest format version this build writes and reads (it reads every
/// version from 1).
pub const RECORDING_VERSION: u32 = 3;
const HEADER_LEN: usize = 40;
/// Largest recording file read (a day of 100 Hz samples on 64 CPUs is far
/// below it).
const MAX_FILE_BYTES: u64 = 2 << 30;
/// Largest body a recording may decompress to: a header that claims more
/// (a zstd bomb) is refused before anything is decompressed.
const MAX_BODY_BYTES: u64 = 8 << 30;
const ZSTD_LEVEL: i32 = 3;

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] io::Error),

    /// The file does not start with `TACHYREC`.
    #[error("not a tachyon-bpf recording (bad magic bytes)")]
    BadMagic,

    /// A recording of another format version.
    #[error(
        "unsupported recording format version {found} (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    /// The file, or the body its header announces, is larger than this
    /// build reads.
    #[error("the recording's {what} is larger than {limit} bytes, the most this build reads")]
    TooLarge { what: &'static str, limit: u64 },

    /// The file ends before the length its header gives.
    #[error("the recording is truncated: {found} bytes, {expected} expected")]
    Truncated { expected: u64, found: u64 },

    /// A checksum does not match, or the content is inconsistent.
    #[error("the recording is corrupt: {0}")]
    Corrupt(String),
}

fn corrupt(what: impl Into<String>) -> RecordingError {
    RecordingError::Corrupt(what.into())
}

/// Writes a binary recording. Needs nothing from [`WriteOptions`]: the whole
/// profile is kept.
#[derive(Clone, Debug, Default)]
pub struct RecordingWriter {
    _options: WriteOptions,
}

impl RecordingWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { _options: options }
    }
}

impl ProfileWriter for RecordingWriter {
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        out.write_all(&encode_recording(profile)?)?;
        out.flush()?;
        Ok(())
    }
}

/// The recording of `profile`, as bytes.
pub fn encode_recording(profile: &Profile) -> io::Result<Vec<u8>> {
    let version = version_for(profile);
    let body = encode_body(profile, version);
    let payload = zstd::bulk::compress(&body, ZSTD_LEVEL)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(RECORDING_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let header_crc = crc32fast::hash(&out[8..32]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads the recording at `path`.
pub fn read_recording(path: &Path) -> Result<Profile, RecordingError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(RecordingError::TooLarge {
            what: "file",
            limit: MAX_FILE_BYTES,
        });
    }
    decode_recording(&bytes)
}

/// Whether `bytes` start like a recording (the magic, or a prefix of it).
pub fn looks_like_recording(bytes: &[u8]) -> bool {
    let n = bytes.len().min(RECORDING_MAGIC.len());
    n > 0 && bytes[..n] == RECORDING_MAGIC[..n]
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// Decodes a recording held in memory.
pub fn decode_recording(bytes: &[u8]) -> Result<Profile, RecordingError> {
    let found = bytes.len() as u64;
    let truncated = |expected: usize| RecordingError::Truncated {
        expected: expected as u64,
        found,
    };
    if !looks_like_recording(bytes) {
        return Err(RecordingError::BadMagic);
    }
    if bytes.len() < 12 {
        return Err(truncated(HEADER_LEN));
    }
    let version = le_u32(&bytes[8..]);
    if !(1..=RECORDING_VERSION).contains(&version) {
        return Err(RecordingError::UnsupportedVersion {
            found: version,
            supported: RECORDING_VERSION,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated(HEADER_LEN));
    }
    if crc32fast::hash(&bytes[8..32]) != le_u32(&bytes[32..]) {
        return Err(corrupt("header checksum mismatch"));
    }
    if le_u32(&bytes[12..]) != 0 {
        return Err(corrupt("unknown header flags"));
    }
    let payload_len = le_u64(&bytes[16..]);
    let body_len = le_u64(&bytes[24..]);
    if body_len > MAX_BODY_BYTES {
        return Err(RecordingError::TooLarge {
            what: "body",
            limit: MAX_BODY_BYTES,
        });
    }
    let total = (HEADER_LEN as u64)
        .checked_add(payload_len)
        .ok_or_else(|| corrupt("payload length overflows"))?;
    if found < total {
        return Err(RecordingError::Truncated {
            expected: total,
            found,
        });
    }
    if found > total {
        return Err(corrupt(format!(
            "{} unexpected bytes after the payload",
            found - total
        )));
    }
    let payload = &bytes[HEADER_LEN..];
    if crc32fast::hash(payload) != le_u32(&bytes[36..]) {
        return Err(corrupt("payload checksum mismatch"));
    }
    let mut body = Vec::new();
    zstd::stream::read::Decoder::new(payload)
        .and_then(|d| d.take(body_len.saturating_add(1)).read_to_end(&mut body))
        .map_err(|e| corrupt(format!("cannot decompress the payload: {e}")))?;
    if body.len() as u64 != body_len {
        return Err(corrupt(format!(
            "the payload decompresses to {} bytes, the header says {body_len}",
            body.len()
        )));
    }
    decode_body(&body, version)
}

/// The oldest version that holds everything in `profile`.
fn version_for(profile: &Profile) -> u32 {
    let placed = profile
        .processes
        .values()
        .any(|p| p.place != ProcessPlace::default());
    if profile.frames.iter().any(|f| f.instr.is_some()) {
        3
    } else if placed {
        2
    } else {
        1
    }
}

// ---- body encoding ----

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    /// 0, or 1 and the value.
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
        }
    }
}

fn kind_code(kind: FrameKind) -> u8 {
    match kind {
        FrameKind::Python => 0,
        FrameKind::Marker => 1,
        FrameKind::Native => 2,
        FrameKind::Kernel => 3,
    }
}

fn kind_from(code: u8) -> Option<FrameKind> {
    Some(match code {
        0 => FrameKind::Python,
        1 => FrameKind::Marker,
        2 => FrameKind::Native,
        3 => FrameKind::Kernel,
        _ => return None,
    })
}

fn encode_body(p: &Profile, version: u32) -> Vec<u8> {
    let mut e = Enc(Vec::new());
    e.u64(p.meta.rate_hz);
    e.u64(p.meta.duration_ns);
    e.u64(p.meta.start_unix_ns);
    e.str(&p.meta.mode);

    e.len(p.frames.len());
    for f in &p.frames {
        e.str(&f.name);
        e.str(&f.file);
        e.u32(f.line);
        e.u32(f.first_line);
        e.u8(kind_code(f.kind));
        if version >= 3 {
            match &f.instr {
                None => e.u8(0),
                Some(i) => {
                    e.u8(1);
                    e.str(&i.opcode);
                    e.str(&i.family);
                    e.opt_u32(i.end_line);
                    e.opt_u32(i.col);
                    e.opt_u32(i.end_col);
                }
            }
        }
    }

    e.len(p.stacks.len());
    for s in &p.stacks {
        e.len(s.len());
        for &f in s {
            e.u32(f);
        }
    }

    e.len(p.processes.len());
    for (&pid, proc) in &p.processes {
        e.u32(pid);
        e.u32(proc.pid);
        e.str(&proc.name);
        e.str(&proc.version);
        e.str(&proc.cmdline);
        e.len(proc.threads.len());
        for (&tid, t) in &proc.threads {
            e.u32(tid);
            e.u32(t.tid);
            e.str(&t.name);
        }
        if version >= 2 {
            let pl = &proc.place;
            for s in [
                &pl.cgroup,
                &pl.container_id,
                &pl.container_name,
                &pl.image,
                &pl.pod_uid,
            ] {
                e.str(s);
            }
            e.u32(pl.ns_pid);
        }
    }

    let mut counts: Vec<(&StackKey, &Counts)> = p.counts.iter().collect();
    counts.sort_unstable_by_key(|(k, _)| **k);
    e.len(counts.len());
    for (k, c) in counts {
        e.u32(k.pid);
        e.u32(k.tid);
        e.u32(k.stack);
        e.u64(c.samples);
        e.u64(c.weight_ns);
    }

    match &p.timeline {
        None => e.u8(0),
        Some(t) => {
            e.u8(1);
            e.len(t.len());
            for s in t {
                e.u64(s.time_ns);
                e.u32(s.cpu);
                e.u32(s.key.pid);
                e.u32(s.key.tid);
                e.u32(s.flags);
                e.u64(s.weight_ns);
                e.u32(s.key.stack);
            }
        }
    }
    e.0
}

// ---- body decoding ----

struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordingError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt("the body ends early"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RecordingError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, RecordingError> {
        Ok(le_u32(self.take(4)?))
    }
    fn u64(&mut self) -> Result<u64, RecordingError> {
        Ok(le_u64(self.take(8)?))
    }
    /// A count of items of at least `min_size` bytes each, checked against
    /// the bytes left so a bad count cannot make us allocate wildly.
    fn count(&mut self, min_size: usize) -> Result<usize, RecordingError> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_size.max(1) as u64) > left {
            return Err(corrupt(format!("a count of {n} items exceeds the body")));
        }
        Ok(n as usize)
    }
    fn str(&mut self) -> Result<String, RecordingError> {
        let n = self.count(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| corrupt("a string is not UTF-8"))
    }
    fn opt_u32(&mut self) -> Result<Option<u32>, RecordingError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u32()?)),
            _ => Err(corrupt("a bad optional value")),
        }
    }
    /// A frame's instruction (version 3+).
    fn instr(&mut self) -> Result<Option<Instr>, RecordingError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Instr {
                opcode: self.str()?,
                family: self.str()?,
                end_line: self.opt_u32()?,
                col: self.opt_u32()?,
                end_col: self.opt_u32()?,
            })),
            _ => Err(corrupt("a bad instruction marker")),
        }
    }
}

fn decode_body(body: &[u8], version: u32) -> Result<Profile, RecordingError> {
    let mut d = Dec { buf: body, pos: 0 };
    let meta = ProfileMeta {
        rate_hz: d.u64()?,
        duration_ns: d.u64()?,
        start_unix_ns: d.u64()?,
        mode: d.str()?,
    };
    let mut p = Profile::new(meta);

    let n = d.count(8 + 8 + 4 + 4 + 1)?;
    for i in 0..n {
        let frame = FrameInfo {
            name: d.str()?,
            file: d.str()?,
            line: d.u32()?,
            first_line: d.u32()?,
            kind: kind_from(d.u8()?).ok_or_else(|| corrupt("unknown frame kind"))?,
            instr: if version >= 3 { d.instr()? } else { None },
        };
        if p.intern_frame(frame) as usize != i {
            return Err(corrupt(format!("frame {i} is a duplicate")));
        }
    }

    let n = d.count(8)?;
    let mut ids = Vec::new();
    for i in 0..n {
        let len = d.count(4)?;
        ids.clear();
        for _ in 0..len {
            let f = d.u32()?;
            if f as usize >= p.frames.len() {
                return Err(corrupt(format!("stack {i} names unknown frame {f}")));
            }
            ids.push(f);
        }
        if p.intern_stack(&ids) as usize != i {
            return Err(corrupt(format!("stack {i} is a duplicate")));
        }
    }

    let n = d.count(4 + 4 + 8 * 4)?;
    for _ in 0..n {
        let key = d.u32()?;
        let mut proc = ProcessInfo {
            pid: d.u32()?,
            name: d.str()?,
            version: d.str()?,
            cmdline: d.str()?,
            threads: BTreeMap::new(),
            place: ProcessPlace::default(),
            // Credentials are never recorded: a replayed profile reads no
            // source file.
            owner: None,
        };
        let threads = d.count(4 + 4 + 8)?;
        for _ in 0..threads {
            let tid_key = d.u32()?;
            let thread = ThreadInfo {
                tid: d.u32()?,
                name: d.str()?,
            };
            if proc.threads.insert(tid_key, thread).is_some() {
                return Err(corrupt(format!("thread {tid_key} listed twice")));
            }
        }
        if version >= 2 {
            proc.place = ProcessPlace {
                cgroup: d.str()?,
                container_id: d.str()?,
                container_name: d.str()?,
                image: d.str()?,
                pod_uid: d.str()?,
                ns_pid: d.u32()?,
            };
        }
        if p.processes.insert(key, proc).is_some() {
            return Err(corrupt(format!("process {key} listed twice")));
        }
    }

    let stack_count = p.stacks.len();
    let check_stack = |s: u32| {
        if (s as usize) < stack_count {
            Ok(s)
        } else {
            Err(corrupt(format!("unknown stack {s}")))
        }
    };
    let n = d.count(4 * 3 + 8 * 2)?;
    for _ in 0..n {
        let key = StackKey {
            pid: d.u32()?,
            tid: d.u32()?,
            stack: check_stack(d.u32()?)?,
        };
        let counts = Counts {
            samples: d.u64()?,
            weight_ns: d.u64()?,
        };
        if p.counts.insert(key, counts).is_some() {
            return Err(corrupt("a stack's totals are listed twice"));
        }
    }

    match d.u8()? {
        0 => {}
        1 => {
            let n = d.count(8 + 4 * 4 + 8 + 4)?;
            let mut timeline = Vec::with_capacity(n);
            for _ in 0..n {
                let time_ns = d.u64()?;
                let cpu = d.u32()?;
                let (pid, tid, flags) = (d.u32()?, d.u32()?, d.u32()?);
                let weight_ns = d.u64()?;
                let stack = check_stack(d.u32()?)?;
                timeline.push(TimedSample {
                    time_ns,
                    key: StackKey { pid, tid, stack },
                    weight_ns,
                    flags,
                    cpu,
                });
            }
            p.timeline = Some(timeline);
        }
        _ => return Err(corrupt("bad timeline marker")),
    }
    if d.pos != body.len() {
        return Err(corrupt("unexpected bytes at the end of the body"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{
        assert_golden, fixture_profile, opcodes_profile, small_profile, TestDir,
    };
    use crate::output::{write_atomically, writer_for, OutputFormat};

    fn render(profile: &Profile) -> Vec<u8> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Recording, &WriteOptions::default())
            .write(profile, &mut out)
            .unwrap();
        out
    }

    /// Field-by-field equality (Profile has private indexes, no PartialEq).
    pub(crate) fn assert_same_profile(a: &Profile, b: &Profile) {
        assert_eq!(a.meta, b.meta);
        assert_eq!(a.frames, b.frames);
        assert_eq!(a.stacks, b.stacks);
        assert_eq!(a.processes, b.processes);
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.timeline, b.timeline);
    }

    #[test]
    fn golden_fixture() {
        assert_golden("fixture.tbr", &render(&fixture_profile()));
    }

    #[test]
    fn round_trip_rebuilds_the_profile() {
        for p in [
            fixture_profile(),
            small_profile("wall"),
            Profile::default(),
            {
                let mut p = fixture_profile();
                p.timeline = None;
                p
            },
            placed_profile(),
            opcodes_profile(),
        ] {
            let back = decode_recording(&render(&p)).unwrap();
            assert_same_profile(&p, &back);
            // Interning still works on the rebuilt profile.
            let mut back = back;
            for (i, f) in p.frames.iter().enumerate() {
                assert_eq!(back.intern_frame(f.clone()) as usize, i);
            }
            for (i, s) in p.stacks.iter().enumerate() {
                assert_eq!(back.intern_stack(s) as usize, i);
            }
            // And the recording of the rebuilt profile is the same bytes.
            assert_eq!(render(&back), render(&p));
        }
    }

    /// The fixture with one process in a container.
    fn placed_profile() -> Profile {
        let mut p = fixture_profile();
        if let Some(proc) = p.processes.values_mut().next() {
            proc.place = ProcessPlace {
                cgroup: format!("/docker/{}", "ab".repeat(32)),
                container_id: "ab".repeat(32),
                container_name: "web".into(),
                image: "py:3.14".into(),
                pod_uid: String::new(),
                ns_pid: 1,
            };
        }
        p
    }

    #[test]
    fn profiles_without_places_stay_version_1_and_with_them_use_version_2() {
        assert_eq!(render(&fixture_profile())[8], 1);
        let placed = render(&placed_profile());
        assert_eq!(placed[8], 2);
        let back = decode_recording(&placed).unwrap();
        let place = &back.processes.values().next().expect("a process").place;
        assert_eq!(place.container_name, "web");
        assert_eq!(place.ns_pid, 1);
        assert_eq!(place.container_label(), "container web (abababababab)");
    }

    #[test]
    fn instructions_need_version_3_and_come_back() {
        let bytes = render(&opcodes_profile());
        assert_eq!(bytes[8], 3);
        let back = decode_recording(&bytes).unwrap();
        assert_same_profile(&opcodes_profile(), &back);
        assert!(back
            .frames
            .iter()
            .any(|f| f.opcode() == Some("BINARY_OP_ADD_INT")
                && f.instr.as_ref().and_then(|i| i.col) == Some(16)));
        assert_golden("fixture.opcodes.tbr", &bytes);
    }

    #[test]
    fn reads_from_a_file() {
        let dir = TestDir::new("recording-file");
        let path = dir.path().join("p.tbr");
        let p = fixture_profile();
        write_atomically(&path, |out| {
            writer_for(OutputFormat::Recording, &WriteOptions::default()).write(&p, out)
        })
        .unwrap();
        assert_same_profile(&p, &read_recording(&path).unwrap());
        let err = read_recording(&dir.path().join("missing.tbr")).unwrap_err();
        assert!(matches!(err, RecordingError::Io(_)), "{err}");
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = render(&fixture_profile());
        for len in 0..bytes.len() {
            match decode_recording(&bytes[..len]) {
                Err(RecordingError::Truncated { expected, found }) => {
                    assert_eq!(found, len as u64);
                    assert!(expected > found);
                }
                Err(RecordingError::BadMagic) if len == 0 => {}
                other => panic!("cut at {len}: {other:?}"),
            }
        }
        let err = decode_recording(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(
            err.to_string().starts_with("the recording is truncated"),
            "{err}"
        );
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = render(&fixture_profile());
        for pos in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[pos] ^= mask;
                let err = decode_recording(&bad).unwrap_err();
                match (pos, &err) {
                    (0..=7, RecordingError::BadMagic) => {}
                    (8..=11, RecordingError::UnsupportedVersion { found, supported }) => {
                        assert_ne!(found, supported);
                    }
                    (12.., RecordingError::Corrupt(_)) => {}
                    _ => panic!("byte {pos} ^ {mask:#x}: unexpected {err:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_and_other_files_are_rejected() {
        let mut bytes = render(&small_profile("cpu"));
        bytes.push(0);
        assert!(matches!(
            decode_recording(&bytes),
            Err(RecordingError::Corrupt(_))
        ));
        let err = decode_recording(b"python3.12 (pid 1);main 3\n").unwrap_err();
        assert!(matches!(err, RecordingError::BadMagic), "{err}");
        let mut v4 = render(&small_profile("cpu"));
        v4[8] = 4;
        let err = decode_recording(&v4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported recording format version 4 (this build reads versions 1 to 3)"
        );
    }

    /// A body that passes the checksums but is inconsistent (as a buggy or
    /// hostile writer could produce) is rejected, not trusted.
    #[test]
    fn inconsistent_bodies_are_rejected() {
        let p = small_profile("cpu");
        let body = encode_body(&p, 2);
        // Every truncation of the body.
        for len in 0..body.len() {
            assert!(
                matches!(
                    decode_body(&body[..len], 2),
                    Err(RecordingError::Corrupt(_))
                ),
                "body cut at {len}"
            );
        }
        // A stack naming a frame that does not exist.
        let mut bad = p.clone();
        bad.stacks[0][0] = 99;
        let err = decode_body(&encode_body(&bad, 2), 2).unwrap_err();
        assert!(err.to_string().contains("unknown frame 99"), "{err}");
        let mut bad = p.clone();
        if let Some(t) = bad.timeline.as_mut() {
            t[0].key.stack = 7;
        }
        let err = decode_body(&encode_body(&bad, 2), 2).unwrap_err();
        assert!(err.to_string().contains("unknown stack 7"), "{err}");
        let mut bad = p;
        bad.frames.push(bad.frames[0].clone());
        let err = decode_body(&encode_body(&bad, 2), 2).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    /// A header that announces a huge body is refused before decompressing
    /// (a zstd bomb would otherwise fill the memory).
    #[test]
    fn a_body_larger_than_the_limit_is_refused_up_front() {
        let mut bytes = render(&small_profile("cpu"));
        bytes[24..32].copy_from_slice(&(MAX_BODY_BYTES + 1).to_le_bytes());
        let crc = crc32fast::hash(&bytes[8..32]);
        bytes[32..36].copy_from_slice(&crc.to_le_bytes());
        let err = decode_recording(&bytes).unwrap_err();
        assert!(
            matches!(err, RecordingError::TooLarge { what: "body", .. }),
            "{err}"
        );
    }
}
