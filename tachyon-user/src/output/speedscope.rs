//! [speedscope](https://www.speedscope.app)'s JSON file format
//! (`https://www.speedscope.app/file-format-schema.json`).
//!
//! All frames go to `shared.frames` (index = [`FrameId`]), named with the
//! same label as collapsed stacks (`function (file:line)`) and carrying
//! `file` and `line`. There is one `sampled` profile per thread that has
//! samples, named `python3.12 (pid 100) thread worker-1 (tid 101)`, ordered by
//! pid then tid. `samples` are frame-index stacks, root first; `weights` are
//! sample counts (unit `none`), or for `wall` profiles nanoseconds of weight
//! (unit `nanoseconds`; see [`super::value_unit`]).
//!
//! With a timeline ([`Profile::timeline`]), samples are in time order (so
//! speedscope's "Time Order" view is meaningful), runs of identical
//! consecutive stacks merged into one weighted sample; without one, each
//! distinct stack is one sample weighing its total.
//!
//! Its extension is `.speedscope.json` (plain `.json` selects no format,
//! see [`super::OutputFormat::from_path`]).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;

use super::json;
use super::stacks::{value_unit, ValueUnit};
use super::{OutputError, ProfileWriter, WriteOptions, DEFAULT_TITLE};
use crate::profile::{FrameId, Profile, StackId};

/// The `$schema` value speedscope requires.
pub const SPEEDSCOPE_SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes a speedscope JSON file.
#[derive(Clone, Debug, Default)]
pub struct SpeedscopeWriter {
    options: WriteOptions,
}

impl SpeedscopeWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { options }
    }
}

/// One thread's samples: `(stack, weight)` in order.
type ThreadSamples = Vec<(StackId, u64)>;

/// Samples per (pid, tid), in time order when the profile has a timeline.
fn thread_samples(profile: &Profile, unit: ValueUnit) -> BTreeMap<(u32, u32), ThreadSamples> {
    let mut threads: BTreeMap<(u32, u32), ThreadSamples> = BTreeMap::new();
    match profile.timeline.as_deref() {
        Some(timeline) if !timeline.is_empty() => {
            for s in timeline {
                let weight = match unit {
                    ValueUnit::Samples => 1,
                    ValueUnit::Microseconds => s.weight_ns,
                };
                let samples = threads.entry((s.key.pid, s.key.tid)).or_default();
                match samples.last_mut() {
                    Some((stack, w)) if *stack == s.key.stack => *w += weight,
                    _ => samples.push((s.key.stack, weight)),
                }
            }
        }
        _ => {
            for key in profile.sorted_keys() {
                let c = profile.counts[&key];
                let weight = match unit {
                    ValueUnit::Samples => c.samples,
                    ValueUnit::Microseconds => c.weight_ns,
                };
                threads
                    .entry((key.pid, key.tid))
                    .or_default()
                    .push((key.stack, weight));
            }
        }
    }
    threads.retain(|_, samples| {
        samples.retain(|&(_, w)| w > 0);
        !samples.is_empty()
    });
    threads
}

impl ProfileWriter for SpeedscopeWriter {
    /// Fails with [`OutputError::Empty`] when there is no sample (speedscope
    /// refuses a file without profiles).
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let unit = value_unit(profile);
        let threads = thread_samples(profile, unit);
        if threads.is_empty() {
            return Err(OutputError::Empty);
        }
        let title = self.options.title.as_deref().unwrap_or(DEFAULT_TITLE);

        out.write_all(b"{")?;
        json::write_member_lines(
            out,
            &[
                json!({"$schema": SPEEDSCOPE_SCHEMA}),
                json!({"exporter": "tachyon-bpf"}),
                json!({"name": title}),
                json!({"activeProfileIndex": 0}),
            ],
        )?;

        out.write_all(b",\n\"shared\":{\"frames\":[")?;
        for (i, frame) in profile.frames.iter().enumerate() {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            let mut f = json!({"name": frame.label()});
            if !frame.file.is_empty() {
                f["file"] = json!(frame.file);
            }
            if frame.line > 0 {
                f["line"] = json!(frame.line);
            }
            json::write(out, &f)?;
        }
        out.write_all(b"\n]},\n\"profiles\":[")?;

        let unit_name = match unit {
            ValueUnit::Samples => "none",
            ValueUnit::Microseconds => "nanoseconds",
        };
        for (i, ((pid, tid), samples)) in threads.iter().enumerate() {
            out.write_all(if i == 0 { b"\n{" } else { b",\n{" })?;
            let name = format!(
                "{} {}",
                profile.owner_label(*pid),
                profile.thread_label(*pid, *tid)
            );
            let total: u64 = samples.iter().map(|&(_, w)| w).sum();
            json::write_members(
                out,
                &json!({
                    "type": "sampled",
                    "name": name,
                    "unit": unit_name,
                    "startValue": 0,
                    "endValue": total,
                }),
            )?;
            // The stacks are written one by one: a profile can hold many.
            out.write_all(b",\n\"samples\":[")?;
            for (j, &(stack, _)) in samples.iter().enumerate() {
                if j > 0 {
                    out.write_all(b",")?;
                }
                let frames: &[FrameId] = profile
                    .stacks
                    .get(stack as usize)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                json::write(out, frames)?;
            }
            out.write_all(b"],\n\"weights\":")?;
            let weights: Vec<u64> = samples.iter().map(|&(_, w)| w).collect();
            json::write(out, &weights)?;
            out.write_all(b"}")?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, small_profile, TestDir};
    use crate::output::{writer_for, OutputFormat};
    use serde_json::Value;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn render(profile: &Profile) -> Result<String, OutputError> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Speedscope, &WriteOptions::default()).write(profile, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn parse(profile: &Profile) -> Value {
        serde_json::from_str(&render(profile).unwrap()).unwrap()
    }

    #[test]
    fn golden_fixture() {
        assert_golden(
            "fixture.speedscope.json",
            render(&fixture_profile()).unwrap().as_bytes(),
        );
    }

    #[test]
    fn one_profile_per_thread_with_totals() {
        let p = fixture_profile();
        let v = parse(&p);
        assert_eq!(v["$schema"], SPEEDSCOPE_SCHEMA);
        let frames = v["shared"]["frames"].as_array().unwrap();
        assert_eq!(frames.len(), p.frames.len());
        let profiles = v["profiles"].as_array().unwrap();
        let names: Vec<&str> = profiles
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "python3.12 (pid 100) thread python3.12 (tid 100)",
                "python3.12 (pid 100) thread worker-1 (tid 101)",
                "python3.12 (pid 100) thread (tid 102)",
                "python3.8 (pid 200) thread python3.8 (tid 200)",
                "python3.8 (pid 200) thread 工作者 (tid 201)",
            ]
        );
        let mut total = 0;
        for prof in profiles {
            assert_eq!(prof["type"], "sampled");
            assert_eq!(prof["unit"], "none");
            let samples = prof["samples"].as_array().unwrap();
            let weights = prof["weights"].as_array().unwrap();
            assert_eq!(samples.len(), weights.len());
            let sum: u64 = weights.iter().map(|w| w.as_u64().unwrap()).sum();
            assert_eq!(prof["endValue"].as_u64(), Some(sum));
            for s in samples {
                for f in s.as_array().unwrap() {
                    assert!((f.as_u64().unwrap() as usize) < frames.len());
                }
            }
            total += sum;
        }
        assert_eq!(total, p.total_samples());
        // The 62-frame recursive stack is there, root first.
        let deep = &profiles[3]["samples"][0];
        assert_eq!(deep.as_array().unwrap().len(), 62);
        let root = deep[0].as_u64().unwrap() as usize;
        assert_eq!(frames[root]["name"], "<module> (fib.py:9)");
        assert_eq!(frames[root]["file"], "fib.py");
        assert_eq!(frames[root]["line"], 9);
    }

    #[test]
    fn without_timeline_stacks_are_aggregated() {
        let mut p = fixture_profile();
        p.timeline = None;
        let v = parse(&p);
        let total: u64 = v["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["weights"].as_array().unwrap().clone())
            .map(|w| w.as_u64().unwrap())
            .sum();
        assert_eq!(total, p.total_samples());
        // pid 100 tid 100 has two distinct stacks.
        assert_eq!(v["profiles"][0]["weights"], serde_json::json!([5, 7]));
    }

    #[test]
    fn wall_profiles_weigh_nanoseconds() {
        let v = parse(&small_profile("wall"));
        let profiles = v["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0]["unit"], "nanoseconds");
        // Two identical consecutive samples of 1.5 ms merge.
        assert_eq!(profiles[0]["weights"], serde_json::json!([3_000_000]));
        assert_eq!(profiles[0]["endValue"], 3_000_000);
        assert_eq!(
            profiles[1]["name"],
            "python3.12 (pid 4242) thread worker (tid 4243)"
        );
        assert_eq!(parse(&small_profile("cpu"))["profiles"][0]["unit"], "none");
    }

    #[test]
    fn empty_profile_is_an_error() {
        assert!(matches!(
            render(&Profile::default()).unwrap_err(),
            OutputError::Empty
        ));
    }

    /// `tests/consumers` at the repository root.
    fn consumers_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("tests")
            .join("consumers")
    }

    /// Validates the fixture's file against the JSON schema shipped in the
    /// speedscope npm package (`tests/consumers/validate_speedscope.mjs`).
    /// Needs node and `scripts/install-consumers.sh`; without them the test
    /// is skipped, except under `CI=true`, where it fails.
    #[test]
    fn accepted_by_speedscope_schema() {
        let dir = consumers_dir();
        let script = dir.join("validate_speedscope.mjs");
        let installed = dir
            .join("node_modules")
            .join("speedscope")
            .join("package.json")
            .exists();
        let node = Command::new("node").arg("--version").output().is_ok();
        if !installed || !node {
            let why = if node {
                "tests/consumers/node_modules is missing (run scripts/install-consumers.sh)"
            } else {
                "node is not installed"
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cannot validate the speedscope output: {why}");
            }
            eprintln!("skipping the speedscope schema check: {why}");
            return;
        }

        let tmp = TestDir::new("speedscope-consumer");
        let good = tmp.path().join("fixture.speedscope.json");
        std::fs::write(&good, render(&fixture_profile()).unwrap()).unwrap();
        let run = |file: &Path| {
            Command::new("node")
                .arg(&script)
                .arg(file)
                .output()
                .expect("running node")
        };
        let ok = run(&good);
        assert!(
            ok.status.success(),
            "speedscope schema rejects our file:\n{}{}",
            String::from_utf8_lossy(&ok.stdout),
            String::from_utf8_lossy(&ok.stderr)
        );

        // The validator is not a rubber stamp: a file missing `weights` fails.
        let mut v: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
        v["profiles"][0].as_object_mut().unwrap().remove("weights");
        let bad = tmp.path().join("bad.speedscope.json");
        std::fs::write(&bad, v.to_string()).unwrap();
        assert!(!run(&bad).status.success(), "a broken file was accepted");
    }
}
