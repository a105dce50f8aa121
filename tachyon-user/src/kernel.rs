//! Facts about the running kernel: privileges, the BTF layout of
//! `task_struct` and the arguments of the scheduler tracepoints. Everything
//! comes from vmlinux BTF; nothing needs tracefs or debugfs.

use btf_rs::{Backend, Btf, Type};

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Where kernel BTF is read from: `TACHYON_VMLINUX_BTF` if set (tests use it
/// to exercise the no-BTF error), else the kernel's own.
fn vmlinux_btf() -> String {
    std::env::var("TACHYON_VMLINUX_BTF").unwrap_or_else(|_| VMLINUX_BTF.to_string())
}

/// What the kernel does not give us.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("tachyon-bpf needs root (run it with sudo), or the capabilities CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_CHECKPOINT_RESTORE and CAP_DAC_READ_SEARCH; missing: {0}")]
    Privileges(String),
    #[error("this kernel has no BTF ({0} is missing); tachyon-bpf needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")]
    NoBtf(String),
    #[error("cannot read kernel BTF from {0}: {1}")]
    Btf(String, String),
    #[error("kernel BTF has no {0}")]
    MissingField(String),
    #[error("kernel tracepoint {name} has arguments ({found}); tachyon-bpf expects ({expected})")]
    TracepointArgs {
        name: &'static str,
        found: String,
        expected: String,
    },
}

/// Capability bits in `CapEff`.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;
const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// Checks that this process may load BPF programs, open perf events and read
/// other processes' memory.
pub fn check_privileges() -> Result<(), KernelError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    missing_capabilities(cap_eff).map_or(Ok(()), |missing| {
        Err(KernelError::Privileges(missing.join(", ")))
    })
}

/// The capabilities `cap_eff` lacks, by name; `None` when it has them all.
/// BPF programs and perf events need CAP_BPF and CAP_PERFMON; reading other
/// processes' memory CAP_SYS_PTRACE; opening their binaries through
/// `/proc/PID/map_files` CAP_CHECKPOINT_RESTORE (and, for processes of other
/// users, whose map_files folder is theirs alone, CAP_DAC_READ_SEARCH).
/// CAP_SYS_ADMIN stands for CAP_BPF, CAP_PERFMON and CAP_CHECKPOINT_RESTORE.
fn missing_capabilities(cap_eff: u64) -> Option<Vec<&'static str>> {
    let has = |c: u32| cap_eff & (1u64 << c) != 0;
    let admin = has(CAP_SYS_ADMIN);
    let mut missing = Vec::new();
    for (cap, name, admin_covers) in [
        (CAP_BPF, "CAP_BPF", true),
        (CAP_PERFMON, "CAP_PERFMON", true),
        (CAP_SYS_PTRACE, "CAP_SYS_PTRACE", false),
        (CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE", true),
        (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", false),
    ] {
        if !(has(cap) || (admin && admin_covers)) {
            missing.push(name);
        }
    }
    (!missing.is_empty()).then_some(missing)
}

/// What the eBPF programs need to know about this kernel, from vmlinux BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelLayout {
    /// `task_struct.thread.fsbase`.
    pub task_fsbase: u32,
    /// `task_struct.pid`.
    pub task_pid: u32,
    /// `task_struct.tgid`.
    pub task_tgid: u32,
    /// `task_struct.__state` (`state` before 5.14).
    pub task_state: u32,
    /// `sched_switch` passes `prev_state` as its fourth argument (5.18+).
    pub switch_state_arg: bool,
}

/// The tracepoint arguments the programs read, by position (the first,
/// `void *__data`, is not passed to a raw tracepoint program). A trailing `?`
/// marks an argument that newer kernels add.
const TRACEPOINT_ARGS: [(&str, &[&str]); 4] = [
    ("sched_switch", &["preempt", "prev", "next", "prev_state?"]),
    ("sched_process_fork", &["parent", "child"]),
    ("sched_process_exec", &[]),
    ("sched_process_exit", &[]),
];

/// Reads the layout from vmlinux BTF (`TACHYON_VMLINUX_BTF` overrides the
/// path) and checks the tracepoints' arguments.
pub fn kernel_layout() -> Result<KernelLayout, KernelError> {
    let path = vmlinux_btf();
    if !std::path::Path::new(&path).exists() {
        return Err(KernelError::NoBtf(path));
    }
    // Mapped, not parsed into memory: a handful of lookups do not need the
    // tens of MiB a full parse of vmlinux BTF takes (kernels that cannot
    // map it get the parse).
    let btf = Btf::from_file_with_backend(&path, Backend::Mmap)
        .or_else(|_| Btf::from_file(&path))
        .map_err(|e| KernelError::Btf(path.clone(), e.to_string()))?;
    let thread = member_offset(&btf, "task_struct", "thread")?;
    let fsbase = member_offset(&btf, "thread_struct", "fsbase")?;
    let task_state = member_offset(&btf, "task_struct", "__state")
        .or_else(|_| member_offset(&btf, "task_struct", "state"))?;
    let mut switch_state_arg = false;
    for (name, expected) in TRACEPOINT_ARGS {
        let found = tracepoint_args(&btf, name)?;
        if !args_match(&found, expected) {
            return Err(KernelError::TracepointArgs {
                name,
                found: found.join(", "),
                expected: expected.join(", "),
            });
        }
        if name == "sched_switch" {
            switch_state_arg = found.get(3).map(String::as_str) == Some("prev_state");
        }
    }
    Ok(KernelLayout {
        task_fsbase: thread + fsbase,
        task_pid: member_offset(&btf, "task_struct", "pid")?,
        task_tgid: member_offset(&btf, "task_struct", "tgid")?,
        task_state,
        switch_state_arg,
    })
}

/// Whether the argument names `found` start with the `expected` ones (an
/// expected name ending in `?` may be absent, and only at the end).
fn args_match(found: &[String], expected: &[&str]) -> bool {
    expected
        .iter()
        .enumerate()
        .all(|(i, e)| match e.strip_suffix('?') {
            Some(optional) => found.get(i).is_none_or(|f| f == optional),
            None => found.get(i).is_some_and(|f| f == e),
        })
}

/// Argument names of a raw tracepoint, without the leading `void *__data`:
/// from its probe function `__bpf_trace_<name>` (whose parameters are
/// named), else from its `btf_trace_<name>` typedef, whose prototype has
/// the same parameters but may leave them unnamed (`""` then).
fn tracepoint_args(btf: &Btf, name: &str) -> Result<Vec<String>, KernelError> {
    let missing = || KernelError::MissingField(format!("tracepoint {name} (btf_trace_{name})"));
    let proto = btf
        .resolve_types_by_name(&format!("__bpf_trace_{name}"))
        .ok()
        .into_iter()
        .flatten()
        .find_map(|t| match t {
            Type::Func(f) => match btf.resolve_chained_type(&f) {
                Ok(Type::FuncProto(p)) => Some(p),
                _ => None,
            },
            _ => None,
        });
    let proto = match proto {
        Some(p) => p,
        None => {
            let types = btf
                .resolve_types_by_name(&format!("btf_trace_{name}"))
                .map_err(|_| missing())?;
            let Some(Type::Typedef(td)) = types.into_iter().next() else {
                return Err(missing());
            };
            let Ok(Type::Ptr(ptr)) = btf.resolve_chained_type(&td) else {
                return Err(missing());
            };
            let Ok(Type::FuncProto(proto)) = btf.resolve_chained_type(&ptr) else {
                return Err(missing());
            };
            proto
        }
    };
    Ok(proto
        .parameters
        .iter()
        .skip(1)
        .map(|p| btf.resolve_name(p).unwrap_or_default())
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn privileges_name_what_is_missing() {
        let bit = |c: u32| 1u64 << c;
        assert_eq!(missing_capabilities(u64::MAX), None, "root");
        let narrow = bit(CAP_BPF)
            | bit(CAP_PERFMON)
            | bit(CAP_SYS_PTRACE)
            | bit(CAP_CHECKPOINT_RESTORE)
            | bit(CAP_DAC_READ_SEARCH);
        assert_eq!(missing_capabilities(narrow), None);
        let admin = bit(CAP_SYS_ADMIN) | bit(CAP_SYS_PTRACE) | bit(CAP_DAC_READ_SEARCH);
        assert_eq!(missing_capabilities(admin), None);
        // The old check passed this set; map_files then fails.
        let old = bit(CAP_BPF) | bit(CAP_PERFMON) | bit(CAP_SYS_PTRACE);
        assert_eq!(
            missing_capabilities(old),
            Some(vec!["CAP_CHECKPOINT_RESTORE", "CAP_DAC_READ_SEARCH"])
        );
        assert_eq!(missing_capabilities(0).map(|m| m.len()), Some(5));
    }

    #[test]
    fn tracepoint_args_match_with_optional_tail() {
        let exp = &["preempt", "prev", "next", "prev_state?"];
        assert!(args_match(
            &names(&["preempt", "prev", "next", "prev_state"]),
            exp
        ));
        assert!(args_match(&names(&["preempt", "prev", "next"]), exp));
        assert!(!args_match(&names(&["prev", "next"]), exp));
        assert!(!args_match(&names(&["preempt", "next", "prev"]), exp));
        assert!(!args_match(
            &names(&["preempt", "prev", "next", "flags"]),
            exp
        ));
        assert!(args_match(&names(&["p", "old_pid", "bprm"]), &[]));
    }

    /// The running kernel's BTF (every test machine has one: the product
    /// requires it) yields a layout the programs can use.
    #[test]
    fn this_kernel_has_a_layout() {
        let l = kernel_layout().expect("vmlinux BTF layout");
        assert!(l.task_pid > 0 && l.task_tgid == l.task_pid + 4, "{l:?}");
        assert!(l.task_fsbase > l.task_tgid, "{l:?}");
    }
}
