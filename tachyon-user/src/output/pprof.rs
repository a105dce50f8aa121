//! pprof: a gzipped `profile.proto` message, as read by `go tool pprof`,
//! pprof.me, Pyroscope, speedscope and most profiling back ends.
//!
//! The schema is `profile.proto` beside this file; the messages below are
//! hand-written `prost` derives of it (no `protoc` at build time).
//!
//! Mapping from the [`Profile`]:
//! * two sample types, `samples/count` and `cpu/nanoseconds` (or
//!   `wall/nanoseconds` for a `wall` profile), the latter being the default;
//! * one [`proto::Sample`] per (pid, tid, stack), in
//!   [`Profile::sorted_keys`] order, leaf location first, with the numeric
//!   labels `pid` and `tid` and the string labels `process_name` and
//!   `thread_name` (left out when the name is unknown);
//! * one [`proto::Location`] per interned frame (id = frame id + 1), with one
//!   line giving the line being executed;
//! * one [`proto::Function`] per distinct (name, file, first line), ids in
//!   order of first use;
//! * `period_type`/`period` from the sampling rate, `time_nanos` and
//!   `duration_nanos` from the run.
//!
//! Process and thread are labels, not frames: pprof tools group by them with
//! `-tagfocus`/`-tagroot`. The output is deterministic (same profile, same
//! bytes): strings are interned in a fixed order and the gzip header carries
//! no timestamp.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::Profile;

/// The `perftools.profiles` messages tachyon writes (see `profile.proto`).
pub mod proto {
    /// A whole profile.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }

    /// A measured quantity: type and unit, both string-table indexes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    /// One stack with its values and labels.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    /// A sample label: `str` or `num` is set.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    /// A mapped binary (tachyon writes none: Python code has no addresses).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    /// A code location: one frame.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    /// A function and line within a location.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    /// A function.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// Writes gzipped pprof protobuf.
#[derive(Clone, Debug, Default)]
pub struct PprofWriter {
    // No option applies: process and thread are always labels.
    _options: WriteOptions,
}

impl PprofWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { _options: options }
    }
}

impl ProfileWriter for PprofWriter {
    /// An empty profile gives a valid pprof file with no sample.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let bytes = to_proto(profile).encode_to_vec();
        let mut gz = GzEncoder::new(&mut *out, Compression::default());
        gz.write_all(&bytes)?;
        gz.finish()?;
        out.flush()?;
        Ok(())
    }
}

/// The string table under construction; index 0 is "".
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Self {
            table: Vec::new(),
            index: HashMap::new(),
        };
        s.intern("");
        s
    }

    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Builds the pprof message for `profile`.
pub fn to_proto(profile: &Profile) -> proto::Profile {
    let mut strings = Strings::new();
    let kind = if profile.meta.mode == "wall" {
        "wall"
    } else {
        "cpu"
    };
    let sample_type = vec![
        proto::ValueType {
            r#type: strings.intern("samples"),
            unit: strings.intern("count"),
        },
        proto::ValueType {
            r#type: strings.intern(kind),
            unit: strings.intern("nanoseconds"),
        },
    ];
    let period_type = Some(sample_type[1].clone());

    // Functions, deduplicated by (name, file, first line), and one location
    // per frame.
    let mut functions: Vec<proto::Function> = Vec::new();
    let mut function_ids: HashMap<(&str, &str, u32), u64> = HashMap::new();
    let mut locations = Vec::with_capacity(profile.frames.len());
    for (i, frame) in profile.frames.iter().enumerate() {
        let key = (frame.name.as_str(), frame.file.as_str(), frame.first_line);
        let function_id = match function_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = functions.len() as u64 + 1;
                // No system (mangled) name: with `system_name == name`,
                // Go's pprof takes the name for undemangled C++ and cuts
                // `<…>` out of it, so `<module>` and every marker would
                // show as `<unknown>`.
                functions.push(proto::Function {
                    id,
                    name: strings.intern(&frame.name),
                    system_name: 0,
                    filename: strings.intern(&frame.file),
                    start_line: i64::from(frame.first_line),
                });
                function_ids.insert(key, id);
                id
            }
        };
        locations.push(proto::Location {
            id: i as u64 + 1,
            line: vec![proto::Line {
                function_id,
                line: i64::from(frame.line),
                column: 0,
            }],
            ..Default::default()
        });
    }

    let (pid_key, tid_key) = (strings.intern("pid"), strings.intern("tid"));
    let (pname_key, tname_key) = (
        strings.intern("process_name"),
        strings.intern("thread_name"),
    );
    let mut samples = Vec::with_capacity(profile.counts.len());
    for key in profile.sorted_keys() {
        let counts = profile.counts[&key];
        let location_id = profile
            .stacks
            .get(key.stack as usize)
            .map(|s| s.iter().rev().map(|&f| u64::from(f) + 1).collect())
            .unwrap_or_default();
        let mut label = vec![
            proto::Label {
                key: pid_key,
                num: i64::from(profile.pid_of(key.pid)),
                ..Default::default()
            },
            proto::Label {
                key: tid_key,
                num: i64::from(key.tid),
                ..Default::default()
            },
        ];
        let process = profile.processes.get(&key.pid);
        if let Some(name) = process.map(|p| p.name.as_str()).filter(|n| !n.is_empty()) {
            label.push(proto::Label {
                key: pname_key,
                str: strings.intern(name),
                ..Default::default()
            });
        }
        let thread = process.and_then(|p| p.threads.get(&key.tid));
        if let Some(name) = thread.map(|t| t.name.as_str()).filter(|n| !n.is_empty()) {
            label.push(proto::Label {
                key: tname_key,
                str: strings.intern(name),
                ..Default::default()
            });
        }
        if let Some(place) = process.map(|p| &p.place) {
            // Interned when first used, so profiles without places keep
            // their string table.
            for (k, v) in [
                ("container_id", &place.container_id),
                ("container_name", &place.container_name),
                ("pod_uid", &place.pod_uid),
                ("cgroup", &place.cgroup),
            ] {
                if !v.is_empty() {
                    label.push(proto::Label {
                        key: strings.intern(k),
                        str: strings.intern(v),
                        ..Default::default()
                    });
                }
            }
            // The pid inside its own namespace, when that is not ours.
            if place.ns_pid != 0 && place.ns_pid != profile.pid_of(key.pid) {
                label.push(proto::Label {
                    key: strings.intern("ns_pid"),
                    num: i64::from(place.ns_pid),
                    ..Default::default()
                });
            }
        }
        samples.push(proto::Sample {
            location_id,
            value: vec![to_i64(counts.samples), to_i64(counts.weight_ns)],
            label,
        });
    }

    let period = 1_000_000_000u64
        .checked_div(profile.meta.rate_hz)
        .unwrap_or(0);
    proto::Profile {
        sample_type,
        sample: samples,
        location: locations,
        function: functions,
        time_nanos: to_i64(profile.meta.start_unix_ns),
        duration_nanos: to_i64(profile.meta.duration_ns),
        period_type,
        period: to_i64(period),
        default_sample_type: strings.intern(kind),
        string_table: strings.table,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, small_profile, TestDir};
    use crate::output::{writer_for, OutputFormat};

    fn render(profile: &Profile) -> Vec<u8> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Pprof, &WriteOptions::default())
            .write(profile, &mut out)
            .unwrap();
        out
    }

    fn decode(bytes: &[u8]) -> proto::Profile {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .unwrap();
        proto::Profile::decode(raw.as_slice()).unwrap()
    }

    fn s(p: &proto::Profile, i: i64) -> &str {
        &p.string_table[i as usize]
    }

    #[test]
    fn golden_fixture() {
        assert_golden("fixture.pb.gz", &render(&fixture_profile()));
    }

    #[test]
    fn decodes_to_the_profile() {
        let profile = fixture_profile();
        let p = decode(&render(&profile));
        assert_eq!(p.string_table[0], "");
        let types: Vec<_> = p
            .sample_type
            .iter()
            .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
            .collect();
        assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
        assert_eq!(s(&p, p.default_sample_type), "cpu");
        assert_eq!(p.period, 10_000_000);
        assert_eq!(p.time_nanos as u64, profile.meta.start_unix_ns);
        let total: i64 = p.sample.iter().map(|x| x.value[0]).sum();
        let ns: i64 = p.sample.iter().map(|x| x.value[1]).sum();
        assert_eq!(total as u64, profile.total_samples());
        assert_eq!(ns as u64, profile.total_weight_ns());
        assert_eq!(p.sample.len(), profile.counts.len());

        // Ids are dense, and every reference resolves.
        for (i, l) in p.location.iter().enumerate() {
            assert_eq!(l.id, i as u64 + 1);
            assert_eq!(l.line.len(), 1);
            let f = l.line[0].function_id;
            assert!(f >= 1 && f as usize <= p.function.len());
        }
        for (i, f) in p.function.iter().enumerate() {
            assert_eq!(f.id, i as u64 + 1);
        }
        // `fib` at two lines: one function, two locations.
        assert_eq!(
            p.function.iter().filter(|f| s(&p, f.name) == "fib").count(),
            1
        );

        // The deepest sample: the recursive stack, leaf first.
        let deep = p.sample.iter().max_by_key(|x| x.location_id.len()).unwrap();
        assert_eq!(deep.location_id.len(), 62);
        let frame = |id: u64| {
            let line = &p.location[id as usize - 1].line[0];
            let f = &p.function[line.function_id as usize - 1];
            (s(&p, f.name), s(&p, f.filename), line.line, f.start_line)
        };
        assert_eq!(frame(deep.location_id[0]), ("fib", "fib.py", 2, 1));
        assert_eq!(frame(deep.location_id[61]), ("<module>", "fib.py", 9, 1));
        let labels: Vec<(String, String)> = deep
            .label
            .iter()
            .map(|l| {
                let v = if l.str != 0 {
                    s(&p, l.str).to_string()
                } else {
                    l.num.to_string()
                };
                (s(&p, l.key).to_string(), v)
            })
            .collect();
        let want = [
            ("pid", "200"),
            ("tid", "200"),
            ("process_name", "python3.8"),
            ("thread_name", "python3.8"),
        ];
        assert_eq!(labels, want.map(|(k, v)| (k.to_string(), v.to_string())));
        // An unnamed thread has no thread_name label.
        let unnamed = p
            .sample
            .iter()
            .find(|x| {
                x.label
                    .iter()
                    .any(|l| s(&p, l.key) == "tid" && l.num == 102)
            })
            .unwrap();
        assert!(!unnamed.label.iter().any(|l| s(&p, l.key) == "thread_name"));
    }

    #[test]
    fn wall_profiles_use_wall_nanoseconds() {
        let p = decode(&render(&small_profile("wall")));
        let t = &p.sample_type[1];
        assert_eq!((s(&p, t.r#type), s(&p, t.unit)), ("wall", "nanoseconds"));
        let ns: i64 = p.sample.iter().map(|x| x.value[1]).sum();
        assert_eq!(ns, 4_500_000);
    }

    #[test]
    fn empty_profile_is_valid() {
        let p = decode(&render(&Profile::default()));
        assert!(p.sample.is_empty());
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.period, 0);
    }

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The fixture's pprof in a scratch folder, for the consumer `tool`;
    /// `None` (the test is skipped) when the tool is missing, except under
    /// `CI=true`, where that fails.
    fn fixture_file_for(tool: &Path, install: &str, tag: &str) -> Option<(TestDir, PathBuf)> {
        if !tool.exists() {
            let msg = format!("{} is missing: run {install}", tool.display());
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("skipping: {msg}");
            return None;
        }
        let dir = TestDir::new(tag);
        let file = dir.path().join("fixture.pb.gz");
        std::fs::write(&file, render(&fixture_profile())).unwrap();
        Some((dir, file))
    }

    /// Go's own `pprof` (built by scripts/install-pprof.sh into `.tools/`),
    /// as Pyroscope, Parca and `go tool pprof` users read a profile: every
    /// function and marker keeps its name, and the labels are there.
    #[test]
    fn go_pprof_reads_names_and_labels() {
        let pprof = repo_root().join(".tools/pprof");
        let Some((_dir, file)) = fixture_file_for(&pprof, "scripts/install-pprof.sh", "pprof-go")
        else {
            return;
        };
        let run = |args: &[&str]| {
            let out = Command::new(&pprof).args(args).arg(&file).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let traces = run(&["-traces"]);
        for name in [
            "<module>",
            "<unknown>",
            "Outer.Inner.method",
            "日本語",
            "main",
        ] {
            assert!(traces.contains(name), "{name} missing from:\n{traces}");
        }
        // `<module>` is never shortened to nothing.
        assert!(
            !traces.lines().any(|l| l.trim().is_empty() && l.len() > 20),
            "{traces}"
        );
        let raw = run(&["-raw"]);
        assert!(raw.contains("<module> /srv/my app/main.py"), "{raw}");
        let tags = run(&["-tags"]);
        for label in ["process_name", "thread_name", "pid", "tid"] {
            assert!(tags.contains(label), "{label} missing from:\n{tags}");
        }
    }

    /// Decodes the fixture's pprof with Python's `protobuf` package, from a
    /// descriptor the script builds itself (`tests/consumers/decode_pprof.py`).
    #[test]
    fn independent_decoder_reads_it() {
        let root = repo_root();
        let python = root.join(".cache/consumers-venv/bin/python");
        let script = root.join("tests/consumers/decode_pprof.py");
        let Some((_dir, file)) = fixture_file_for(
            &python,
            "scripts/install-consumers-py.sh (or cargo xtask provision)",
            "pprof-python",
        ) else {
            return;
        };
        let profile = fixture_profile();
        let out = Command::new(&python)
            .arg(&script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "decode_pprof.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["sample_types"],
            serde_json::json!(["samples/count", "cpu/nanoseconds"])
        );
        assert_eq!(v["total_samples"].as_u64(), Some(profile.total_samples()));
        assert_eq!(
            v["total_nanoseconds"].as_u64(),
            Some(profile.total_weight_ns())
        );
        assert_eq!(v["string_table_0"], "");
        let functions: Vec<&str> = v["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        for name in ["Outer.Inner.method", "größe", "日本語", "weird;name", "fib"] {
            assert!(
                functions.contains(&name),
                "{name} missing from {functions:?}"
            );
        }
        // The deepest stack, leaf first, as the independent decoder resolves it.
        let leaf = &v["deepest_stack"][0];
        assert_eq!(leaf, &serde_json::json!(["fib", "fib.py", 2]));
        assert_eq!(v["deepest_stack"].as_array().unwrap().len(), 62);
        assert_eq!(v["labels"]["pid"], serde_json::json!([100, 200]));
        assert!(v["labels"]["thread_name"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("工作者")));
    }
}
