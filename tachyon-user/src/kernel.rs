//! Facts about the running kernel: privileges, BTF layout of `task_struct`,
//! tracepoint record layouts.

use btf_rs::{Btf, Type};

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Where kernel BTF is read from: `TACHYON_VMLINUX_BTF` if set (tests use it
/// to exercise the no-BTF error), else the kernel's own.
fn vmlinux_btf() -> String {
    std::env::var("TACHYON_VMLINUX_BTF").unwrap_or_else(|_| VMLINUX_BTF.to_string())
}

/// What the kernel does not give us.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("tachyon-bpf needs root, or the CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE capabilities (run it with sudo)")]
    Privileges,
    #[error("this kernel has no BTF ({0} is missing); tachyon-bpf needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")]
    NoBtf(String),
    #[error("cannot read kernel BTF from {0}: {1}")]
    Btf(String, String),
    #[error("kernel BTF has no {0}")]
    MissingField(String),
    #[error("cannot read the tracepoint format of {0}: {1}")]
    Tracepoint(String, String),
}

/// Capability bits in `CapEff`.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Checks that this process may load BPF programs, open perf events and read
/// other processes' memory.
pub fn check_privileges() -> Result<(), KernelError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |c: u32| cap_eff & (1u64 << c) != 0;
    let bpf = has(CAP_BPF) || has(CAP_SYS_ADMIN);
    let perf = has(CAP_PERFMON) || has(CAP_SYS_ADMIN);
    if bpf && perf && has(CAP_SYS_PTRACE) {
        Ok(())
    } else {
        Err(KernelError::Privileges)
    }
}

/// Byte offset of `task_struct.thread.fsbase`, from vmlinux BTF.
pub fn task_fsbase_offset() -> Result<u32, KernelError> {
    let path = vmlinux_btf();
    if !std::path::Path::new(&path).exists() {
        return Err(KernelError::NoBtf(path));
    }
    let btf = Btf::from_file(&path).map_err(|e| KernelError::Btf(path.clone(), e.to_string()))?;
    let thread = member_offset(&btf, "task_struct", "thread")?;
    let fsbase = member_offset(&btf, "thread_struct", "fsbase")?;
    Ok(thread + fsbase)
}

fn member_offset(btf: &Btf, strukt: &str, field: &str) -> Result<u32, KernelError> {
    let missing = || KernelError::MissingField(format!("{strukt}.{field}"));
    let types = btf.resolve_types_by_name(strukt).map_err(|_| missing())?;
    for t in types {
        let Type::Struct(s) = t else { continue };
        for m in &s.members {
            if btf.resolve_name(m).ok().as_deref() == Some(field) {
                return Ok(m.bit_offset() / 8);
            }
        }
    }
    Err(missing())
}

/// Offset of a field in a tracepoint record, from its `format` file.
pub fn tracepoint_field_offset(
    category: &str,
    name: &str,
    field: &str,
) -> Result<u32, KernelError> {
    let tp = format!("{category}/{name}");
    let text = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .find_map(|root| std::fs::read_to_string(format!("{root}/events/{tp}/format")).ok())
        .ok_or_else(|| {
            KernelError::Tracepoint(tp.clone(), "no format file (is tracefs mounted?)".into())
        })?;
    parse_format_offset(&text, field)
        .ok_or_else(|| KernelError::Tracepoint(tp, format!("no field {field}")))
}

/// Finds `offset:N;` on the line declaring `field`.
fn parse_format_offset(text: &str, field: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let decl = l.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let name = decl.split_whitespace().last()?;
        if name != field {
            return None;
        }
        let off = rest.trim().strip_prefix("offset:")?;
        off.split(';').next()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_offsets_parse() {
        let text = "\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n";
        assert_eq!(parse_format_offset(text, "child_pid"), Some(20));
        assert_eq!(parse_format_offset(text, "parent_pid"), Some(12));
        assert_eq!(parse_format_offset(text, "nope"), None);
    }
}
