//! Kernel symbols from `/proc/kallsyms`, for `--kernel` stacks.

/// Sorted kernel symbols.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    syms: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Loads `/proc/kallsyms` (addresses are visible to root).
    pub fn load() -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string("/proc/kallsyms")?))
    }

    /// Parses kallsyms text: `ffffffff81000000 T _stext [module]`.
    pub fn parse(text: &str) -> Self {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?;
                let name = it.next()?;
                (addr != 0 && matches!(kind, "T" | "t" | "W" | "w"))
                    .then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable();
        Self { syms }
    }

    /// The function containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        (i > 0).then(|| self.syms[i - 1].1.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_enclosing_function() {
        let k = KernelSymbols::parse(
            "ffffffff81000100 T vfs_write\nffffffff81000000 T do_syscall_64\nffffffff81000200 d some_data\n0000000000000000 T hidden\n",
        );
        assert_eq!(k.lookup(0xffffffff81000010), Some("do_syscall_64"));
        assert_eq!(k.lookup(0xffffffff81000150), Some("vfs_write"));
        assert_eq!(k.lookup(0xffffffff81000250), Some("vfs_write"));
        assert_eq!(k.lookup(0x10), None);
    }
}
