//! Windows to Pyroscope's HTTP ingest API: `POST /ingest` with the series
//! name (`APP{label=value,…}`), `from` and `until` (Unix seconds),
//! `format=pprof`, `sampleRate` and `spyName` as query parameters, and the
//! gzipped pprof as the `profile` field of a `multipart/form-data` body.
//!
//! A series carries one set of labels, so a window is sent as one upload
//! per container (and one for the processes outside any container), each
//! labelled `container_id`, `container_name` and `pod_uid` beside the
//! agent's `--label`s. The pprof inside still has per-sample labels
//! (`pid`, `tid`, `process_name`, …).

use bytes::Bytes;
use reqwest::Url;

use super::http::{Content, HttpPost};
use super::labels::sanitize_value;
use super::SinkConfigError;
use crate::output::{PprofWriter, ProfileWriter, WriteOptions};
use crate::profile::{ProcessPlace, Profile};

/// Where and as what a window goes.
#[derive(Clone, Debug)]
pub struct PyroscopeSink {
    ingest: Url,
    app: String,
    labels: Vec<(String, String)>,
}

impl PyroscopeSink {
    /// `url` is the server (`http://pyroscope:4040`, `/ingest` is added) or
    /// the ingest endpoint itself (a path ending in `/ingest`).
    pub fn new(url: &str, app: &str, labels: &[(String, String)]) -> Result<Self, SinkConfigError> {
        let mut ingest = super::http::parse_url("--pyroscope", url)?;
        if !ingest.path().ends_with("/ingest") {
            let path = format!("{}/ingest", ingest.path().trim_end_matches('/'));
            ingest.set_path(&path);
        }
        Ok(Self {
            ingest,
            app: app.to_string(),
            labels: labels.to_vec(),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.ingest
    }

    /// The series name for the processes at `place` (none: outside any
    /// container): `APP{key=value,…}`, keys sorted.
    pub fn series_name(&self, place: Option<&ProcessPlace>) -> String {
        let mut labels: Vec<(String, String)> = self.labels.clone();
        if let Some(p) = place {
            labels.push(("container_id".into(), sanitize_value(&p.container_id)));
            if !p.container_name.is_empty() {
                labels.push(("container_name".into(), sanitize_value(&p.container_name)));
            }
            if !p.pod_uid.is_empty() {
                labels.push(("pod_uid".into(), sanitize_value(&p.pod_uid)));
            }
        }
        labels.sort();
        let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}}", self.app, inner.join(","))
    }

    /// The uploads for one window: one per container present, the host's
    /// processes last.
    pub fn requests(&self, window: &Profile) -> Vec<HttpPost> {
        // Group by container id; "" is the host.
        let mut groups: std::collections::BTreeMap<&str, &ProcessPlace> = Default::default();
        for p in window.processes.values() {
            groups
                .entry(p.place.container_id.as_str())
                .or_insert(&p.place);
        }
        let from = window.meta.start_unix_ns / 1_000_000_000;
        let end_ns = window.meta.start_unix_ns + window.meta.duration_ns;
        let until = end_ns.div_ceil(1_000_000_000).max(from + 1);
        let mut posts = Vec::new();
        let mut ordered: Vec<(&str, &ProcessPlace)> = groups.into_iter().collect();
        // The host last, containers by id.
        ordered.sort_by_key(|(id, _)| (id.is_empty(), *id));
        for (id, place) in ordered {
            let part = window.subset(|p| p.place.container_id == id);
            if part.counts.is_empty() {
                continue;
            }
            let name = self.series_name((!id.is_empty()).then_some(place));
            let mut url = self.ingest.clone();
            url.query_pairs_mut()
                .append_pair("name", &name)
                .append_pair("from", &from.to_string())
                .append_pair("until", &until.to_string())
                .append_pair("format", "pprof")
                .append_pair("sampleRate", &window.meta.rate_hz.to_string())
                .append_pair("spyName", "tachyon-bpf");
            let mut pprof = Vec::new();
            // Writing to a Vec cannot fail.
            if PprofWriter::new(WriteOptions::default())
                .write(&part, &mut pprof)
                .is_err()
            {
                continue;
            }
            let what = if id.is_empty() {
                "host processes".to_string()
            } else {
                place.container_label()
            };
            posts.push(HttpPost {
                url,
                what,
                content: Content::Multipart {
                    field: "profile",
                    file_name: "profile.pb.gz",
                    bytes: Bytes::from(pprof),
                },
            });
        }
        posts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::fixture_profile;

    fn place(id: &str, name: &str) -> ProcessPlace {
        ProcessPlace {
            container_id: id.to_string(),
            container_name: name.to_string(),
            cgroup: format!("/docker/{id}"),
            ..Default::default()
        }
    }

    #[test]
    fn the_ingest_path_is_added_once() {
        for (given, want) in [
            ("http://p:4040", "http://p:4040/ingest"),
            ("http://p:4040/", "http://p:4040/ingest"),
            ("https://p/pyroscope", "https://p/pyroscope/ingest"),
            ("http://p:4040/ingest", "http://p:4040/ingest"),
        ] {
            let s = PyroscopeSink::new(given, "app", &[]).expect("url");
            assert_eq!(s.endpoint().as_str(), want);
        }
        assert!(PyroscopeSink::new("p:4040", "app", &[]).is_err());
        assert!(PyroscopeSink::new("ftp://p", "app", &[]).is_err());
        assert!(PyroscopeSink::new("not a url", "app", &[]).is_err());
    }

    #[test]
    fn series_names_carry_the_container_and_the_labels() {
        let s = PyroscopeSink::new("http://p:4040", "python", &[("node".into(), "n1".into())])
            .expect("url");
        assert_eq!(s.series_name(None), "python{node=n1}");
        let id = "a".repeat(64);
        assert_eq!(
            s.series_name(Some(&place(&id, "web,{x}"))),
            format!("python{{container_id={id},container_name=web__x_,node=n1}}")
        );
    }

    #[test]
    fn one_upload_per_container_with_only_its_samples() {
        let mut p = fixture_profile();
        let keys: Vec<u32> = p.processes.keys().copied().collect();
        assert!(keys.len() >= 2, "the fixture has two processes");
        let id = "b".repeat(64);
        p.processes.get_mut(&keys[0]).expect("process").place = place(&id, "web");
        p.meta.start_unix_ns = 1_764_605_101_250_000_000;
        p.meta.duration_ns = 2_000_000_000;
        let s = PyroscopeSink::new("http://p:4040", "python", &[]).expect("url");
        let posts = s.requests(&p);
        assert_eq!(posts.len(), 2);
        let query = |post: &HttpPost, k: &str| {
            post.url
                .query_pairs()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(
            query(&posts[0], "name").as_deref(),
            Some(format!("python{{container_id={id},container_name=web}}").as_str())
        );
        assert_eq!(query(&posts[1], "name").as_deref(), Some("python{}"));
        assert_eq!(query(&posts[0], "from").as_deref(), Some("1764605101"));
        assert_eq!(query(&posts[0], "until").as_deref(), Some("1764605104"));
        assert_eq!(query(&posts[0], "format").as_deref(), Some("pprof"));
        // The two parts hold every sample once.
        let total: u64 = posts
            .iter()
            .map(|post| {
                let Content::Multipart { bytes, .. } = &post.content else {
                    panic!("multipart");
                };
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw)
                    .expect("gunzip");
                let decoded =
                    <crate::output::pprof_proto::Profile as prost::Message>::decode(&raw[..])
                        .expect("pprof");
                decoded
                    .sample
                    .iter()
                    .map(|s| s.value[0] as u64)
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(total, p.total_samples());
    }
}
