//! Everything that knows CPython: ELF inspection, versions, offsets, memory
//! reading and line tables.

pub mod asyncio_offsets;
pub mod debug_offsets;
pub mod dict_layout;
pub mod dicts;
pub mod layout;
pub mod linetable;
pub mod memory;
pub mod objects;
pub mod opcodes;
pub mod process;
pub mod tasks;
pub mod thread_names;
pub mod walker;
