//! What a process controls in /proc text: maps lines (file names), cgroup
//! files (cgroup names), NSpid lines, and the container found in a path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon::container::{cgroup_path, container_of, ns_pid};
use tachyon::procfs::parse_maps_line;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = parse_maps_line(line);
    }
    if let Some(path) = cgroup_path(&text) {
        assert!(!path.chars().any(char::is_control));
        let _ = container_of(&path);
    }
    let _ = container_of(&text);
    let _ = ns_pid(&text);
});
