//! Which container a process runs in, from `/proc/PID/cgroup`: Docker,
//! containerd, CRI-O, Podman (under Kubernetes or not) and systemd services.
//!
//! Everything under `/proc/PID` is shaped by the (possibly hostile) process:
//! it may name its own cgroups below a delegated one. So every read is
//! bounded, parsing never panics, ids are validated strictly (a crafted
//! cgroup name cannot pass for a container id nor inject text), and no path
//! inside a container's root is ever opened. The only file opened outside
//! `/proc` is Docker's own root-owned `config.v2.json`, for names and images.

use std::fmt;

use crate::procfs::{self, open_no_follow, read_limited};
use crate::profile::ProcessPlace;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use lru::LruCache;
use rustc_hash::FxBuildHasher;

/// Most bytes read from `/proc/PID/cgroup` or `/proc/PID/status`.
const PROC_FILE_LIMIT: u64 = 64 * 1024;
/// Most bytes read from Docker's `config.v2.json`; a bigger file is ignored.
const METADATA_LIMIT: u64 = 1024 * 1024;
/// Longest cgroup path taken from a line (the kernel's `PATH_MAX`).
const CGROUP_PATH_MAX: usize = 4096;
/// Longest systemd unit name accepted (systemd's own limit).
const UNIT_NAME_MAX: usize = 256;
/// Longest Docker container name accepted from its metadata.
const NAME_MAX: usize = 256;
/// Longest image reference accepted from Docker's metadata.
const IMAGE_MAX: usize = 1024;
/// Length of a container id of every runtime recognised here.
const ID_LEN: usize = 64;
/// Length of [`Container::short_id`] for hex ids, as `docker ps` shows.
const SHORT_ID_LEN: usize = 12;

/// Docker's default data root (`dockerd --data-root`).
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";
/// Default number of containers whose metadata [`PlaceCache`] remembers.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Where a process runs: its cgroup and, if recognised, its container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The cgroup path (empty when the process is gone or the file is
    /// unreadable). Control characters are escaped.
    pub cgroup: String,
    /// The container, if the cgroup path names one.
    pub container: Option<Container>,
    /// The process's pid in its innermost pid namespace.
    pub ns_pid: Option<u32>,
}

/// A container (or systemd service) recognised from a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// What runs it.
    pub runtime: Runtime,
    /// The full id as in the cgroup path: 64 lowercase hex digits, or the
    /// unit name (`nginx.service`) for [`Runtime::Systemd`].
    pub id: String,
    /// The Kubernetes pod's uid (with dashes), when under `kubepods`.
    pub pod_uid: Option<String>,
    /// The container's name, when known (Docker metadata).
    pub name: Option<String>,
    /// The container's image, when known (Docker metadata).
    pub image: Option<String>,
}

/// What runs a [`Container`]. Kubernetes is not a runtime: a container in a
/// pod has a runtime *and* a [`Container::pod_uid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// Docker (`/docker/ID`, `docker-ID.scope`).
    Docker,
    /// containerd (`cri-containerd-ID.scope`, `nerdctl-ID.scope`).
    Containerd,
    /// CRI-O (`crio-ID.scope`, `crio-ID`).
    CriO,
    /// Podman (`libpod-ID.scope`, `/libpod_parent/libpod-ID`).
    Podman,
    /// A Kubernetes container runtime the path does not name: the
    /// cgroupfs layout `/kubepods/…/podUID/ID` is the same for all of them.
    Cri,
    /// A systemd service (`/system.slice/NAME.service`).
    Systemd,
}

impl Runtime {
    /// A short lowercase name (`docker`, `cri-o`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Cri => "cri",
            Runtime::Systemd => "systemd",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Container {
    fn new(runtime: Runtime, id: &str, pod_uid: Option<String>) -> Self {
        Self {
            runtime,
            id: id.to_string(),
            pod_uid,
            name: None,
            image: None,
        }
    }

    /// The id as `docker ps` shows it: the first 12 hex digits, or the
    /// whole unit name for a systemd service.
    pub fn short_id(&self) -> &str {
        if self.runtime == Runtime::Systemd {
            return &self.id;
        }
        self.id.get(..SHORT_ID_LEN).unwrap_or(&self.id)
    }

    /// The name if known, else the short id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or_else(|| self.short_id())
    }
}

// ---------------------------------------------------------------------------
// /proc/PID/cgroup

/// One parsed line of `/proc/PID/cgroup`: `hierarchy:controllers:path`.
struct CgroupLine<'a> {
    hierarchy: &'a str,
    controllers: &'a str,
    path: &'a str,
}

fn parse_cgroup_line(line: &str) -> Option<CgroupLine<'_>> {
    let (hierarchy, rest) = line.split_once(':')?;
    let (controllers, path) = rest.split_once(':')?;
    let valid = !hierarchy.is_empty()
        && hierarchy.bytes().all(|b| b.is_ascii_digit())
        && path.starts_with('/')
        && path.len() <= CGROUP_PATH_MAX;
    valid.then_some(CgroupLine {
        hierarchy,
        controllers,
        path,
    })
}

/// v1 controllers whose path is used, best first, when the unified line
/// says nothing.
const PREFERRED_CONTROLLERS: [&str; 5] = ["pids", "memory", "cpu", "cpuacct", "name=systemd"];

fn has_controller(line: &CgroupLine<'_>, wanted: &str) -> bool {
    line.controllers.split(',').any(|c| c == wanted)
}

/// The process's cgroup path, from the text of `/proc/PID/cgroup`.
///
/// cgroup v2 (`0::/path`) and v1/hybrid (`N:controllers:/path`): the unified
/// `0::` line when it is not `/`, else the first non-root line of a
/// preferred controller (`pids`, `memory`, `cpu`, `cpuacct`,
/// `name=systemd`), else any non-root line, else `/`. For each kind the
/// first line wins (the kernel rejects `\n` in cgroup names, so later lines
/// cannot be forged). Malformed lines and lines longer than `PATH_MAX` are
/// ignored; control characters in the path are escaped.
pub fn cgroup_path(text: &str) -> Option<String> {
    let lines: Vec<CgroupLine<'_>> = text.lines().filter_map(parse_cgroup_line).collect();
    let unified = lines
        .iter()
        .find(|l| l.hierarchy == "0" && l.controllers.is_empty());
    let not_root = |l: &&CgroupLine<'_>| l.path != "/";
    let chosen = unified
        .filter(not_root)
        .or_else(|| {
            PREFERRED_CONTROLLERS.iter().find_map(|wanted| {
                lines
                    .iter()
                    .filter(not_root)
                    .find(|l| has_controller(l, wanted))
            })
        })
        .or_else(|| lines.iter().find(not_root))
        .or(unified)
        .or(lines.first())?;
    Some(escape_controls(chosen.path))
}

/// `s` with control characters escaped (`\u{1b}`), safe to print.
fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Recognising containers in a cgroup path

/// Exactly 64 lowercase hex digits: the id of every runtime here.
fn is_container_id(s: &str) -> bool {
    is_lower_hex(s, ID_LEN)
}

/// Exactly `len` lowercase hex digits.
fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A Kubernetes pod uid: a lowercase UUID `8-4-4-4-12`, or the 32 hex digits
/// of a static pod's uid (a hash of its manifest).
fn is_pod_uid(s: &str) -> bool {
    if is_lower_hex(s, 32) {
        return true;
    }
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| is_lower_hex(g, len))
}

/// `prefix` + valid id + `suffix` (the suffix optional when `suffix_optional`).
fn prefixed_id<'a>(
    component: &'a str,
    prefix: &str,
    suffix: &str,
    suffix_optional: bool,
) -> Option<&'a str> {
    let rest = component.strip_prefix(prefix)?;
    let id = match rest.strip_suffix(suffix) {
        Some(id) => id,
        None if suffix_optional => rest,
        None => return None,
    };
    is_container_id(id).then_some(id)
}

/// A runtime's own scope or directory (`docker-ID.scope`, `crio-ID`, …),
/// recognisable without its parent. Monitor scopes (`crio-conmon-ID.scope`,
/// `libpod-conmon-ID.scope`) fail the id check: they are not containers.
fn runtime_component(component: &str) -> Option<(Runtime, &str)> {
    const PATTERNS: [(&str, bool, Runtime); 5] = [
        ("docker-", false, Runtime::Docker),
        ("cri-containerd-", false, Runtime::Containerd),
        ("nerdctl-", false, Runtime::Containerd),
        ("crio-", true, Runtime::CriO),
        ("libpod-", true, Runtime::Podman),
    ];
    PATTERNS.iter().find_map(|&(prefix, optional, runtime)| {
        prefixed_id(component, prefix, ".scope", optional).map(|id| (runtime, id))
    })
}

/// A bare id recognisable from its parent: `/docker/ID`, `/libpod_parent/ID`,
/// `/kubepods/…/podUID/ID`.
fn bare_id_component(parent: &str, in_pod: bool, component: &str) -> Option<Runtime> {
    if !is_container_id(component) {
        return None;
    }
    match parent {
        "docker" => Some(Runtime::Docker),
        "libpod_parent" => Some(Runtime::Podman),
        _ if in_pod => Some(Runtime::Cri),
        _ => None,
    }
}

/// The pod uid (with dashes) of a pod cgroup: `podUID` (cgroupfs) or
/// `kubepods[-QOS]-podUID_WITH_UNDERSCORES.slice` (systemd).
fn pod_component(component: &str) -> Option<String> {
    if let Some(uid) = component.strip_prefix("pod") {
        return is_pod_uid(uid).then(|| uid.to_string());
    }
    let stem = component.strip_suffix(".slice")?;
    let (qos, uid) = stem.rsplit_once("-pod")?;
    if !matches!(
        qos,
        "kubepods" | "kubepods-burstable" | "kubepods-besteffort"
    ) {
        return None;
    }
    let uid = uid.replace('_', "-");
    is_pod_uid(&uid).then_some(uid)
}

/// A systemd service unit name (`nginx.service`, `getty@tty1.service`) of a
/// sane charset and length.
fn service_component(component: &str) -> Option<&str> {
    let stem = component.strip_suffix(".service")?;
    let sane = !stem.is_empty()
        && component.len() <= UNIT_NAME_MAX
        && component.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'\\' | b'@' | b'-')
        });
    sane.then_some(component)
}

/// The container a cgroup path names, if any.
///
/// Looks anywhere in the path; when containers nest (Docker in Docker, kind
/// nodes), the innermost one wins. A pod uid is reported when the
/// container's parent cgroup is a pod's under `kubepods`. A systemd service
/// is reported only when no runtime's container is found and the path is
/// not under `/user.slice` (sessions and user managers are not services of
/// the host). `/`, `init.scope` and unknown paths give `None`.
pub fn container_of(cgroup: &str) -> Option<Container> {
    let components: Vec<&str> = cgroup.split('/').filter(|c| !c.is_empty()).collect();
    let mut in_kubepods = false;
    let mut parent_pod: Option<String> = None;
    let mut parent = "";
    let mut found: Option<Container> = None;
    let mut service: Option<&str> = None;
    for &component in &components {
        let runtime = runtime_component(component).or_else(|| {
            bare_id_component(parent, parent_pod.is_some(), component).map(|r| (r, component))
        });
        if let Some((runtime, id)) = runtime {
            found = Some(Container::new(runtime, id, parent_pod.clone()));
        }
        if let Some(unit) = service_component(component) {
            service = Some(unit);
        }
        in_kubepods |= component.starts_with("kubepods");
        parent_pod = pod_component(component).filter(|_| in_kubepods);
        parent = component;
    }
    let under_user_slice = components.first() == Some(&"user.slice");
    found.or_else(|| {
        service
            .filter(|_| !under_user_slice)
            .map(|unit| Container::new(Runtime::Systemd, unit, None))
    })
}

// ---------------------------------------------------------------------------
// /proc/PID/status

/// The process's pid in its innermost pid namespace: the last number of the
/// first `NSpid:` line of `/proc/PID/status` (`NSpid:\t4242\t1` → 1).
/// `None` without the line or with anything but numbers on it.
pub fn ns_pid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    let pids: Vec<u32> = line
        .split_ascii_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    pids.last().copied()
}

// ---------------------------------------------------------------------------
// Bounded reads

/// A `/proc` text file, at most [`PROC_FILE_LIMIT`] bytes; when cut short,
/// the last (partial) line is dropped.
fn read_proc_text(path: &Path) -> Option<String> {
    procfs::read_text(path, PROC_FILE_LIMIT)
}

// ---------------------------------------------------------------------------
// Docker metadata

/// A name or image from metadata: non-empty, bounded, no control characters.
fn sane_text(s: &str, max: usize) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control);
    ok.then(|| s.to_string())
}

/// Name and image from the text of a `config.v2.json` of container `id`.
fn parse_docker_config(bytes: &[u8], id: &str) -> Option<(String, String)> {
    let config: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(own_id) = config.get("ID") {
        if own_id.as_str() != Some(id) {
            return None;
        }
    }
    let name = config.get("Name")?.as_str()?;
    let name = sane_text(name.strip_prefix('/').unwrap_or(name), NAME_MAX)?;
    let image = config.get("Config")?.get("Image")?.as_str()?;
    Some((name, sane_text(image, IMAGE_MAX)?))
}

/// The name (without its leading `/`) and image of Docker container `id`,
/// from `<data_root>/containers/<id>/config.v2.json` (Docker's own
/// root-owned file; at most 1 MiB read). `id` must be 64 lowercase hex
/// digits. Any failure gives `None`: the caller then shows the id.
pub fn docker_metadata(data_root: &Path, id: &str) -> Option<(String, String)> {
    if !is_container_id(id) {
        return None;
    }
    let path = data_root.join("containers").join(id).join("config.v2.json");
    let file = open_no_follow(&path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let (bytes, truncated) = read_limited(file, METADATA_LIMIT).ok()?;
    if truncated {
        return None;
    }
    parse_docker_config(&bytes, id)
}

// ---------------------------------------------------------------------------
// A process's place

/// The place of `pid`, with `metadata` asked for the name and image of a
/// Docker container. A gone process gives an empty [`Place`].
fn place_with(pid: u32, metadata: impl FnOnce(&str) -> Option<(String, String)>) -> Place {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Some(cgroup) = read_proc_text(&proc_dir.join("cgroup")).and_then(|t| cgroup_path(&t))
    else {
        return Place::default();
    };
    let ns_pid = read_proc_text(&proc_dir.join("status")).and_then(|t| ns_pid(&t));
    let mut container = container_of(&cgroup);
    if let Some(c) = container.as_mut().filter(|c| c.runtime == Runtime::Docker) {
        if let Some((name, image)) = metadata(&c.id) {
            c.name = Some(name);
            c.image = Some(image);
        }
    }
    Place {
        cgroup,
        container,
        ns_pid,
    }
}

/// Where process `pid` runs: its cgroup, container (named from Docker's
/// metadata under `docker_root` for Docker containers) and namespaced pid.
/// Reads `/proc/PID/cgroup` and `/proc/PID/status`, bounded; a gone process
/// gives an empty [`Place`]. Stateless: see [`PlaceCache`] to read each
/// container's metadata once.
pub fn place_of(pid: u32, docker_root: &Path) -> Place {
    place_with(pid, |id| docker_metadata(docker_root, id))
}

/// [`place_of`] remembering each container's metadata lookup (failed ones
/// too), bounded: the least recently used containers go first. A host with
/// thousands of processes in a few containers reads each `config.v2.json`
/// once.
pub struct PlaceCache {
    docker_root: PathBuf,
    metadata: LruCache<String, Option<(String, String)>, FxBuildHasher>,
    /// Metadata files read (cache misses).
    pub reads: u64,
}

impl PlaceCache {
    /// A cache of at most `capacity` containers (at least 1), with Docker's
    /// data root at `docker_root`.
    pub fn new(docker_root: impl Into<PathBuf>, capacity: usize) -> Self {
        Self {
            docker_root: docker_root.into(),
            metadata: LruCache::with_hasher(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
                FxBuildHasher,
            ),
            reads: 0,
        }
    }

    /// Where process `pid` runs, as [`place_of`].
    pub fn place_of(&mut self, pid: u32) -> Place {
        place_with(pid, |id| self.docker_metadata(id))
    }

    /// [`docker_metadata`] of container `id`, read on the first call only.
    pub fn docker_metadata(&mut self, id: &str) -> Option<(String, String)> {
        if let Some(known) = self.metadata.get(id) {
            return known.clone();
        }
        self.reads += 1;
        let found = docker_metadata(&self.docker_root, id);
        self.metadata.put(id.to_string(), found.clone());
        found
    }

    /// Containers remembered.
    pub fn len(&self) -> usize {
        self.metadata.len()
    }

    /// Whether no container is remembered.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_empty()
    }
}

/// `--container` and `--cgroup`: which processes to profile, by where they
/// run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaceFilter {
    /// A container by name, full id or id prefix (at least 3 characters).
    Container(String),
    /// Every process in this cgroup or below it.
    Cgroup(String),
}

impl PlaceFilter {
    /// Whether a process at `place` is selected.
    pub fn matches(&self, place: &ProcessPlace) -> bool {
        match self {
            PlaceFilter::Container(c) => {
                place.in_container()
                    && (place.container_name == *c
                        || place.container_id == *c
                        || (c.len() >= 3 && place.container_id.starts_with(c.as_str())))
            }
            PlaceFilter::Cgroup(root) => {
                let root = root.trim_end_matches('/');
                root.is_empty()
                    || place.cgroup == root
                    || place
                        .cgroup
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }
}

impl std::fmt::Display for PlaceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlaceFilter::Container(c) => write!(f, "--container {c}"),
            PlaceFilter::Cgroup(c) => write!(f, "--cgroup {c}"),
        }
    }
}

impl Place {
    /// The facts the profile keeps (empty strings and 0 for unknown).
    pub fn to_profile(&self) -> ProcessPlace {
        let c = self.container.as_ref();
        ProcessPlace {
            cgroup: self.cgroup.clone(),
            container_id: c.map(|c| c.id.clone()).unwrap_or_default(),
            container_name: c.map(|c| c.display_name().to_string()).unwrap_or_default(),
            image: c.and_then(|c| c.image.clone()).unwrap_or_default(),
            pod_uid: c.and_then(|c| c.pod_uid.clone()).unwrap_or_default(),
            ns_pid: self.ns_pid.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e8d2c1b0a99887766554433221100ffeeddccbbaa00112233445566778899";
    const ID2: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const POD: &str = "8f0b5a1c-3d2e-4f6a-9b7c-1d2e3f4a5b6c";
    const POD_US: &str = "8f0b5a1c_3d2e_4f6a_9b7c_1d2e3f4a5b6c";

    fn container(runtime: Runtime, id: &str, pod: Option<&str>) -> Option<Container> {
        Some(Container {
            runtime,
            id: id.to_string(),
            pod_uid: pod.map(str::to_string),
            name: None,
            image: None,
        })
    }

    // --- cgroup_path -----------------------------------------------------

    #[test]
    fn cgroup_v2_single_line() {
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            cgroup_path(&text),
            Some(format!("/system.slice/docker-{ID}.scope"))
        );
        assert_eq!(cgroup_path("0::/\n"), Some("/".to_string()));
        assert_eq!(
            cgroup_path("0::/user.slice/user-1000.slice/session-3.scope"),
            Some("/user.slice/user-1000.slice/session-3.scope".to_string())
        );
    }

    #[test]
    fn cgroup_v1_hybrid_docker_cgroupfs() {
        // A Docker container's process on a cgroup v1 hybrid host.
        let text = format!(
            "12:pids:/docker/{ID}\n\
             11:hugetlb:/docker/{ID}\n\
             10:net_cls,net_prio:/docker/{ID}\n\
             9:cpuset:/docker/{ID}\n\
             8:memory:/docker/{ID}\n\
             7:blkio:/docker/{ID}\n\
             6:perf_event:/docker/{ID}\n\
             5:devices:/docker/{ID}\n\
             4:freezer:/docker/{ID}\n\
             3:cpu,cpuacct:/docker/{ID}\n\
             2:rdma:/\n\
             1:name=systemd:/docker/{ID}\n\
             0::/\n"
        );
        assert_eq!(cgroup_path(&text), Some(format!("/docker/{ID}")));
    }

    #[test]
    fn cgroup_v1_prefers_unified_line_when_not_root() {
        let text = "12:pids:/system.slice/nginx.service\n\
                    3:cpu,cpuacct:/system.slice\n\
                    1:name=systemd:/system.slice/nginx.service\n\
                    0::/system.slice/nginx.service\n";
        assert_eq!(
            cgroup_path(text),
            Some("/system.slice/nginx.service".to_string())
        );
    }

    #[test]
    fn cgroup_v1_controller_preference() {
        // pids is root, memory is not: memory wins over later lines.
        let text = "9:name=systemd:/\n\
                    8:pids:/\n\
                    7:blkio:/blk\n\
                    4:memory:/process_api/04f66ef217feb40028c2dbc228c8b538\n\
                    1:cpu:/\n\
                    0::/\n";
        assert_eq!(
            cgroup_path(text),
            Some("/process_api/04f66ef217feb40028c2dbc228c8b538".to_string())
        );
        // cpu,cpuacct in either order.
        assert_eq!(
            cgroup_path("5:blkio:/x\n3:cpuacct,cpu:/y\n0::/\n"),
            Some("/y".to_string())
        );
        // name=systemd when nothing else says anything.
        assert_eq!(
            cgroup_path("5:blkio:/\n1:name=systemd:/init.scope\n0::/\n"),
            Some("/init.scope".to_string())
        );
        // Any non-root line before `/`.
        assert_eq!(
            cgroup_path("5:blkio:/b\n1:name=systemd:/\n"),
            Some("/b".to_string())
        );
        // All root.
        assert_eq!(
            cgroup_path("5:blkio:/\n1:name=systemd:/\n0::/\n"),
            Some("/".to_string())
        );
    }

    #[test]
    fn cgroup_garbage() {
        assert_eq!(cgroup_path(""), None);
        assert_eq!(cgroup_path("\n\n"), None);
        assert_eq!(cgroup_path("garbage"), None);
        assert_eq!(cgroup_path("0::relative/path"), None);
        assert_eq!(cgroup_path("x::/docker"), None);
        assert_eq!(cgroup_path(":::/"), None);
        assert_eq!(cgroup_path("\u{0}\u{1}:\u{ff}"), None);
        // The first unified line wins over forged later ones.
        let text = format!("0::/user.slice/a\n0::/docker/{ID}\n");
        assert_eq!(cgroup_path(&text), Some("/user.slice/a".to_string()));
    }

    #[test]
    fn cgroup_megabyte_line_is_ignored() {
        let long = format!("0::/docker/{}\n", "a".repeat(1 << 20));
        assert_eq!(cgroup_path(&long), None);
        let text = format!("{long}4:memory:/docker/{ID}\n");
        assert_eq!(cgroup_path(&text), Some(format!("/docker/{ID}")));
    }

    #[test]
    fn cgroup_control_characters_are_escaped() {
        let text = format!("0::/system.slice/docker-{ID}.scope/\u{1b}[2J\u{7}\n");
        let path = cgroup_path(&text).expect("path");
        assert!(!path.chars().any(char::is_control), "{path:?}");
        assert_eq!(
            path,
            format!("/system.slice/docker-{ID}.scope/\\u{{1b}}[2J\\u{{7}}")
        );
        // The container is still found.
        assert_eq!(container_of(&path), container(Runtime::Docker, ID, None));
    }

    // --- container_of: Docker --------------------------------------------

    #[test]
    fn docker_cgroupfs_v1_and_v2() {
        assert_eq!(
            container_of(&format!("/docker/{ID}")),
            container(Runtime::Docker, ID, None)
        );
        let v2 = cgroup_path(&format!("0::/docker/{ID}\n")).expect("path");
        assert_eq!(container_of(&v2), container(Runtime::Docker, ID, None));
    }

    #[test]
    fn docker_systemd_driver() {
        assert_eq!(
            container_of(&format!("/system.slice/docker-{ID}.scope")),
            container(Runtime::Docker, ID, None)
        );
        // A nested cgroup inside the container's scope.
        assert_eq!(
            container_of(&format!("/system.slice/docker-{ID}.scope/init")),
            container(Runtime::Docker, ID, None)
        );
        // Not a scope: not Docker's.
        assert_eq!(container_of(&format!("/system.slice/docker-{ID}")), None);
    }

    #[test]
    fn docker_in_docker_innermost_wins() {
        assert_eq!(
            container_of(&format!("/docker/{ID}/docker/{ID2}")),
            container(Runtime::Docker, ID2, None)
        );
        // Systemd inside a container: the container, not the service.
        assert_eq!(
            container_of(&format!(
                "/system.slice/docker-{ID}.scope/system.slice/nginx.service"
            )),
            container(Runtime::Docker, ID, None)
        );
    }

    // --- container_of: containerd and Kubernetes ---------------------------

    #[test]
    fn containerd_cri_scope() {
        assert_eq!(
            container_of(&format!("/system.slice/cri-containerd-{ID}.scope")),
            container(Runtime::Containerd, ID, None)
        );
        assert_eq!(
            container_of(&format!("/nerdctl.slice/nerdctl-{ID}.scope")),
            container(Runtime::Containerd, ID, None)
        );
    }

    #[test]
    fn kubepods_cgroupfs_burstable() {
        let text = format!(
            "12:pids:/kubepods/burstable/pod{POD}/{ID}\n\
             1:name=systemd:/kubepods/burstable/pod{POD}/{ID}\n\
             0::/\n"
        );
        let path = cgroup_path(&text).expect("path");
        assert_eq!(container_of(&path), container(Runtime::Cri, ID, Some(POD)));
    }

    #[test]
    fn kubepods_cgroupfs_guaranteed() {
        assert_eq!(
            container_of(&format!("/kubepods/pod{POD}/{ID}")),
            container(Runtime::Cri, ID, Some(POD))
        );
    }

    #[test]
    fn kubepods_cgroupfs_besteffort() {
        assert_eq!(
            container_of(&format!("/kubepods/besteffort/pod{POD}/{ID}")),
            container(Runtime::Cri, ID, Some(POD))
        );
    }

    #[test]
    fn kubepods_static_pod_uid() {
        let uid = "6bd6fb7d1e6e5f3a1d2c3b4a59687766";
        assert_eq!(
            container_of(&format!("/kubepods/burstable/pod{uid}/{ID}")),
            container(Runtime::Cri, ID, Some(uid))
        );
    }

    #[test]
    fn kubepods_systemd_containerd() {
        let path = format!(
            "/kubepods.slice/kubepods-burstable.slice/\
             kubepods-burstable-pod{POD_US}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(
            container_of(&path),
            container(Runtime::Containerd, ID, Some(POD))
        );
        let v2 = cgroup_path(&format!("0::{path}\n")).expect("path");
        assert_eq!(
            container_of(&v2),
            container(Runtime::Containerd, ID, Some(POD))
        );
    }

    #[test]
    fn kubepods_systemd_guaranteed_and_besteffort() {
        assert_eq!(
            container_of(&format!(
                "/kubepods.slice/kubepods-pod{POD_US}.slice/cri-containerd-{ID}.scope"
            )),
            container(Runtime::Containerd, ID, Some(POD))
        );
        assert_eq!(
            container_of(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/\
                 kubepods-besteffort-pod{POD_US}.slice/crio-{ID}.scope"
            )),
            container(Runtime::CriO, ID, Some(POD))
        );
        assert_eq!(
            container_of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/\
                 kubepods-burstable-pod{POD_US}.slice/docker-{ID}.scope"
            )),
            container(Runtime::Docker, ID, Some(POD))
        );
    }

    #[test]
    fn kind_node_pod_inside_docker() {
        // A kind node is a Docker container; the pod's container is inner.
        assert_eq!(
            container_of(&format!("/docker/{ID2}/kubepods/burstable/pod{POD}/{ID}")),
            container(Runtime::Cri, ID, Some(POD))
        );
    }

    #[test]
    fn pod_without_container_or_kubepods() {
        // The pod's own cgroup is not a container.
        assert_eq!(container_of(&format!("/kubepods/burstable/pod{POD}")), None);
        // `pod…` outside kubepods is nothing.
        assert_eq!(container_of(&format!("/other/pod{POD}/{ID}")), None);
        // Bad pod uids.
        assert_eq!(
            container_of(&format!(
                "/kubepods/burstable/pod{}/{ID}",
                POD.to_uppercase()
            )),
            None
        );
        assert_eq!(
            container_of(&format!("/kubepods/burstable/pod8f0b5a1c-3d2e/{ID}")),
            None
        );
        assert_eq!(
            container_of(&format!(
                "/kubepods.slice/kubepods-weird-pod{POD_US}.slice/cri-containerd-{ID}.scope"
            )),
            container(Runtime::Containerd, ID, None)
        );
    }

    // --- container_of: CRI-O ----------------------------------------------

    #[test]
    fn crio_scope_and_cgroupfs() {
        assert_eq!(
            container_of(&format!("/system.slice/crio-{ID}.scope")),
            container(Runtime::CriO, ID, None)
        );
        assert_eq!(
            container_of(&format!("/kubepods/burstable/pod{POD}/crio-{ID}")),
            container(Runtime::CriO, ID, Some(POD))
        );
        // CRI-O on cgroup v2 may put the process in a child cgroup.
        assert_eq!(
            container_of(&format!("/system.slice/crio-{ID}.scope/container")),
            container(Runtime::CriO, ID, None)
        );
    }

    #[test]
    fn crio_conmon_is_not_a_container() {
        assert_eq!(
            container_of(&format!("/system.slice/crio-conmon-{ID}.scope")),
            None
        );
        assert_eq!(
            container_of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/\
                 kubepods-burstable-pod{POD_US}.slice/crio-conmon-{ID}.scope"
            )),
            None
        );
    }

    // --- container_of: Podman ---------------------------------------------

    #[test]
    fn podman_systemd_and_cgroupfs() {
        assert_eq!(
            container_of(&format!("/machine.slice/libpod-{ID}.scope")),
            container(Runtime::Podman, ID, None)
        );
        assert_eq!(
            container_of(&format!("/libpod_parent/libpod-{ID}")),
            container(Runtime::Podman, ID, None)
        );
        // Rootless, under the user's manager: still a container.
        assert_eq!(
            container_of(&format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
            )),
            container(Runtime::Podman, ID, None)
        );
        assert_eq!(
            container_of(&format!("/machine.slice/libpod-{ID}.scope/container")),
            container(Runtime::Podman, ID, None)
        );
    }

    #[test]
    fn podman_conmon_is_not_a_container() {
        assert_eq!(
            container_of(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
    }

    // --- container_of: systemd ----------------------------------------------

    #[test]
    fn systemd_services() {
        assert_eq!(
            container_of("/system.slice/nginx.service"),
            container(Runtime::Systemd, "nginx.service", None)
        );
        assert_eq!(
            container_of("/system.slice/system-getty.slice/getty@tty1.service"),
            container(Runtime::Systemd, "getty@tty1.service", None)
        );
        assert_eq!(
            container_of("/system.slice/docker.service"),
            container(Runtime::Systemd, "docker.service", None)
        );
        let c = container_of("/system.slice/nginx.service").expect("service");
        assert_eq!(c.short_id(), "nginx.service");
        assert_eq!(c.display_name(), "nginx.service");
    }

    #[test]
    fn systemd_non_services() {
        assert_eq!(container_of("/init.scope"), None);
        assert_eq!(
            container_of("/user.slice/user-1000.slice/session-3.scope"),
            None
        );
        assert_eq!(
            container_of("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"),
            None
        );
        assert_eq!(container_of("/system.slice"), None);
        assert_eq!(container_of("/system.slice/.service"), None);
        assert_eq!(container_of("/system.slice/a b.service"), None);
        assert_eq!(container_of("/system.slice/a\n.service"), None);
        let long = format!("/system.slice/{}.service", "a".repeat(UNIT_NAME_MAX));
        assert_eq!(container_of(&long), None);
        let max = format!("{}.service", "a".repeat(UNIT_NAME_MAX - ".service".len()));
        assert_eq!(
            container_of(&format!("/system.slice/{max}")),
            container(Runtime::Systemd, &max, None)
        );
    }

    // --- container_of: nothing / hostile ----------------------------------

    #[test]
    fn root_and_unknown_paths() {
        assert_eq!(container_of("/"), None);
        assert_eq!(container_of(""), None);
        assert_eq!(
            container_of("/process_api/04f66ef217feb40028c2dbc228c8b538"),
            None
        );
        assert_eq!(container_of(&format!("/elsewhere/{ID}")), None);
        assert_eq!(container_of(&format!("/{ID}")), None);
        assert_eq!(container_of("/docker"), None);
    }

    #[test]
    fn hostile_ids_are_rejected() {
        assert_eq!(container_of("/docker/../../etc"), None);
        assert_eq!(container_of("/docker/.."), None);
        assert_eq!(container_of(&format!("/docker/{}", &ID[..63])), None);
        assert_eq!(container_of(&format!("/docker/{ID}0")), None);
        assert_eq!(
            container_of(&format!("/docker/{}", ID.to_uppercase())),
            None
        );
        let non_hex = format!("{}g", &ID[..63]);
        assert_eq!(container_of(&format!("/docker/{non_hex}")), None);
        assert_eq!(
            container_of(&format!("/system.slice/docker-{non_hex}.scope")),
            None
        );
        assert_eq!(container_of(&format!("/docker/{ID}\n")), None);
        assert_eq!(
            container_of(&format!("/docker/{}\n{}", &ID[..32], &ID[32..])),
            None
        );
        assert_eq!(
            container_of(&format!("/system.slice/docker-{ID}\u{1b}[31m.scope")),
            None
        );
        assert_eq!(
            container_of(&format!("/system.slice/docker-{ID}.scope.evil")),
            None
        );
        // Multi-byte text where an id would be: no panic, no match.
        assert_eq!(container_of(&format!("/docker/{}", "é".repeat(32))), None);
        // A megabyte component.
        assert_eq!(
            container_of(&format!("/docker/{}", "a".repeat(1 << 20))),
            None
        );
    }

    #[test]
    fn short_and_display_names() {
        let mut c = container_of(&format!("/docker/{ID}")).expect("docker");
        assert_eq!(c.short_id(), "3f4e8d2c1b0a");
        assert_eq!(c.display_name(), "3f4e8d2c1b0a");
        c.name = Some("quirky_bell".to_string());
        assert_eq!(c.display_name(), "quirky_bell");
        assert_eq!(Runtime::CriO.to_string(), "cri-o");
    }

    // --- ns_pid -------------------------------------------------------------

    #[test]
    fn ns_pid_cases() {
        assert_eq!(
            ns_pid("Name:\tpython3\nNSpid:\t4242\t1\nNSpgid:\t4242\t1\n"),
            Some(1)
        );
        assert_eq!(ns_pid("NSpid:\t4242\n"), Some(4242));
        assert_eq!(ns_pid("NSpid:\t9\t7\t3\n"), Some(3));
        assert_eq!(ns_pid("Name:\tpython3\nPid:\t4242\n"), None);
        assert_eq!(ns_pid(""), None);
        assert_eq!(ns_pid("NSpid:\n"), None);
        assert_eq!(ns_pid("NSpid:\t4242\tx\n"), None);
        assert_eq!(ns_pid("NSpid:\t99999999999\n"), None);
        assert_eq!(ns_pid("NSpid:\t-1\n"), None);
        // The first line wins.
        assert_eq!(ns_pid("NSpid:\t5\nNSpid:\t6\n"), Some(5));
    }

    // --- docker_metadata ------------------------------------------------------

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("tachyon-container-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            Self(dir)
        }

        fn write_config(&self, id: &str, text: &str) -> PathBuf {
            let dir = self.0.join("containers").join(id);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let path = dir.join("config.v2.json");
            std::fs::write(&path, text).expect("write");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn config_json(id: &str, name: &str, image: &str) -> String {
        format!(
            r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Pid":4242,
"ExitCode":0,"StartedAt":"2025-01-01T00:00:00.000000000Z"}},"ID":"{id}",
"Created":"2025-01-01T00:00:00.000000000Z","Managed":false,
"Path":"python3","Args":["-m","http.server"],
"Config":{{"Hostname":"{short}","Domainname":"","User":"","Tty":false,
"Env":["PATH=/usr/local/bin:/usr/bin","PYTHON_VERSION=3.14.0"],
"Cmd":["python3","-m","http.server"],"Image":"{image}","Volumes":null,
"WorkingDir":"/app","Entrypoint":null,"Labels":{{}}}},
"Image":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
"Driver":"overlay2","Name":"{name}","RestartCount":0}}"#,
            short = &id[..12]
        )
    }

    #[test]
    fn docker_metadata_reads_name_and_image() {
        let root = TempDir::new("meta");
        root.write_config(ID, &config_json(ID, "/quirky_bell", "tachyon-py:3.14"));
        assert_eq!(
            docker_metadata(&root.0, ID),
            Some(("quirky_bell".to_string(), "tachyon-py:3.14".to_string()))
        );
        // Absent container, invalid ids.
        assert_eq!(docker_metadata(&root.0, ID2), None);
        assert_eq!(docker_metadata(&root.0, "../../etc"), None);
        assert_eq!(docker_metadata(&root.0, &ID.to_uppercase()), None);
        assert_eq!(
            docker_metadata(Path::new("/nonexistent-docker-root"), ID),
            None
        );
    }

    #[test]
    fn docker_metadata_rejects_bad_files() {
        let root = TempDir::new("bad");
        // Garbage.
        root.write_config(ID, "{not json");
        assert_eq!(docker_metadata(&root.0, ID), None);
        // Missing fields.
        root.write_config(ID, &format!(r#"{{"ID":"{ID}","Name":"/x"}}"#));
        assert_eq!(docker_metadata(&root.0, ID), None);
        root.write_config(ID, r#"{"Name":1,"Config":{"Image":"i"}}"#);
        assert_eq!(docker_metadata(&root.0, ID), None);
        // Another container's file.
        root.write_config(ID, &config_json(ID2, "/x", "i"));
        assert_eq!(docker_metadata(&root.0, ID), None);
        // Control characters in the name.
        root.write_config(ID, &config_json(ID, "/x\\u001b[2J", "i"));
        assert_eq!(docker_metadata(&root.0, ID), None);
        // Over 1 MiB (valid JSON, padded).
        let padded = format!(
            r#"{{"Pad":"{}","Name":"/x","Config":{{"Image":"i"}}}}"#,
            "a".repeat(METADATA_LIMIT as usize)
        );
        root.write_config(ID, &padded);
        assert_eq!(docker_metadata(&root.0, ID), None);
        // Deeply nested: serde_json's recursion limit, no stack overflow.
        root.write_config(ID, &"[".repeat(100_000));
        assert_eq!(docker_metadata(&root.0, ID), None);
        // No ID field is accepted.
        root.write_config(ID, r#"{"Name":"/x","Config":{"Image":"i"}}"#);
        assert_eq!(
            docker_metadata(&root.0, ID),
            Some(("x".to_string(), "i".to_string()))
        );
    }

    #[test]
    fn docker_metadata_does_not_follow_symlinks() {
        let root = TempDir::new("link");
        let target = root.write_config(ID2, &config_json(ID, "/x", "i"));
        let dir = root.0.join("containers").join(ID);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::os::unix::fs::symlink(&target, dir.join("config.v2.json")).expect("symlink");
        assert_eq!(docker_metadata(&root.0, ID), None);
    }

    // --- PlaceCache -----------------------------------------------------------

    #[test]
    fn cache_reads_each_container_once() {
        let root = TempDir::new("cache");
        let path = root.write_config(ID, &config_json(ID, "/quirky_bell", "tachyon-py:3.14"));
        let mut cache = PlaceCache::new(&root.0, 2);
        let expected = Some(("quirky_bell".to_string(), "tachyon-py:3.14".to_string()));
        assert_eq!(cache.docker_metadata(ID), expected);
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(cache.docker_metadata(ID), expected);
        assert_eq!(cache.reads, 1);
        // Failures are remembered too.
        assert_eq!(cache.docker_metadata(ID2), None);
        assert_eq!(cache.docker_metadata(ID2), None);
        assert_eq!(cache.reads, 2);
        assert_eq!(cache.len(), 2);
        // Bounded: a third container evicts the least recently used (ID).
        cache.docker_metadata(&"0".repeat(64));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.docker_metadata(ID), None);
        assert_eq!(cache.reads, 4);
    }

    // --- place_of -------------------------------------------------------------

    #[test]
    fn place_of_this_process() {
        let place = place_of(std::process::id(), Path::new(DEFAULT_DOCKER_ROOT));
        assert!(!place.cgroup.is_empty());
        assert!(place.cgroup.starts_with('/'));
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        let expected = cgroup_path(&own).expect("path");
        assert_eq!(place.cgroup, expected);
        // Whatever the machine, the container is what the path says.
        assert_eq!(
            place.container.map(|c| c.id),
            container_of(&expected).map(|c| c.id)
        );
        assert!(place.ns_pid.is_some());

        let mut cache = PlaceCache::new(DEFAULT_DOCKER_ROOT, DEFAULT_CACHE_CAPACITY);
        assert_eq!(cache.place_of(std::process::id()).cgroup, expected);
    }

    #[test]
    fn place_of_gone_process_is_empty() {
        // Beyond pid_max (at most 2^22).
        assert_eq!(
            place_of(u32::MAX, Path::new(DEFAULT_DOCKER_ROOT)),
            Place::default()
        );
    }

    #[test]
    fn filters_select_by_container_name_id_prefix_or_cgroup_subtree() {
        let id = "0123456789abcdef".repeat(4);
        let web = ProcessPlace {
            cgroup: format!("/docker/{id}"),
            container_id: id.clone(),
            container_name: "web".into(),
            ..Default::default()
        };
        let host = ProcessPlace {
            cgroup: "/system.slice/ssh.service".into(),
            ..Default::default()
        };
        let c = |s: &str| PlaceFilter::Container(s.into());
        assert!(c("web").matches(&web));
        assert!(c(&id).matches(&web));
        assert!(c("0123456789ab").matches(&web));
        assert!(!c("01").matches(&web), "too short a prefix");
        assert!(!c("db").matches(&web));
        assert!(!c("web").matches(&host));
        let g = |s: &str| PlaceFilter::Cgroup(s.into());
        assert!(g("/docker").matches(&web));
        assert!(g("/docker/").matches(&web));
        assert!(g(&format!("/docker/{id}")).matches(&web));
        assert!(
            !g("/dock").matches(&web),
            "a prefix of a name is not a parent"
        );
        assert!(g("/system.slice").matches(&host));
        assert!(!g("/docker").matches(&host));
        assert!(g("/").matches(&host));
    }

    #[test]
    fn places_convert_to_what_the_profile_keeps() {
        let id = "ab".repeat(32);
        let place = Place {
            cgroup: format!("/docker/{id}"),
            container: container_of(&format!("/docker/{id}")),
            ns_pid: Some(7),
        };
        let p = place.to_profile();
        assert_eq!(p.container_id, id);
        assert_eq!(
            p.container_name, "abababababab",
            "no name known: the short id"
        );
        assert_eq!((p.ns_pid, p.pod_uid.as_str()), (7, ""));
        assert_eq!(Place::default().to_profile(), ProcessPlace::default());
    }
}
