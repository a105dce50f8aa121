//! Property tests (proptest) for the parsers that read what a profiled
//! process controls: line tables, `/proc/PID/maps` lines, cgroup files,
//! `NSpid:`, recordings. Each is fed arbitrary input (it must never panic)
//! and well-formed input built from a model (it must give the model's
//! answer). `scripts/fuzz.sh` runs the same parsers under cargo-fuzz for
//! longer.

use proptest::prelude::*;
use tachyon::container::{cgroup_path, container_of, ns_pid};
use tachyon::output::decode_recording;
use tachyon::procfs::parse_maps_line;
use tachyon::python::linetable::{line_for_addr, location_for_addr, LineTableFormat};

const FORMATS: [LineTableFormat; 3] = [
    LineTableFormat::Lnotab,
    LineTableFormat::Linetable310,
    LineTableFormat::Locations311,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any bytes, any first line, any address: an answer or `None`, and the
    /// two entry points agree on the line.
    #[test]
    fn line_tables_take_any_bytes(
        table in proptest::collection::vec(any::<u8>(), 0..512),
        first_line in any::<i32>(),
        addr in any::<i32>(),
        which in 0usize..3,
    ) {
        let format = FORMATS[which];
        let line = line_for_addr(format, &table, first_line, addr);
        let loc = location_for_addr(format, &table, first_line, addr);
        prop_assert_eq!(line, loc.map(|l| l.line));
    }

    /// 3.8/3.9 `co_lnotab` built from (address step, line step) pairs: the
    /// line at an address is the first line plus every line step whose
    /// address is at or before it.
    #[test]
    fn lnotab_follows_its_model(
        steps in proptest::collection::vec((any::<u8>(), -20i8..20), 0..64),
        first_line in 1i32..10_000,
        addr in 0i32..20_000,
    ) {
        let table: Vec<u8> = steps.iter().flat_map(|&(a, l)| [a, l as u8]).collect();
        let mut pos = 0i64;
        let mut line = i64::from(first_line);
        for &(a, l) in &steps {
            pos += i64::from(a);
            if pos > i64::from(addr) {
                break;
            }
            line += i64::from(l);
        }
        let want = u32::try_from(line).ok();
        prop_assert_eq!(line_for_addr(LineTableFormat::Lnotab, &table, first_line, addr), want);
    }

    /// 3.10 `co_linetable` built from (byte-range length, line delta) pairs
    /// (no "no line" entries, non-empty ranges): an address inside range i
    /// has the running line after entry i.
    #[test]
    fn linetable310_follows_its_model(
        entries in proptest::collection::vec((1u8..=254, -100i8..100), 1..64),
        first_line in 1000i32..10_000,
        pick in any::<prop::sample::Index>(),
    ) {
        let table: Vec<u8> = entries.iter().flat_map(|&(len, d)| [len, d as u8]).collect();
        let i = pick.index(entries.len());
        let start: i32 = entries[..i].iter().map(|&(len, _)| i32::from(len)).sum();
        let line: i32 = first_line + entries[..=i].iter().map(|&(_, d)| i32::from(d)).sum::<i32>();
        // The first and the last byte of the range.
        for addr in [start, start + i32::from(entries[i].0) - 1] {
            let got = line_for_addr(LineTableFormat::Linetable310, &table, first_line, addr);
            prop_assert_eq!(got, u32::try_from(line).ok(), "addr {}", addr);
        }
    }

    /// `/proc/PID/maps` lines: what the kernel prints parses back to the
    /// same numbers and path (spaces in the path included).
    #[test]
    fn maps_lines_round_trip(
        start in any::<u64>(),
        len in 1u64..1 << 40,
        offset in any::<u64>(),
        inode in any::<u64>(),
        perms in "[r-][w-][x-][ps]",
        path in "(/[a-zA-Z0-9._ -]{1,20}){0,4}",
    ) {
        let end = start.saturating_add(len);
        let line = format!("{start:08x}-{end:08x} {perms} {offset:08x} fd:01 {inode}          {path}");
        let m = parse_maps_line(&line).expect("a kernel-shaped line parses");
        prop_assert_eq!((m.start, m.end, m.offset, m.inode), (start, end, offset, inode));
        prop_assert_eq!(m.perms, perms);
        prop_assert_eq!(m.path, path.split_ascii_whitespace().collect::<Vec<_>>().join(" "));
    }

    #[test]
    fn maps_lines_take_any_text(line in ".{0,200}") {
        let _ = parse_maps_line(&line);
    }

    /// Container ids in every runtime's cgroup layout are found, under any
    /// prefix (nested cgroups, a cgroup namespace's `/..`).
    #[test]
    fn container_ids_are_found_in_every_layout(
        id in "[0-9a-f]{64}",
        prefix in "(/(\\.\\.|[a-z]{1,8})){0,3}",
        layout in 0usize..5,
    ) {
        let path = match layout {
            0 => format!("{prefix}/docker/{id}"),
            1 => format!("{prefix}/system.slice/docker-{id}.scope"),
            2 => format!("{prefix}/kubepods.slice/cri-containerd-{id}.scope"),
            3 => format!("{prefix}/machine.slice/libpod-{id}.scope"),
            _ => format!("{prefix}/kubepods.slice/crio-{id}.scope"),
        };
        let c = container_of(&path).expect("a container");
        prop_assert_eq!(c.id, id);
    }

    /// Whatever a process's cgroup file says, no panic, and the path chosen
    /// has no control characters left.
    #[test]
    fn cgroup_files_take_any_text(text in "(([0-9]{1,2}|[a-z]{1,3}):[a-z,=]{0,12}:.{0,80}\n){0,6}") {
        if let Some(path) = cgroup_path(&text) {
            prop_assert!(!path.chars().any(char::is_control), "{:?}", path);
            let _ = container_of(&path);
        }
    }

    #[test]
    fn nspid_takes_any_text(text in ".{0,100}", pids in proptest::collection::vec(1u32..4_000_000, 1..5)) {
        let _ = ns_pid(&text);
        let line: Vec<String> = pids.iter().map(u32::to_string).collect();
        let status = format!("Name:\tpython3\nNSpid:\t{}\n", line.join("\t"));
        prop_assert_eq!(ns_pid(&status), pids.last().copied());
    }

    /// A recording that is not one is an error, never a panic or a huge
    /// allocation.
    #[test]
    fn recordings_take_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_recording(&bytes);
    }

    /// A real recording with bytes of its payload changed or cut: an error
    /// or a profile, never a panic.
    #[test]
    fn damaged_recordings_are_errors(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample_recording();
        let header = 40;
        let body = bytes.len() - header;
        for (at, value) in flips {
            bytes[header + at.index(body)] ^= value | 1;
        }
        if truncate {
            bytes.truncate(header + cut.index(body));
        }
        let _ = decode_recording(&bytes);
    }
}

/// A small real recording: two processes, a few stacks.
fn sample_recording() -> Vec<u8> {
    use tachyon::profile::{FrameInfo, Profile, ProfileMeta, StackKey, TimedSample};
    let mut p = Profile::new(ProfileMeta {
        rate_hz: 100,
        duration_ns: 1_000_000_000,
        start_unix_ns: 1_764_605_101_000_000_000,
        mode: "cpu".into(),
    });
    p.keep_timeline();
    for (pid, names) in [(10u32, ["main", "work"]), (11, ["<module>", "loop"])] {
        let frames: Vec<u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| p.intern_frame(FrameInfo::python(n, "app.py", i as u32 + 3, 1)))
            .collect();
        let stack = p.intern_stack(&frames);
        p.note_thread(pid, pid, || "MainThread".into());
        for t in 0..5 {
            p.add_sample(TimedSample {
                time_ns: t * 10_000_000,
                key: StackKey {
                    pid,
                    tid: pid,
                    stack,
                },
                weight_ns: 10_000_000,
                flags: 0,
                cpu: 0,
            });
        }
    }
    tachyon::output::encode_recording(&p).expect("encode")
}
