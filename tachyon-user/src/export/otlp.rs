//! A window as an OTLP profiles export: the OpenTelemetry
//! `profiles/v1development` schema, from the `opentelemetry-proto` crate's
//! generated types (the same `.proto` files as the `opentelemetry-proto`
//! package on PyPI the tests decode with).
//!
//! Mapping from the [`Profile`]:
//! * one `ResourceProfiles` per process, with the resource attributes
//!   `process.pid`, `process.executable.name`, `process.command_line`,
//!   `process.runtime.name` (`cpython`) and `process.runtime.version`, and
//!   where known `container.id`, `container.name`, `container.image.name`,
//!   `k8s.pod.uid` and `cgroup`, plus the agent's `--label`s;
//! * in it, one scope (`tachyon-bpf`) with two profiles over the same
//!   stacks: `samples`/`count` and `cpu` (or `wall`)/`nanoseconds`, with the
//!   window's start, length and sampling period;
//! * one sample per (thread, stack) with the attributes `thread.id` and
//!   `thread.name`;
//! * one shared dictionary: a location per frame (with
//!   `profile.frame.type` = `cpython`, `native` or `kernel`), a function
//!   per (name, file, first line), a stack per stack. Index 0 of every
//!   table is its zero value, as the schema requires.

use std::collections::HashMap;
use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::profiles::v1development::{
    ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::profiles::v1development as otlp;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::Url;

use super::http::{Content, DeliveryError, HttpPost};
use super::SinkConfigError;
use crate::profile::{FrameKind, ProcessInfo, Profile};

/// The instrumentation scope of every profile.
const SCOPE: &str = "tachyon-bpf";

/// The OTLP/HTTP path of profiles.
pub const PROFILES_PATH: &str = "/v1development/profiles";

/// Windows to an OTLP/HTTP receiver (an OpenTelemetry Collector).
#[derive(Clone, Debug)]
pub struct OtlpSink {
    url: Url,
    labels: Vec<(String, String)>,
}

impl OtlpSink {
    /// `url` is the receiver (`http://collector:4318`, the profiles path is
    /// added) or the full endpoint (any other path is kept).
    pub fn new(url: &str, labels: &[(String, String)]) -> Result<Self, SinkConfigError> {
        let mut url = super::http::parse_url("--otlp", url)?;
        if url.path().is_empty() || url.path() == "/" {
            url.set_path(PROFILES_PATH);
        }
        Ok(Self {
            url,
            labels: labels.to_vec(),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.url
    }

    /// The upload of one window: the protobuf request, gzipped.
    pub fn request(&self, window: &Profile) -> HttpPost {
        let raw = to_request(window, &self.labels).encode_to_vec();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail; fall back to the raw body if it does.
        let (encoding, bytes) = match gz.write_all(&raw).and_then(|()| gz.finish()) {
            Ok(z) => (Some("gzip"), z),
            Err(_) => (None, raw),
        };
        HttpPost {
            url: self.url.clone(),
            what: format!("{} processes", window.processes.len()),
            content: Content::Body {
                content_type: "application/x-protobuf",
                encoding,
                bytes: Bytes::from(bytes),
            },
        }
    }

    /// Reads the receiver's answer: profiles it rejected are an error that
    /// retrying does not mend.
    pub fn check_response(body: &[u8]) -> Result<(), DeliveryError> {
        let Ok(response) = ExportProfilesServiceResponse::decode(body) else {
            // An empty or non-protobuf 2xx body is a success.
            return Ok(());
        };
        match response.partial_success {
            Some(p) if p.rejected_profiles > 0 || !p.error_message.is_empty() => {
                Err(DeliveryError::Rejected(format!(
                    "the receiver rejected {} profiles: {}",
                    p.rejected_profiles, p.error_message
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Index-0-is-zero tables with deduplication.
struct Table<T> {
    items: Vec<T>,
}

impl<T: Default> Table<T> {
    fn new() -> Self {
        Self {
            items: vec![T::default()],
        }
    }

    fn push(&mut self, item: T) -> i32 {
        self.items.push(item);
        (self.items.len() - 1) as i32
    }
}

/// The dictionary under construction.
struct Dictionary {
    strings: Vec<String>,
    string_index: HashMap<String, i32>,
    attributes: Table<otlp::KeyValueAndUnit>,
    attribute_index: HashMap<(i32, AttrValue), i32>,
    functions: Table<otlp::Function>,
    locations: Table<otlp::Location>,
    stacks: Table<otlp::Stack>,
}

/// An attribute value, hashable.
#[derive(Clone, PartialEq, Eq, Hash)]
enum AttrValue {
    Str(String),
    Int(i64),
}

impl AttrValue {
    fn any(&self) -> AnyValue {
        AnyValue {
            value: Some(match self {
                AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
                AttrValue::Int(i) => any_value::Value::IntValue(*i),
            }),
        }
    }
}

impl Dictionary {
    fn new() -> Self {
        let mut d = Self {
            strings: Vec::new(),
            string_index: HashMap::new(),
            attributes: Table::new(),
            attribute_index: HashMap::new(),
            functions: Table::new(),
            locations: Table::new(),
            stacks: Table::new(),
        };
        d.string("");
        d
    }

    fn string(&mut self, s: &str) -> i32 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.strings.len() as i32;
        self.strings.push(s.to_string());
        self.string_index.insert(s.to_string(), i);
        i
    }

    fn attribute(&mut self, key: &str, value: AttrValue) -> i32 {
        let key = self.string(key);
        if let Some(&i) = self.attribute_index.get(&(key, value.clone())) {
            return i;
        }
        let i = self.attributes.push(otlp::KeyValueAndUnit {
            key_strindex: key,
            value: Some(value.any()),
            unit_strindex: 0,
        });
        self.attribute_index.insert((key, value), i);
        i
    }

    fn finish(self) -> otlp::ProfilesDictionary {
        otlp::ProfilesDictionary {
            mapping_table: vec![otlp::Mapping::default()],
            location_table: self.locations.items,
            function_table: self.functions.items,
            link_table: vec![otlp::Link::default()],
            string_table: self.strings,
            attribute_table: self.attributes.items,
            stack_table: self.stacks.items,
        }
    }
}

fn attr(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value.any()),
        key_strindex: 0,
    }
}

/// The resource attributes of a process.
fn resource_of(process: &ProcessInfo, labels: &[(String, String)]) -> Resource {
    let mut attributes = vec![
        attr("process.pid", AttrValue::Int(i64::from(process.pid))),
        attr(
            "process.runtime.name",
            AttrValue::Str("cpython".to_string()),
        ),
    ];
    let place = &process.place;
    for (key, value) in [
        ("process.executable.name", &process.name),
        ("process.command_line", &process.cmdline),
        ("process.runtime.version", &process.version),
        ("container.id", &place.container_id),
        ("container.name", &place.container_name),
        ("container.image.name", &place.image),
        ("k8s.pod.uid", &place.pod_uid),
        ("cgroup", &place.cgroup),
    ] {
        if !value.is_empty() {
            attributes.push(attr(key, AttrValue::Str(value.clone())));
        }
    }
    if place.ns_pid != 0 && place.ns_pid != process.pid {
        attributes.push(attr(
            "process.ns_pid",
            AttrValue::Int(i64::from(place.ns_pid)),
        ));
    }
    for (k, v) in labels {
        attributes.push(attr(k, AttrValue::Str(v.clone())));
    }
    Resource {
        attributes,
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

/// A 16-byte id that is not all zeroes, unique per (window, process).
fn profile_id(start_unix_ns: u64, pid_key: u32, which: u8) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&start_unix_ns.to_be_bytes());
    id.extend_from_slice(&pid_key.to_be_bytes());
    id.extend_from_slice(&[0x7a, 0xc4, 0x00, which.max(1)]);
    id
}

/// The export request for one window; `labels` become resource attributes
/// of every process.
pub fn to_request(window: &Profile, labels: &[(String, String)]) -> ExportProfilesServiceRequest {
    let mut dict = Dictionary::new();
    let kind = if window.meta.mode == "wall" {
        "wall"
    } else {
        "cpu"
    };

    // Locations 1..=frames.len(), one per interned frame, in frame order.
    let mut function_ids: HashMap<(&str, &str, u32), i32> = HashMap::new();
    let frame_type = [
        dict.attribute("profile.frame.type", AttrValue::Str("cpython".into())),
        dict.attribute("profile.frame.type", AttrValue::Str("native".into())),
        dict.attribute("profile.frame.type", AttrValue::Str("kernel".into())),
    ];
    for frame in &window.frames {
        let key = (frame.name.as_str(), frame.file.as_str(), frame.first_line);
        let function_index = match function_ids.get(&key) {
            Some(&i) => i,
            None => {
                let f = otlp::Function {
                    name_strindex: dict.string(&frame.name),
                    system_name_strindex: 0,
                    filename_strindex: dict.string(&frame.file),
                    start_line: i64::from(frame.first_line),
                };
                let i = dict.functions.push(f);
                function_ids.insert(key, i);
                i
            }
        };
        let ty = match frame.kind {
            FrameKind::Python | FrameKind::Marker => frame_type[0],
            FrameKind::Native => frame_type[1],
            FrameKind::Kernel => frame_type[2],
        };
        dict.locations.push(otlp::Location {
            mapping_index: 0,
            address: 0,
            lines: vec![otlp::Line {
                function_index,
                line: i64::from(frame.line),
                column: 0,
            }],
            attribute_indices: vec![ty],
        });
    }

    // Samples grouped by process, in a stable order.
    let mut by_process: std::collections::BTreeMap<u32, Vec<_>> = Default::default();
    for key in window.sorted_keys() {
        by_process.entry(key.pid).or_default().push(key);
    }
    let mut stack_ids: HashMap<u32, i32> = HashMap::new();
    let samples_type = otlp::ValueType {
        type_strindex: dict.string("samples"),
        unit_strindex: dict.string("count"),
    };
    let time_type = otlp::ValueType {
        type_strindex: dict.string(kind),
        unit_strindex: dict.string("nanoseconds"),
    };
    let period = 1_000_000_000u64
        .checked_div(window.meta.rate_hz)
        .unwrap_or(0);
    let thread_id_key = "thread.id";
    let thread_name_key = "thread.name";
    let mut resource_profiles = Vec::with_capacity(by_process.len());
    for (pid_key, keys) in by_process {
        let Some(process) = window.processes.get(&pid_key) else {
            continue;
        };
        let mut counts = Vec::with_capacity(keys.len());
        let mut times = Vec::with_capacity(keys.len());
        for key in keys {
            let c = window.counts[&key];
            let stack_index = match stack_ids.get(&key.stack) {
                Some(&i) => i,
                None => {
                    // Leaf first; location i + 1 is frame i.
                    let location_indices: Vec<i32> = window
                        .stacks
                        .get(key.stack as usize)
                        .map(|s| s.iter().rev().map(|&f| f as i32 + 1).collect())
                        .unwrap_or_default();
                    // An empty stack is the zero value at index 0.
                    let i = if location_indices.is_empty() {
                        0
                    } else {
                        dict.stacks.push(otlp::Stack { location_indices })
                    };
                    stack_ids.insert(key.stack, i);
                    i
                }
            };
            let mut attribute_indices =
                vec![dict.attribute(thread_id_key, AttrValue::Int(i64::from(key.tid)))];
            if let Some(t) = process.threads.get(&key.tid).filter(|t| !t.name.is_empty()) {
                attribute_indices
                    .push(dict.attribute(thread_name_key, AttrValue::Str(t.name.clone())));
            }
            let sample = |value: u64| otlp::Sample {
                stack_index,
                attribute_indices: attribute_indices.clone(),
                link_index: 0,
                values: vec![i64::try_from(value).unwrap_or(i64::MAX)],
                timestamps_unix_nano: Vec::new(),
            };
            counts.push(sample(c.samples));
            times.push(sample(c.weight_ns));
        }
        let profile = |sample_type: &otlp::ValueType, samples, which| otlp::Profile {
            sample_type: Some(*sample_type),
            samples,
            time_unix_nano: window.meta.start_unix_ns,
            duration_nano: window.meta.duration_ns,
            period_type: Some(time_type),
            period: i64::try_from(period).unwrap_or(i64::MAX),
            profile_id: profile_id(window.meta.start_unix_ns, pid_key, which),
            ..Default::default()
        };
        resource_profiles.push(otlp::ResourceProfiles {
            resource: Some(resource_of(process, labels)),
            scope_profiles: vec![otlp::ScopeProfiles {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                profiles: vec![
                    profile(&samples_type, counts, 1),
                    profile(&time_type, times, 2),
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    ExportProfilesServiceRequest {
        resource_profiles,
        dictionary: Some(dict.finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::fixture_profile;

    fn string_of(d: &otlp::ProfilesDictionary, i: i32) -> &str {
        &d.string_table[i as usize]
    }

    fn resource_attr<'a>(r: &'a otlp::ResourceProfiles, key: &str) -> Option<&'a AnyValue> {
        r.resource
            .as_ref()?
            .attributes
            .iter()
            .find(|a| a.key == key)?
            .value
            .as_ref()
    }

    #[test]
    fn every_sample_and_frame_of_the_window_is_in_the_request() {
        let p = fixture_profile();
        let req = to_request(&p, &[("node".to_string(), "n1".to_string())]);
        // Round trip through the wire format.
        let req = ExportProfilesServiceRequest::decode(&req.encode_to_vec()[..]).expect("decode");
        let d = req.dictionary.as_ref().expect("dictionary");
        // Zero values first.
        assert_eq!(d.string_table[0], "");
        assert_eq!(d.location_table[0], otlp::Location::default());
        assert_eq!(d.function_table[0], otlp::Function::default());
        assert_eq!(d.stack_table[0], otlp::Stack::default());
        assert_eq!(d.attribute_table[0], otlp::KeyValueAndUnit::default());
        assert_eq!(d.mapping_table, vec![otlp::Mapping::default()]);
        assert_eq!(req.resource_profiles.len(), p.processes.len());

        let mut samples = 0;
        let mut weight = 0;
        for r in &req.resource_profiles {
            let Some(any_value::Value::IntValue(pid)) =
                resource_attr(r, "process.pid").and_then(|v| v.value.clone())
            else {
                panic!("no process.pid");
            };
            let process = p
                .processes
                .values()
                .find(|q| i64::from(q.pid) == pid)
                .expect("a process of the profile");
            assert_eq!(
                resource_attr(r, "node").and_then(|v| v.value.clone()),
                Some(any_value::Value::StringValue("n1".into()))
            );
            let [count, time] = &r.scope_profiles[0].profiles[..] else {
                panic!("two profiles");
            };
            assert_eq!(
                string_of(d, count.sample_type.expect("type").type_strindex),
                "samples"
            );
            assert_eq!(
                string_of(d, time.sample_type.expect("type").unit_strindex),
                "nanoseconds"
            );
            assert_eq!(time.time_unix_nano, p.meta.start_unix_ns);
            assert_eq!(time.duration_nano, p.meta.duration_ns);
            assert!(count.profile_id.iter().any(|&b| b != 0));
            assert_ne!(count.profile_id, time.profile_id);
            for (s, t) in count.samples.iter().zip(&time.samples) {
                samples += s.values[0];
                weight += t.values[0];
                // The leaf is the last frame of the profile's stack.
                let stack = &d.stack_table[s.stack_index as usize];
                if stack.location_indices.is_empty() {
                    assert_eq!(s.stack_index, 0, "the empty stack is the zero value");
                    continue;
                }
                let leaf = &d.location_table[stack.location_indices[0] as usize];
                let f = &d.function_table[leaf.lines[0].function_index as usize];
                assert!(!string_of(d, f.name_strindex).is_empty());
                let tid = &d.attribute_table[s.attribute_indices[0] as usize];
                assert_eq!(string_of(d, tid.key_strindex), "thread.id");
                let Some(any_value::Value::IntValue(tid)) =
                    tid.value.as_ref().and_then(|v| v.value.clone())
                else {
                    panic!("thread.id is an int");
                };
                assert!(process.threads.contains_key(&(tid as u32)));
            }
        }
        assert_eq!(samples as u64, p.total_samples());
        assert_eq!(weight as u64, p.total_weight_ns());
    }

    #[test]
    fn stacks_match_the_profile_leaf_first() {
        let p = fixture_profile();
        let req = to_request(&p, &[]);
        let d = req.dictionary.expect("dictionary");
        let key = p.sorted_keys()[0];
        let first = &req.resource_profiles[0].scope_profiles[0].profiles[0].samples[0];
        let names: Vec<&str> = d.stack_table[first.stack_index as usize]
            .location_indices
            .iter()
            .map(|&l| {
                let line = &d.location_table[l as usize].lines[0];
                string_of(
                    &d,
                    d.function_table[line.function_index as usize].name_strindex,
                )
            })
            .collect();
        let expected: Vec<&str> = p.stacks[key.stack as usize]
            .iter()
            .rev()
            .map(|&f| p.frames[f as usize].name.as_str())
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn golden_fixture() {
        let labels = [("node".to_string(), "n1".to_string())];
        crate::output::fixture::assert_golden(
            "fixture.otlp.pb",
            &to_request(&fixture_profile(), &labels).encode_to_vec(),
        );
    }

    #[test]
    fn endpoints_and_answers() {
        let s = OtlpSink::new("http://c:4318", &[]).expect("url");
        assert_eq!(
            s.endpoint().as_str(),
            "http://c:4318/v1development/profiles"
        );
        let s = OtlpSink::new("http://c:4318/custom/path", &[]).expect("url");
        assert_eq!(s.endpoint().as_str(), "http://c:4318/custom/path");
        assert!(OtlpSink::check_response(b"").is_ok());
        let rejected = ExportProfilesServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesPartialSuccess {
                    rejected_profiles: 2,
                    error_message: "bad stack".into(),
                },
            ),
        };
        let e = OtlpSink::check_response(&rejected.encode_to_vec()).expect_err("rejected");
        assert!(!e.retryable());
        assert!(
            e.to_string().contains("rejected 2 profiles: bad stack"),
            "{e}"
        );
    }

    #[test]
    fn the_body_is_the_gzipped_request() {
        let p = fixture_profile();
        let post = OtlpSink::new("http://c:4318", &[])
            .expect("url")
            .request(&p);
        let Content::Body {
            content_type,
            encoding,
            bytes,
        } = post.content
        else {
            panic!("plain body");
        };
        assert_eq!(
            (content_type, encoding),
            ("application/x-protobuf", Some("gzip"))
        );
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw)
            .expect("gunzip");
        assert_eq!(raw, to_request(&p, &[]).encode_to_vec());
    }

    #[test]
    fn an_empty_window_is_a_valid_empty_request() {
        let req = to_request(&Profile::default(), &[]);
        assert!(req.resource_profiles.is_empty());
        assert_eq!(req.dictionary.expect("dictionary").string_table[0], "");
    }
}
