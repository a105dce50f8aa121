//! Issue #13: a process is Python because of what it maps (CPython's
//! runtime), not because of a file name; its version is the binary's own.
//! Renamed interpreters, a C program that links CPython statically, and a
//! binary whose name claims another version.

use std::path::{Path, PathBuf};
use std::process::Command;

use tachyon_e2e::*;

/// `cpu_split.py` started by `program` (with `env`), found by
/// `--all-python` among whatever else runs: its shares are right and its
/// process frame carries the program's own name.
fn found_by_all_python(label: &str, program: &Path, env: &[(&str, &Path)]) {
    let w = Workload::start_with_env(program, "cpu_split.py", &["30"], env);
    let pid = w.pid().to_string();
    let (stacks, stderr) = cpu_profile(label, &["--all-python"]);
    let name = program
        .file_name()
        .and_then(|n| n.to_str())
        .expect("program name");
    let root = format!("{name} (pid {pid})");
    assert!(
        stacks.iter().any(|s| s.frames[0] == root),
        "{label}: no stack rooted at {root:?}\n{}",
        stderr
    );
    assert_cpu_split(label, &w.first_line, &pid, &stacks, &stderr, false);
}

/// A copy of `label`'s interpreter under another name, in a fresh dir.
fn renamed_copy(label: &'static str, dir: &TempDir, name: &str) -> Option<PathBuf> {
    let py = interpreter(label);
    if !require_profiler() || !py.require() {
        return None;
    }
    let copy = dir.0.join(name);
    std::fs::copy(&py.path, &copy).expect("copy the interpreter");
    Some(copy)
}

/// Debian sid's 3.14 is one static executable; renamed, no file it maps
/// says "python" (it finds its stdlib through PYTHONHOME).
#[test]
fn a_renamed_static_3_14_is_found() {
    let dir = TempDir::new("renamed-3.14");
    let Some(copy) = renamed_copy("3.14", &dir, "app-server") else {
        return;
    };
    let py = interpreter("3.14");
    let home = py.path.parent().and_then(Path::parent).expect("<root>/usr");
    found_by_all_python("3.14 as app-server", &copy, &[("PYTHONHOME", home)]);
}

/// pyenv's 3.12 is a launcher plus libpython: the renamed launcher maps
/// the library after exec.
#[test]
fn a_renamed_3_12_launcher_is_found() {
    let dir = TempDir::new("renamed-3.12");
    let Some(copy) = renamed_copy("3.12", &dir, "app-server") else {
        return;
    };
    found_by_all_python("3.12 as app-server", &copy, &[]);
}

/// A C program that links `libpython3.12.a` (the archive pyenv installs)
/// and runs the script: CPython inside an executable called `app-embed`.
#[test]
fn a_program_linking_cpython_statically_is_found() {
    let py = interpreter("3.12");
    if !require_profiler() || !py.require() || !require(which("cc"), "a C compiler (cc)") {
        return;
    }
    let dir = TempDir::new("embed");
    let paths = Command::new(&py.path)
        .args([
            "-c",
            "import sysconfig as s; v = s.get_config_var; \
             print(s.get_paths()['include']); print(v('LIBPL') + '/' + v('LIBRARY'))",
        ])
        .output()
        .expect("ask sysconfig");
    let paths = String::from_utf8_lossy(&paths.stdout).to_string();
    let mut lines = paths.lines();
    let (include, archive) = (lines.next().expect("include"), lines.next().expect("lib"));
    assert!(
        Path::new(archive).exists(),
        "no static libpython at {archive}"
    );
    let source = dir.0.join("embed.c");
    std::fs::write(
        &source,
        "#include <Python.h>\n\
         int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n",
    )
    .expect("write embed.c");
    let exe = dir.0.join("app-embed");
    let cc = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .arg(format!("-I{include}"))
        .arg(archive)
        // Exported, as embedders that load extension modules do.
        .args(["-lm", "-ldl", "-lpthread", "-lutil", "-rdynamic"])
        .output()
        .expect("run cc");
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    found_by_all_python("3.12 linked into app-embed", &exe, &[]);
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Debian's static 3.11 copied as `python3.12`: the binary's `Py_Version`
/// wins over the name, so it is profiled with 3.11's layout (right stacks)
/// and reported as 3.11.
#[test]
fn a_binary_named_for_another_version_is_profiled_as_what_it_is() {
    let dir = TempDir::new("misnamed");
    let Some(fake) = renamed_copy("3.11-debian", &dir, "python3.12") else {
        return;
    };
    let w = Workload::start(&fake, "cpu_split.py", &["30"]);
    let pid = w.pid().to_string();
    let (stacks, stderr) = cpu_profile("3.11 as python3.12", &["--pid", &pid]);
    assert_cpu_split(
        "3.11 as python3.12",
        &w.first_line,
        &pid,
        &stacks,
        &stderr,
        true,
    );

    let run = profile(&["--pid", &pid, "--duration", "1"], "jsonl");
    assert!(run.output.status.success(), "{}", run.stderr);
    let text = run.profile.unwrap_or_default();
    let header: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or("")).expect("jsonl header");
    let version = header["processes"][0]["version"].as_str().unwrap_or("");
    assert!(
        version.starts_with("3.11."),
        "reported as {version:?}: {header}"
    );
}
