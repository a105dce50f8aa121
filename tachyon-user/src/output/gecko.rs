//! The Firefox Profiler's "processed profile" format: the JSON that
//! `profiler.firefox.com` opens from a file ("Load a profile from file").
//!
//! The profile is written as processed-profile version 55
//! (`meta.preprocessedProfileVersion`), the last version with self-contained
//! per-thread tables; the profiler upgrades it to its current version on
//! load. Its layout is documented by the profiler's type definitions
//! (`src/types/profile.ts`) and format changelog
//! (`docs-developer/CHANGELOG-formats.md`).
//!
//! Each Python thread is one thread of the profile (its process is the
//! `pid`/`processName` beside it), with its own `stringArray`, `funcTable`
//! (one function per name, file and first line), `frameTable` (one frame per
//! function and line), `stackTable` (a prefix tree, parents before children)
//! and `samples` (stack index and time in milliseconds since
//! `meta.startTime`, sorted by time). Samples come from the timeline
//! ([`Profile::timeline`]), so the format needs one
//! ([`super::OutputFormat::needs_timeline`]). `wall` profiles give each sample
//! its weight (`weightType` `tracing-ms`); `cpu` profiles count samples.
//!
//! Frame categories: `Other` (grey, markers such as `<unknown>`), `Python`,
//! `Native` and `Kernel`. With `--opcodes` every instruction seen is a
//! subcategory of `Python` (the profiler's sidebar then breaks a selected
//! function's samples down by instruction), and a frame's `column` is the
//! instruction's first column, 1-based as the profiler counts them (3.11+).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde_json::{json, Value};

use super::json;
use super::stacks::{value_unit, ValueUnit};
use super::{OutputError, ProfileWriter, WriteOptions, DEFAULT_TITLE};
use crate::profile::{FrameId, FrameKind, Profile, StackId};

/// The processed-profile version written.
pub const PROCESSED_PROFILE_VERSION: u32 = 55;

/// `meta.categories`: (name, colour); index 0 is the default (grey) one.
const CATEGORIES: &[(&str, &str)] = &[
    ("Other", "grey"),
    ("Python", "yellow"),
    ("Native", "lightblue"),
    ("Kernel", "orange"),
];

fn category(kind: FrameKind) -> u32 {
    match kind {
        FrameKind::Marker => 0,
        FrameKind::Python => 1,
        FrameKind::Native => 2,
        FrameKind::Kernel => 3,
    }
}

/// Writes a Firefox Profiler processed profile.
#[derive(Clone, Debug, Default)]
pub struct GeckoWriter {
    options: WriteOptions,
}

impl GeckoWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { options }
    }
}

/// One sample of a thread: time (ns since start), stack, weight (ns).
type Sample = (u64, StackId, u64);

/// One row of a thread's `frameTable`.
#[derive(Clone, Copy)]
struct FrameRow {
    func: u32,
    line: Option<u32>,
    /// 1-based.
    column: Option<u32>,
    category: u32,
    subcategory: u32,
}

/// `meta.categories`, with the profile's instructions as subcategories of
/// `Python` (index 0 is `Other` in every category).
struct Categories {
    opcodes: Vec<String>,
}

impl Categories {
    fn new(profile: &Profile) -> Self {
        let set: std::collections::BTreeSet<&str> =
            profile.frames.iter().filter_map(|f| f.opcode()).collect();
        Self {
            opcodes: set.into_iter().map(str::to_string).collect(),
        }
    }

    fn json(&self) -> Vec<Value> {
        CATEGORIES
            .iter()
            .map(|&(name, color)| {
                let mut subs = vec!["Other".to_string()];
                if name == "Python" {
                    subs.extend(self.opcodes.iter().cloned());
                }
                json!({"name": name, "color": color, "subcategories": subs})
            })
            .collect()
    }

    /// The subcategory of a frame: its instruction's, or 0.
    fn subcategory(&self, f: &crate::profile::FrameInfo) -> u32 {
        f.opcode()
            .and_then(|op| self.opcodes.binary_search_by(|o| o.as_str().cmp(op)).ok())
            .map_or(0, |i| i as u32 + 1)
    }
}

/// The tables of one thread, built as its samples are added.
#[derive(Default)]
struct ThreadTables {
    strings: Vec<String>,
    string_index: HashMap<String, u32>,
    /// name, fileName, lineNumber
    funcs: Vec<(u32, Option<u32>, Option<u32>)>,
    func_index: HashMap<(String, String, u32, FrameKind), u32>,
    frames: Vec<FrameRow>,
    frame_index: HashMap<FrameId, u32>,
    /// prefix, frame
    stacks: Vec<(Option<u32>, u32)>,
    stack_index: HashMap<(Option<u32>, u32), u32>,
    /// Profile stack → this thread's stack (None for an empty stack).
    profile_stacks: HashMap<StackId, Option<u32>>,
}

impl ThreadTables {
    fn string(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.string_index.insert(s.to_string(), i);
        i
    }

    fn frame(&mut self, profile: &Profile, cats: &Categories, id: FrameId) -> u32 {
        if let Some(&i) = self.frame_index.get(&id) {
            return i;
        }
        let f = &profile.frames[id as usize];
        let key = (f.name.clone(), f.file.clone(), f.first_line, f.kind);
        let func = match self.func_index.get(&key) {
            Some(&i) => i,
            None => {
                let name = self.string(if f.name.is_empty() {
                    "<unnamed>"
                } else {
                    &f.name
                });
                let file = (!f.file.is_empty()).then(|| self.string(&f.file));
                let first_line = (f.first_line > 0).then_some(f.first_line);
                let i = self.funcs.len() as u32;
                self.funcs.push((name, file, first_line));
                self.func_index.insert(key, i);
                i
            }
        };
        let i = self.frames.len() as u32;
        self.frames.push(FrameRow {
            func,
            line: (f.line > 0).then_some(f.line),
            column: f.instr.as_ref().and_then(|i| i.col).map(|c| c + 1),
            category: category(f.kind),
            subcategory: cats.subcategory(f),
        });
        self.frame_index.insert(id, i);
        i
    }

    fn stack(&mut self, profile: &Profile, cats: &Categories, id: StackId) -> Option<u32> {
        if let Some(&s) = self.profile_stacks.get(&id) {
            return s;
        }
        let mut prefix = None;
        for &frame_id in profile
            .stacks
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let frame = self.frame(profile, cats, frame_id);
            let key = (prefix, frame);
            prefix = Some(match self.stack_index.get(&key) {
                Some(&s) => s,
                None => {
                    let s = self.stacks.len() as u32;
                    self.stacks.push(key);
                    self.stack_index.insert(key, s);
                    s
                }
            });
        }
        self.profile_stacks.insert(id, prefix);
        prefix
    }
}

impl ProfileWriter for GeckoWriter {
    /// Fails with [`OutputError::Empty`] when the profile has no sample, and
    /// when it has samples but no timeline.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        if profile.counts.is_empty() {
            return Err(OutputError::Empty);
        }
        let timeline = profile.timeline.as_deref().ok_or_else(|| {
            OutputError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the gecko format needs the sample timeline, which this profile did not keep",
            ))
        })?;
        let mut threads: BTreeMap<(u32, u32), Vec<Sample>> = BTreeMap::new();
        for s in timeline {
            threads.entry((s.key.pid, s.key.tid)).or_default().push((
                s.time_ns,
                s.key.stack,
                s.weight_ns,
            ));
        }
        if threads.is_empty() {
            return Err(OutputError::Empty);
        }
        let unit = value_unit(profile);
        let last_ns = timeline.iter().map(|s| s.time_ns).max().unwrap_or(0);
        let interval_ms = 1000.0 / profile.meta.rate_hz.max(1) as f64;
        let title = self.options.title.as_deref().unwrap_or(DEFAULT_TITLE);

        let cats = Categories::new(profile);
        let categories = cats.json();
        out.write_all(b"{\"meta\":{\n")?;
        json::write_member_lines(
            out,
            &[
                json!({
                    "version": 24,
                    "preprocessedProfileVersion": PROCESSED_PROFILE_VERSION,
                    "interval": json::number(interval_ms),
                    "startTime": json::ms(profile.meta.start_unix_ns),
                    "profilingStartTime": 0,
                    "profilingEndTime": json::ms(profile.meta.duration_ns.max(last_ns)),
                }),
                json!({
                    "product": title,
                    "processType": 0,
                    "stackwalk": 0,
                    "debug": false,
                    "symbolicated": true,
                    "usesOnlyOneStackType": true,
                    "sourceCodeIsNotOnSearchfox": true,
                    "markerSchema": [],
                }),
                json!({
                    "sampleUnits": {"time": "ms", "eventDelay": "ms", "threadCPUDelta": "µs"},
                    "extensions": {"length": 0, "baseURL": [], "id": [], "name": []},
                }),
                json!({"categories": categories}),
            ],
        )?;
        out.write_all(b"},\n")?;
        json::write_members(
            out,
            &json!({"libs": [], "pages": [], "counters": [], "profilerOverhead": []}),
        )?;
        out.write_all(b",\n")?;
        out.write_all(b"\"threads\":[")?;

        for (i, ((pid, tid), samples)) in threads.iter_mut().enumerate() {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            samples.sort_by_key(|&(t, _, _)| t);
            let mut t = ThreadTables::default();
            let stacks: Vec<Option<u32>> = samples
                .iter()
                .map(|&(_, stack, _)| t.stack(profile, &cats, stack))
                .collect();
            self.write_thread(profile, out, (*pid, *tid), samples, &stacks, &t, unit)?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()?;
        Ok(())
    }
}

impl GeckoWriter {
    #[allow(clippy::too_many_arguments)]
    fn write_thread(
        &self,
        profile: &Profile,
        out: &mut dyn Write,
        (pid, tid): (u32, u32),
        samples: &[Sample],
        stacks: &[Option<u32>],
        t: &ThreadTables,
        unit: ValueUnit,
    ) -> io::Result<()> {
        let process = profile.processes.get(&pid);
        let mut process_name = process
            .map(|p| p.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "process".to_string());
        if let Some(place) = process.map(|p| &p.place).filter(|p| p.in_container()) {
            process_name = format!("{process_name} [{}]", place.container_label());
        }
        let thread_name = process
            .and_then(|p| p.threads.get(&tid))
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("thread {tid}"));

        out.write_all(b"{")?;
        json::write_members(
            out,
            &json!({
                "name": thread_name,
                "isMainThread": pid == tid,
                "processName": process_name,
                "processType": "default",
                "pid": pid.to_string(),
                "tid": tid,
                "processStartupTime": 0,
                "processShutdownTime": null,
                "registerTime": 0,
                "unregisterTime": null,
                "pausedRanges": [],
            }),
        )?;

        // The per-sample columns are written from typed vectors: a thread
        // can have many samples.
        out.write_all(b",\n\"samples\":{")?;
        let (weight_type, weight) = match unit {
            ValueUnit::Samples => ("samples", None),
            ValueUnit::Microseconds => (
                "tracing-ms",
                Some(
                    samples
                        .iter()
                        .map(|&(_, _, w)| json::ms(w))
                        .collect::<Vec<f64>>(),
                ),
            ),
        };
        json::write_members(
            out,
            &json!({"length": samples.len(), "weightType": weight_type}),
        )?;
        out.write_all(b",\"weight\":")?;
        json::write(out, &weight)?;
        out.write_all(b",\n\"stack\":")?;
        json::write(out, stacks)?;
        out.write_all(b",\n\"time\":")?;
        let times: Vec<f64> = samples.iter().map(|&(time, _, _)| json::ms(time)).collect();
        json::write(out, &times)?;
        out.write_all(b"},\n")?;

        let nf = t.frames.len();
        let nu = t.funcs.len();
        let nulls = |n: usize| vec![Value::Null; n];
        json::write_member_lines(
            out,
            &[
                json!({"stackTable": {
                    "length": t.stacks.len(),
                    "prefix": t.stacks.iter().map(|&(p, _)| p).collect::<Vec<_>>(),
                    "frame": t.stacks.iter().map(|&(_, f)| f).collect::<Vec<_>>(),
                }}),
                json!({"frameTable": {
                    "length": nf,
                    "address": vec![-1; nf],
                    "inlineDepth": vec![0; nf],
                    "category": t.frames.iter().map(|r| r.category).collect::<Vec<_>>(),
                    "subcategory": t.frames.iter().map(|r| r.subcategory).collect::<Vec<_>>(),
                    "func": t.frames.iter().map(|r| r.func).collect::<Vec<_>>(),
                    "nativeSymbol": nulls(nf),
                    "innerWindowID": nulls(nf),
                    "line": t.frames.iter().map(|r| r.line).collect::<Vec<_>>(),
                    "column": t.frames.iter().map(|r| r.column).collect::<Vec<_>>(),
                }}),
                json!({"funcTable": {
                    "length": nu,
                    "name": t.funcs.iter().map(|&(name, _, _)| name).collect::<Vec<_>>(),
                    "isJS": vec![false; nu],
                    "relevantForJS": vec![false; nu],
                    "resource": vec![-1; nu],
                    "fileName": t.funcs.iter().map(|&(_, file, _)| file).collect::<Vec<_>>(),
                    "lineNumber": t.funcs.iter().map(|&(_, _, line)| line).collect::<Vec<_>>(),
                    "columnNumber": nulls(nu),
                }}),
                json!({"resourceTable": {
                    "length": 0, "lib": [], "name": [], "host": [], "type": [],
                }}),
                json!({"nativeSymbols": {
                    "length": 0, "libIndex": [], "address": [], "name": [], "functionSize": [],
                }}),
                json!({"markers": {
                    "length": 0, "category": [], "data": [], "endTime": [], "name": [],
                    "phase": [], "startTime": [],
                }}),
                json!({"stringArray": t.strings}),
            ],
        )?;
        out.write_all(b"}")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, opcodes_profile, small_profile};
    use crate::output::{writer_for, OutputFormat};
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn render(profile: &Profile) -> Result<String, OutputError> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Gecko, &WriteOptions::default()).write(profile, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn parse(profile: &Profile) -> Value {
        serde_json::from_str(&render(profile).unwrap()).unwrap()
    }

    #[test]
    fn golden_fixture() {
        assert_golden(
            "fixture.gecko.json",
            render(&fixture_profile()).unwrap().as_bytes(),
        );
    }

    #[test]
    fn opcodes_are_python_subcategories_and_columns_1_based() {
        let p = opcodes_profile();
        let text = render(&p).unwrap();
        assert_golden("fixture.opcodes.gecko.json", text.as_bytes());
        let v: Value = serde_json::from_str(&text).unwrap();
        check_structure(&v);
        let cats = v["meta"]["categories"].as_array().unwrap();
        let python = &cats[1];
        assert_eq!(python["name"], "Python");
        let subs: Vec<&str> = python["subcategories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            subs,
            [
                "Other",
                "BINARY_ADD",
                "BINARY_OP_ADD_INT",
                "CALL",
                "CALL_FUNCTION",
                "CALL_PY_EXACT_ARGS",
                "STORE_FAST"
            ]
        );
        // Other categories keep their one subcategory.
        assert_eq!(cats[0]["subcategories"].as_array().unwrap().len(), 1);
        // Each frame: its opcode's subcategory, its column + 1.
        let th = &v["threads"][0];
        let ft = &th["frameTable"];
        let funcs = &th["funcTable"];
        let strings = th["stringArray"].as_array().unwrap();
        let mut seen = Vec::new();
        for i in 0..ft["length"].as_u64().unwrap() as usize {
            let func = ft["func"][i].as_u64().unwrap() as usize;
            let name = strings[funcs["name"][func].as_u64().unwrap() as usize]
                .as_str()
                .unwrap();
            let sub = ft["subcategory"][i].as_u64().unwrap() as usize;
            seen.push((
                name,
                ft["line"][i].as_u64(),
                ft["column"][i].as_u64(),
                subs[sub],
            ));
        }
        assert!(seen.contains(&("hot", Some(5), Some(17), "BINARY_OP_ADD_INT")));
        assert!(seen.contains(&("hot", Some(5), Some(9), "STORE_FAST")));
        assert!(seen.contains(&("hot", Some(4), Some(14), "Other")));
        // Without --opcodes nothing changes: one subcategory, no columns.
        let plain = parse(&fixture_profile());
        assert!(plain["threads"][0]["frameTable"]["column"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_null));
    }

    fn len_of(table: &Value, what: &str) -> usize {
        table["length"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}.length missing")) as usize
    }

    /// Every listed column of `table` is an array of `table.length` items.
    fn columns(table: &Value, what: &str, names: &[&str]) -> usize {
        let n = len_of(table, what);
        for name in names {
            let col = table[*name]
                .as_array()
                .unwrap_or_else(|| panic!("{what}.{name} is not an array"));
            assert_eq!(col.len(), n, "{what}.{name} has the wrong length");
        }
        n
    }

    /// `v` is null (when allowed) or an index below `n`.
    fn index(v: &Value, n: usize, nullable: bool, what: &str) {
        if v.is_null() {
            assert!(nullable, "{what} is null");
            return;
        }
        let i = v
            .as_u64()
            .unwrap_or_else(|| panic!("{what} = {v} is not an index"));
        assert!((i as usize) < n, "{what} = {i} out of range (< {n})");
    }

    /// The structural rules of the processed format, as the profiler relies
    /// on them: meta with versions and a grey default category, and for each
    /// thread consistent table lengths, every index in range, stack prefixes
    /// before their children, samples sorted by time.
    fn check_structure(v: &Value) {
        let meta = &v["meta"];
        assert!(meta["version"].is_u64(), "meta.version");
        assert_eq!(
            meta["preprocessedProfileVersion"].as_u64(),
            Some(PROCESSED_PROFILE_VERSION as u64)
        );
        assert!(meta["interval"].as_f64().unwrap() > 0.0);
        assert!(meta["startTime"].is_number());
        assert!(meta["markerSchema"].is_array());
        let categories = meta["categories"].as_array().unwrap();
        assert!(categories.iter().any(|c| c["color"] == "grey"));
        for c in categories {
            assert!(!c["subcategories"].as_array().unwrap().is_empty());
        }
        let threads = v["threads"].as_array().unwrap();
        assert!(!threads.is_empty());
        for (ti, th) in threads.iter().enumerate() {
            let w = format!("threads[{ti}]");
            assert!(th["name"].is_string() && th["pid"].is_string() && th["tid"].is_u64());
            let strings = th["stringArray"].as_array().unwrap();
            assert!(strings.iter().all(Value::is_string), "{w}.stringArray");
            let ns = strings.len();

            let funcs = &th["funcTable"];
            let nfunc = columns(
                funcs,
                "funcTable",
                &[
                    "name",
                    "isJS",
                    "relevantForJS",
                    "resource",
                    "fileName",
                    "lineNumber",
                    "columnNumber",
                ],
            );
            for i in 0..nfunc {
                index(&funcs["name"][i], ns, false, &format!("{w} func name"));
                index(
                    &funcs["fileName"][i],
                    ns,
                    true,
                    &format!("{w} func fileName"),
                );
                assert_eq!(funcs["resource"][i], -1);
            }

            let frames = &th["frameTable"];
            let nframe = columns(
                frames,
                "frameTable",
                &[
                    "address",
                    "inlineDepth",
                    "category",
                    "subcategory",
                    "func",
                    "nativeSymbol",
                    "innerWindowID",
                    "line",
                    "column",
                ],
            );
            for i in 0..nframe {
                index(&frames["func"][i], nfunc, false, &format!("{w} frame func"));
                index(
                    &frames["category"][i],
                    categories.len(),
                    false,
                    &format!("{w} frame category"),
                );
            }

            let stacks = &th["stackTable"];
            let nstack = columns(stacks, "stackTable", &["prefix", "frame"]);
            for i in 0..nstack {
                index(
                    &stacks["frame"][i],
                    nframe,
                    false,
                    &format!("{w} stack frame"),
                );
                // Parents come before children.
                index(&stacks["prefix"][i], i, true, &format!("{w} stack prefix"));
            }

            let samples = &th["samples"];
            let nsample = columns(samples, "samples", &["stack", "time"]);
            assert!(nsample > 0);
            assert!(samples["weight"].is_null() || columns(samples, "samples", &["weight"]) > 0);
            let mut last = f64::MIN;
            for i in 0..nsample {
                index(
                    &samples["stack"][i],
                    nstack,
                    true,
                    &format!("{w} sample stack"),
                );
                let t = samples["time"][i].as_f64().unwrap();
                assert!(t >= last, "{w} samples not sorted by time");
                last = t;
            }
            for table in ["resourceTable", "nativeSymbols", "markers"] {
                len_of(&th[table], table);
            }
        }
    }

    /// Folds the samples back into `thread;func;func…` lines, per thread.
    fn refold(v: &Value) -> BTreeMap<String, u64> {
        let mut folded = BTreeMap::new();
        for th in v["threads"].as_array().unwrap() {
            let s = &th["stringArray"];
            let label = |stack: &Value| {
                let mut names = Vec::new();
                let mut cur = stack.clone();
                while let Some(i) = cur.as_u64() {
                    let frame = th["stackTable"]["frame"][i as usize].as_u64().unwrap() as usize;
                    let func = th["frameTable"]["func"][frame].as_u64().unwrap() as usize;
                    let name = s[th["funcTable"]["name"][func].as_u64().unwrap() as usize]
                        .as_str()
                        .unwrap();
                    let line = &th["frameTable"]["line"][frame];
                    names.push(format!("{name}:{line}"));
                    cur = th["stackTable"]["prefix"][i as usize].clone();
                }
                names.reverse();
                format!("{} {};{}", th["pid"], th["tid"], names.join(";"))
            };
            for st in th["samples"]["stack"].as_array().unwrap() {
                *folded.entry(label(st)).or_default() += 1;
            }
        }
        folded
    }

    #[test]
    fn fixture_is_structurally_valid_and_complete() {
        let p = fixture_profile();
        let v = parse(&p);
        check_structure(&v);

        // Same samples, per thread and stack, as the profile's counts.
        let mut want = BTreeMap::new();
        for (key, c) in &p.counts {
            let names: Vec<String> = p.stacks[key.stack as usize]
                .iter()
                .map(|&f| {
                    let f = &p.frames[f as usize];
                    let line = if f.line > 0 {
                        f.line.to_string()
                    } else {
                        "null".into()
                    };
                    format!("{}:{line}", f.name)
                })
                .collect();
            let label = format!("\"{}\" {};{}", key.pid, key.tid, names.join(";"));
            *want.entry(label).or_default() += c.samples;
        }
        assert_eq!(refold(&v), want);

        let threads = v["threads"].as_array().unwrap();
        assert_eq!(threads.len(), 5);
        assert_eq!(threads[1]["name"], "worker-1");
        assert_eq!(threads[1]["processName"], "python3.12");
        assert_eq!(threads[2]["name"], "thread 102");
        assert_eq!(threads[4]["name"], "工作者");
        assert_eq!(threads[0]["isMainThread"], true);
        assert_eq!(threads[1]["isMainThread"], false);
        assert_eq!(v["meta"]["interval"], 10);
        assert_eq!(v["meta"]["startTime"].as_f64(), Some(1_700_000_000_000.0));
        // pid 200's empty stack is a null sample stack.
        assert!(threads[3]["samples"]["stack"]
            .as_array()
            .unwrap()
            .iter()
            .any(Value::is_null));
    }

    #[test]
    fn structure_check_catches_breakage() {
        let v = parse(&fixture_profile());
        let breakages: [fn(&mut Value); 5] = [
            |v| {
                v["meta"]
                    .as_object_mut()
                    .unwrap()
                    .remove("version")
                    .map(drop)
                    .unwrap()
            },
            |v| v["threads"][0]["stackTable"]["frame"][0] = 999.into(),
            |v| {
                v["threads"][0]["frameTable"]["func"]
                    .as_array_mut()
                    .unwrap()
                    .pop()
                    .map(drop)
                    .unwrap()
            },
            |v| v["threads"][3]["funcTable"]["name"][0] = 10_000.into(),
            |v| {
                let t = v["threads"][0]["samples"]["time"].as_array_mut().unwrap();
                t.swap(0, 3);
            },
        ];
        for (i, breakage) in breakages.iter().enumerate() {
            let mut broken = v.clone();
            breakage(&mut broken);
            let caught = std::panic::catch_unwind(|| check_structure(&broken)).is_err();
            assert!(caught, "breakage {i} not caught");
        }
    }

    #[test]
    fn samples_are_sorted_and_wall_weights_kept() {
        let mut p = small_profile("wall");
        p.timeline.as_mut().unwrap().reverse();
        let v = parse(&p);
        check_structure(&v);
        let s = &v["threads"][0]["samples"];
        assert_eq!(s["weightType"], "tracing-ms");
        assert_eq!(s["weight"], serde_json::json!([1.5, 1.5]));
        assert_eq!(s["time"], serde_json::json!([0, 10]));
        assert_eq!(
            parse(&small_profile("cpu"))["threads"][0]["samples"]["weight"],
            Value::Null
        );
    }

    #[test]
    fn needs_a_timeline() {
        let mut p = fixture_profile();
        p.timeline = None;
        let err = render(&p).unwrap_err();
        assert!(
            err.to_string().contains("needs the sample timeline"),
            "{err}"
        );
        assert!(matches!(
            render(&Profile::default()),
            Err(OutputError::Empty)
        ));
        let mut empty = Profile::default();
        empty.keep_timeline();
        assert!(matches!(render(&empty), Err(OutputError::Empty)));
    }
}
