//! Points `TACHYON_EBPF_OBJECT` at the kernel object built by
//! `cargo xtask build-ebpf`, and fails with instructions when it is missing.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let obj = std::env::var("TACHYON_EBPF_OBJECT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            manifest.join("../tachyon-ebpf/target/bpfel-unknown-none/release/tachyon")
        });
    println!("cargo:rerun-if-env-changed=TACHYON_EBPF_OBJECT");
    println!("cargo:rerun-if-changed={}", obj.display());
    if !obj.exists() {
        panic!(
            "the eBPF object {} is missing: build it first with `cargo xtask build-ebpf` \
             (or run `cargo xtask build`, which does both)",
            obj.display()
        );
    }
    println!("cargo:rustc-env=TACHYON_EBPF_OBJECT={}", obj.display());
}
