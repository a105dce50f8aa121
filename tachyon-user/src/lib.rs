//! tachyon-bpf: a system-wide eBPF sampling profiler for CPython 3.8–3.15.
//!
//! The binary (`src/main.rs`) wires these modules together; each owns one thing.

pub mod asleep;
pub mod assembly;
pub mod async_stacks;
pub mod bpf;
pub mod budget;
pub mod cli;
pub mod container;
pub mod drain;
pub mod dump;
pub mod engine;
pub mod export;
pub mod filecache;
pub mod kallsyms;
pub mod kernel;
pub mod launch;
pub mod memory;
pub mod mode;
pub mod native;
pub mod output;
pub mod priority;
pub mod procfs;
pub mod profile;
pub mod progress;
pub mod python;
pub mod record;
pub mod report;
pub mod session;
pub mod sink;
pub mod states;
pub mod summary;
pub mod symbolize;
pub mod thread_book;
pub mod top;
pub mod tracker;
