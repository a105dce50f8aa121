//! Build, run and test helpers: `cargo xtask <command>`.
//!
//! Everything the project needs is installed here, pinned, into the
//! checkout's git-ignored `.tools/` and `.cache/`: the nightly toolchain with
//! `rust-src`, `bpf-linker` linked against that nightly's LLVM, and the
//! CPython interpreters the tests profile.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// Nightly toolchain that compiles the eBPF crate (pinned).
const NIGHTLY: &str = "nightly-2026-05-19";
/// bpf-linker version (pinned), built against `NIGHTLY`'s libLLVM.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Stable toolchain for everything else (pinned; also in rust-toolchain.toml).
const STABLE: &str = "1.95.0";

#[derive(Parser)]
#[command(name = "xtask")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the eBPF object (installs the nightly toolchain and bpf-linker if missing).
    BuildEbpf,
    /// Build the eBPF object and the release `tachyon-bpf` binary.
    Build,
    /// Build, then run `tachyon-bpf` with the given arguments (via sudo when not root).
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Provision the CPython interpreters the tests use into `.cache/pythons`.
    Provision,
    /// Everything CI checks: format, lints, unit tests and end-to-end tests.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, provision, then run the benchmark suite against py-spy and
    /// Tachyon (`bench/run.py`; e.g. `--quick`, `--reps N`, `--only WORKLOAD`).
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd.get_program());
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Installs the pinned nightly with rust-src (build-std) and clippy when missing.
fn ensure_nightly() -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        NIGHTLY,
    ]))
    .unwrap_or_default();
    let has = |c: &str| installed.lines().any(|l| l.starts_with(c));
    if !has("rust-src") || !has("clippy") {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            NIGHTLY,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
            "--component",
            "clippy",
        ]))?;
    }
    Ok(())
}

/// Builds bpf-linker against the nightly's own libLLVM when missing; returns its bin dir.
fn ensure_bpf_linker() -> Result<PathBuf> {
    let tools = root().join(".tools").join(format!("bpf-linker-{NIGHTLY}"));
    let bin = tools.join("bin");
    if bin.join("bpf-linker").exists() {
        return Ok(bin);
    }
    let sysroot =
        output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]))?;
    let lib = Path::new(&sysroot).join("lib");
    let llvm_lib = std::fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.starts_with("libLLVM-") && n.ends_with(".so"))
        .context("the nightly ships no libLLVM-*.so")?;
    let llvm_lib = llvm_lib
        .trim_start_matches("lib")
        .trim_end_matches(".so")
        .to_string();
    let vv = output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "-vV"]))?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("no LLVM version in rustc -vV")?
        .to_string();
    let rustflags = format!(
        "-L native={0} -l dylib={llvm_lib} -C link-arg=-Wl,-rpath,{0}",
        lib.display()
    );
    run(Command::new("cargo")
        .args([
            &format!("+{STABLE}"),
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            &format!("llvm-{major},no-llvm-linking"),
            "--root",
        ])
        .arg(&tools)
        .env("RUSTFLAGS", rustflags))?;
    Ok(bin)
}

fn ebpf_command(linker_bin: &Path, subcommand: &str) -> Command {
    let mut cmd = Command::new("cargo");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.current_dir(root().join("tachyon-ebpf"))
        .args([&format!("+{NIGHTLY}"), subcommand])
        .args([
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--release",
        ])
        .env("PATH", format!("{}:{path}", linker_bin.display()))
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            [
                "--cfg=bpf_target_arch=\"x86_64\"",
                "-C",
                "debuginfo=2",
                "-C",
                "link-arg=--btf",
                "-C",
                "link-arg=--disable-expand-memcpy-in-order",
            ]
            .join("\x1f"),
        )
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    cmd
}

fn build_ebpf() -> Result<()> {
    ensure_nightly()?;
    let bin = ensure_bpf_linker()?;
    run(&mut ebpf_command(&bin, "build"))
}

fn build_release() -> Result<PathBuf> {
    build_ebpf()?;
    run(Command::new("cargo").current_dir(root()).args([
        "build",
        "--release",
        "-p",
        "tachyon-user",
    ]))?;
    Ok(root().join("target/release/tachyon-bpf"))
}

/// Interpreters the tests profile, the real consumers the output-format
/// tests check files with (npm speedscope schema, Python protobuf, Go's
/// pprof), and tmux for the live view's tests. Returns
/// what the interpreter provisioning printed: each interpreter with its
/// version, and the exact Debian sid package versions used.
fn provision() -> Result<String> {
    let pythons = provision_pythons()?;
    for script in [
        "scripts/install-consumers.sh",
        "scripts/install-consumers-py.sh",
        "scripts/install-pprof.sh",
        // tmux, for the live view's tests (tests/tests/top.rs).
        "scripts/install-tmux.sh",
        // Docker (started here when no daemon runs) and the container
        // test images; `test` stops a daemon it started.
        "scripts/provision-docker.sh",
    ] {
        run(Command::new("bash").arg(root().join(script)))?;
    }
    Ok(pythons)
}

/// `scripts/provision-pythons.sh`: progress on stderr, the summary on
/// stdout (echoed, and returned).
fn provision_pythons() -> Result<String> {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/provision-pythons.sh"));
    eprintln!("xtask: {cmd:?}");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot start scripts/provision-pythons.sh")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        bail!("scripts/provision-pythons.sh failed with {}", out.status);
    }
    Ok(text)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn test(extra: &[String]) -> Result<()> {
    let r = root();
    let bin = build_release()?;
    let pythons = provision()?;
    let result = checks(&r, &bin, extra);
    // Stops only a Docker daemon that provisioning started.
    let _ = run(Command::new("bash")
        .arg(r.join("scripts/provision-docker.sh"))
        .arg("--stop"));
    result?;
    // Which interpreters (and which sid uploads) this run tested.
    println!("xtask: interpreters tested:");
    for line in pythons.lines() {
        println!("  {line}");
    }
    Ok(())
}

/// Format, lints, unit and end-to-end tests.
fn checks(r: &Path, bin: &Path, extra: &[String]) -> Result<()> {
    run(Command::new("cargo")
        .current_dir(r)
        .args(["fmt", "--all", "--check"]))?;
    run(Command::new("cargo").current_dir(r).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let linker = ensure_bpf_linker()?;
    let mut clippy_ebpf = ebpf_command(&linker, "clippy");
    clippy_ebpf.args(["--", "-D", "warnings"]);
    run(&mut clippy_ebpf)?;
    run(Command::new("cargo")
        .current_dir(r)
        .args(["test", "--release", "--workspace"])
        .args(extra)
        // One end-to-end test at a time: each loads its own sampler and
        // measures shares on a 2-core machine.
        .args(["--", "--test-threads=1"])
        .env("TACHYON_BIN", bin)
        .env("TACHYON_ROOT", r))?;
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().cmd {
        Cmd::BuildEbpf => build_ebpf(),
        Cmd::Build => build_release().map(|_| ()),
        Cmd::Run { args } => {
            let bin = build_release()?;
            let mut cmd = if is_root() {
                Command::new(&bin)
            } else {
                let mut c = Command::new("sudo");
                c.arg(&bin);
                c
            };
            cmd.args(&args);
            run(&mut cmd)
        }
        Cmd::Provision => provision().map(|_| ()),
        Cmd::Test { args } => test(&args),
        Cmd::Bench { args } => {
            build_release()?;
            provision_pythons()?;
            // The harness is stdlib-only and meant for the system python3.
            let py = if Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3"
            } else {
                "python3"
            };
            let mut cmd = if is_root() {
                Command::new(py)
            } else {
                let mut c = Command::new("sudo");
                c.arg(py);
                c
            };
            cmd.arg(root().join("bench/run.py")).args(&args);
            run(&mut cmd)
        }
    }
}
