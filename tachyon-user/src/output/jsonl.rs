//! jsonl: JSON Lines, one object per line, for scripts (`jq`, pandas,
//! DuckDB) to read without a dedicated parser.
//!
//! The first line is the header:
//!
//! ```text
//! {"type":"header","format":"tachyon-jsonl","version":1,"tool":"tachyon-bpf",
//!  "start_unix_ns":…,"start_time":"2023-11-14T22:13:20.000000000Z","duration_ns":…,
//!  "rate_hz":100,"mode":"cpu","total_samples":44,"total_weight_ns":…,
//!  "processes":[{"pid":100,"name":"python3.12","version":"3.12.1","cmdline":"…",
//!                "threads":[{"tid":100,"name":"python3.12"},…]},…]}
//! ```
//!
//! then one line per (pid, tid, stack), in [`Profile::sorted_keys`] order:
//!
//! ```text
//! {"type":"stack","pid":100,"tid":101,"samples":3,"weight_ns":30000000,
//!  "frames":[{"function":"<module>","file":"/srv/app.py","line":40,"first_line":1,"kind":"python"},…]}
//! ```
//!
//! Frames are root first; `line` is the line being executed, `first_line`
//! the function's first line (0 when unknown), `kind` one of `python`,
//! `marker`, `native`, `kernel`. With `--opcodes`, Python frames also have
//! `opcode` (the instruction, specialised form included, e.g.
//! `BINARY_OP_ADD_INT`; absent when unknown), `opcode_family` (`BINARY_OP`)
//! and, on 3.11+, `end_line`, `col` and `end_col` (as `co_positions()`
//! gives them: 0-based UTF-8 byte offsets, the end exclusive). Process and thread are fields, never frames,
//! so [`WriteOptions::threads`] does not apply. Strings are written as they
//! are (JSON-escaped), with no sanitizing of `;` or spaces.
//!
//! The format is versioned: fields may be added in a later version 1
//! output; a change of meaning bumps `version`.

use std::io::Write;

use serde_json::{json, Value};

use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::{FrameKind, ProcessPlace, Profile};

/// The `format` field of the header.
pub const JSONL_FORMAT: &str = "tachyon-jsonl";
/// The `version` field of the header.
pub const JSONL_VERSION: u32 = 1;

/// Writes JSON Lines.
#[derive(Clone, Debug, Default)]
pub struct JsonlWriter {
    _options: WriteOptions,
}

impl JsonlWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { _options: options }
    }
}

fn kind_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Python => "python",
        FrameKind::Marker => "marker",
        FrameKind::Native => "native",
        FrameKind::Kernel => "kernel",
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for nanoseconds since the Unix epoch.
fn rfc3339(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let nanos = unix_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The header line.
fn header(profile: &Profile) -> Value {
    let m = &profile.meta;
    let processes: Vec<Value> = profile
        .processes
        .values()
        .map(|p| {
            let threads: Vec<Value> = p
                .threads
                .values()
                .map(|t| json!({"tid": t.tid, "name": t.name}))
                .collect();
            let mut v = json!({
                "pid": p.pid,
                "name": p.name,
                "version": p.version,
                "cmdline": p.cmdline,
                "threads": threads,
            });
            // Where it ran, only when known (older readers see no change).
            let pl = &p.place;
            if pl != &ProcessPlace::default() {
                v["cgroup"] = json!(pl.cgroup);
                v["ns_pid"] = json!(pl.ns_pid);
                if pl.in_container() {
                    v["container"] = json!({
                        "id": pl.container_id,
                        "name": pl.container_name,
                        "image": pl.image,
                        "pod_uid": pl.pod_uid,
                    });
                }
            }
            v
        })
        .collect();
    json!({
        "type": "header",
        "format": JSONL_FORMAT,
        "version": JSONL_VERSION,
        "tool": "tachyon-bpf",
        "start_unix_ns": m.start_unix_ns,
        "start_time": rfc3339(m.start_unix_ns),
        "duration_ns": m.duration_ns,
        "rate_hz": m.rate_hz,
        "mode": m.mode,
        "total_samples": profile.total_samples(),
        "total_weight_ns": profile.total_weight_ns(),
        "processes": processes,
    })
}

/// Writes `line` as compact JSON, then a newline.
fn write_line(out: &mut dyn Write, line: &Value) -> Result<(), OutputError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

impl ProfileWriter for JsonlWriter {
    /// An empty profile gives the header line alone.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        write_line(out, &header(profile))?;
        for key in profile.sorted_keys() {
            let counts = profile.counts[&key];
            let frames: Vec<Value> = profile
                .stacks
                .get(key.stack as usize)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|&f| profile.frames.get(f as usize))
                .map(|f| {
                    let mut v = json!({
                        "function": f.name,
                        "file": f.file,
                        "line": f.line,
                        "first_line": f.first_line,
                        "kind": kind_name(f.kind),
                    });
                    if let Some(i) = &f.instr {
                        if !i.opcode.is_empty() {
                            v["opcode"] = json!(i.opcode);
                            v["opcode_family"] = json!(i.family);
                        }
                        for (k, x) in [
                            ("end_line", i.end_line),
                            ("col", i.col),
                            ("end_col", i.end_col),
                        ] {
                            if let Some(x) = x {
                                v[k] = json!(x);
                            }
                        }
                    }
                    v
                })
                .collect();
            write_line(
                out,
                &json!({
                    "type": "stack",
                    "pid": profile.pid_of(key.pid),
                    "tid": key.tid,
                    "samples": counts.samples,
                    "weight_ns": counts.weight_ns,
                    "frames": frames,
                }),
            )?;
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, opcodes_profile};
    use crate::output::{writer_for, OutputFormat};
    use crate::profile::FrameInfo;
    use serde_json::Value;

    fn render(profile: &Profile) -> String {
        let mut out = Vec::new();
        writer_for(OutputFormat::Jsonl, &WriteOptions::default())
            .write(profile, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn parse(text: &str) -> Vec<Value> {
        assert!(text.ends_with('\n'));
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
            })
            .collect()
    }

    #[test]
    fn golden_fixture() {
        assert_golden("fixture.jsonl", render(&fixture_profile()).as_bytes());
    }

    #[test]
    fn opcodes_and_columns_are_frame_fields() {
        let text = render(&opcodes_profile());
        assert_golden("fixture.opcodes.jsonl", text.as_bytes());
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let leaves: Vec<&Value> = lines[1..]
            .iter()
            .map(|l| l["frames"].as_array().unwrap().last().unwrap())
            .collect();
        let add = leaves
            .iter()
            .find(|f| f["opcode"] == "BINARY_OP_ADD_INT")
            .expect("the add");
        assert_eq!(add["opcode_family"], "BINARY_OP");
        assert_eq!(
            (add["line"].as_u64(), add["end_line"].as_u64()),
            (Some(5), Some(5))
        );
        assert_eq!(
            (add["col"].as_u64(), add["end_col"].as_u64()),
            (Some(16), Some(25))
        );
        // Unread bytecode: columns, no opcode. Before 3.11: no columns.
        let unread = leaves.iter().find(|f| f["line"] == 4).expect("line 4");
        assert!(unread.get("opcode").is_none() && unread["col"] == 13);
        let old = leaves
            .iter()
            .find(|f| f["opcode"] == "BINARY_ADD")
            .expect("3.9");
        assert!(old.get("col").is_none() && old.get("end_line").is_none());
        // Frames without --opcodes have none of these fields.
        let plain = render(&fixture_profile());
        assert!(!plain.contains("\"opcode") && !plain.contains("\"col\""));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20.000000000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_007),
            "2000-02-29T00:00:00.000000007Z"
        );
        assert_eq!(
            rfc3339(4_107_542_399_999_999_999),
            "2100-02-28T23:59:59.999999999Z"
        );
    }

    #[test]
    fn header_describes_the_run() {
        let p = fixture_profile();
        let lines = parse(&render(&p));
        let h = &lines[0];
        assert_eq!(h["type"], "header");
        assert_eq!(h["format"], "tachyon-jsonl");
        assert_eq!(h["version"], 1);
        assert_eq!(h["tool"], "tachyon-bpf");
        assert_eq!(h["start_unix_ns"], 1_700_000_000_000_000_000u64);
        assert_eq!(h["start_time"], "2023-11-14T22:13:20.000000000Z");
        assert_eq!(h["duration_ns"], 2_000_000_000u64);
        assert_eq!(h["rate_hz"], 100);
        assert_eq!(h["mode"], "cpu");
        assert_eq!(h["total_samples"], 44);
        assert_eq!(h["total_weight_ns"], 440_000_000u64);
        let procs = h["processes"].as_array().unwrap();
        assert_eq!(procs.len(), 2);
        assert_eq!(procs[0]["pid"], 100);
        assert_eq!(procs[0]["name"], "python3.12");
        assert_eq!(procs[0]["version"], "3.12.1");
        assert_eq!(procs[0]["cmdline"], "python3.12 app.py");
        assert_eq!(procs[0]["threads"].as_array().unwrap().len(), 3);
        assert_eq!(procs[0]["threads"][1]["tid"], 101);
        assert_eq!(procs[0]["threads"][1]["name"], "worker-1");
        assert_eq!(procs[1]["threads"][1]["name"], "工作者");
    }

    #[test]
    fn every_line_parses_and_frames_are_right() {
        let p = fixture_profile();
        let lines = parse(&render(&p));
        let stacks = &lines[1..];
        assert_eq!(stacks.len(), p.counts.len());
        let total: u64 = stacks.iter().map(|s| s["samples"].as_u64().unwrap()).sum();
        assert_eq!(total, p.total_samples());
        let weight: u64 = stacks
            .iter()
            .map(|s| s["weight_ns"].as_u64().unwrap())
            .sum();
        assert_eq!(weight, p.total_weight_ns());

        // Each line's frames are the profile's, root first, field by field.
        for (s, key) in stacks.iter().zip(p.sorted_keys()) {
            assert_eq!(s["type"], "stack");
            assert_eq!(s["pid"], key.pid);
            assert_eq!(s["tid"], key.tid);
            assert_eq!(s["samples"], p.counts[&key].samples);
            let frames = s["frames"].as_array().unwrap();
            let want = &p.stacks[key.stack as usize];
            assert_eq!(frames.len(), want.len());
            for (f, &id) in frames.iter().zip(want) {
                let info = &p.frames[id as usize];
                assert_eq!(f["function"], info.name.as_str());
                assert_eq!(f["file"], info.file.as_str());
                assert_eq!(f["line"], info.line);
                assert_eq!(f["first_line"], info.first_line);
                assert_eq!(f["kind"], kind_name(info.kind));
                assert_eq!(f.as_object().unwrap().len(), 5);
            }
        }

        // Spot checks against the fixture's definition.
        let find = |pid: u64, tid: u64, leaf: &str| {
            stacks
                .iter()
                .find(|s| {
                    s["pid"] == pid
                        && s["tid"] == tid
                        && s["frames"]
                            .as_array()
                            .unwrap()
                            .last()
                            .map(|f| &f["function"])
                            == Some(&Value::from(leaf))
                })
                .unwrap_or_else(|| panic!("no stack {pid}/{tid} ending in {leaf}"))
        };
        let method = find(100, 101, "Outer.Inner.method");
        assert_eq!(method["samples"], 3);
        assert_eq!(method["weight_ns"], 30_000_000);
        assert_eq!(
            method["frames"][0],
            serde_json::json!({"function": "<module>", "file": "/srv/my app/main.py",
                               "line": 40, "first_line": 1, "kind": "python"})
        );
        assert_eq!(method["frames"][2]["file"], "/srv/my app/models.py");
        assert_eq!(method["frames"][2]["line"], 12);
        assert_eq!(method["frames"][2]["first_line"], 10);
        let fib = find(200, 200, "fib");
        assert_eq!(fib["frames"].as_array().unwrap().len(), 62);
        assert_eq!(fib["frames"][61]["line"], 2);
        assert_eq!(fib["frames"][60]["line"], 4);
        let semi = find(200, 201, "weird;name");
        assert_eq!(semi["frames"][1]["file"], "gen.py");
        assert_eq!(semi["frames"][1]["line"], 0);
        let unknown = find(100, 102, "<unknown>");
        assert_eq!(unknown["frames"][0]["kind"], "marker");
        assert_eq!(unknown["frames"][0]["file"], "");
        // The sample with an empty stack keeps its line, with no frames.
        assert!(stacks
            .iter()
            .any(|s| s["pid"] == 200 && s["frames"].as_array().unwrap().is_empty()));
    }

    #[test]
    fn strings_are_escaped() {
        let mut p = Profile::default();
        let f = p.intern_frame(FrameInfo::python("a\"b\\c\nd\u{1}", "x\ty.py", 1, 1));
        let stack = p.intern_stack(&[f]);
        p.add_sample(crate::profile::TimedSample {
            time_ns: 0,
            key: crate::profile::StackKey {
                pid: 1,
                tid: 1,
                stack,
            },
            weight_ns: 1,
            flags: 0,
            cpu: 0,
        });
        let text = render(&p);
        assert_eq!(text.lines().count(), 2);
        let lines = parse(&text);
        assert_eq!(lines[1]["frames"][0]["function"], "a\"b\\c\nd\u{1}");
        assert_eq!(lines[1]["frames"][0]["file"], "x\ty.py");
    }

    #[test]
    fn empty_profile_is_the_header_alone() {
        let lines = parse(&render(&Profile::default()));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["processes"], serde_json::json!([]));
    }
}
