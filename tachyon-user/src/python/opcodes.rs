//! Which instruction a frame was executing (`--opcodes`).
//!
//! The names are data: one table per minor version in [`tables`], generated
//! by `scripts/gen-opcodes.py` from each interpreter's own `dis`/`opcode`
//! modules. Each row is `(byte, name, family, inline cache entries)`: the
//! specialised forms of 3.11+ (`BINARY_OP_ADD_INT`) name their family
//! (`BINARY_OP`), so a profile can show what ran and still be grouped by
//! instruction.
//!
//! The bytecode comes from another process: every function here works on
//! arbitrary bytes and answers `None` for what it cannot decode, never a
//! panic or a guess.

mod tables;

/// Name of the prefix instruction that widens the next one's argument.
const EXTENDED_ARG: &str = "EXTENDED_ARG";

/// One instruction as the interpreter names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opcode {
    /// The byte in the bytecode.
    pub byte: u8,
    /// Its name, specialised form included (`BINARY_OP_ADD_INT`).
    pub name: &'static str,
    /// The instruction it specialises (`BINARY_OP`); its own name when it
    /// is not a specialised form.
    pub family: &'static str,
    /// Inline cache code units that follow it (3.11+).
    caches: u8,
}

/// The opcodes of one minor version.
#[derive(Clone, Copy, Debug)]
pub struct OpcodeTable {
    rows: &'static [(u8, &'static str, &'static str, u8)],
}

impl OpcodeTable {
    /// The table of CPython 3.`minor`, if this build has one.
    pub fn for_minor(minor: u32) -> Option<Self> {
        tables::table_for(minor).map(|rows| OpcodeTable { rows })
    }

    /// The instruction whose byte is `byte`; `None` for a byte the
    /// interpreter does not execute.
    pub fn get(&self, byte: u8) -> Option<Opcode> {
        let i = self.rows.binary_search_by_key(&byte, |r| r.0).ok()?;
        let (byte, name, family, caches) = self.rows[i];
        Some(Opcode {
            byte,
            name,
            family,
            caches,
        })
    }

    /// The instruction executing when a frame stands at byte offset `addr`
    /// of `bytecode` (the address the line table takes: `f_lasti` on
    /// 3.8/3.9, twice the code-unit index after).
    ///
    /// The bytecode is decoded from its start, so an address inside an
    /// instruction's inline caches (where 3.11 and 3.12 leave a calling
    /// frame's pointer) is that instruction, and an `EXTENDED_ARG` prefix
    /// (where 3.8–3.10 leave `f_lasti` while the instruction it extends
    /// runs) is the instruction it extends. `None` when the address lies
    /// outside the bytecode or past a byte this table does not know (its
    /// cache size, hence where the next instruction starts, is unknown).
    pub fn instruction_at(&self, bytecode: &[u8], addr: usize) -> Option<Instruction> {
        let mut pos = 0usize;
        let mut prefix: Option<usize> = None;
        while pos < bytecode.len() && (pos <= addr || prefix.is_some()) {
            let op = self.get(bytecode[pos])?;
            let size = 2 * (1 + usize::from(op.caches));
            if op.family == EXTENDED_ARG {
                prefix.get_or_insert(pos);
                pos += size;
                continue;
            }
            let start = prefix.take().unwrap_or(pos);
            if (start..pos + size).contains(&addr) {
                return Some(Instruction { start: pos, op });
            }
            pos += size;
        }
        None
    }

    /// The instruction a sample saw at byte offset `addr`: `live` is the
    /// byte the kernel read at the frame's instruction pointer at sample
    /// time (3.11+, the leaf frame), which names the specialised form that
    /// ran; `bytecode` is the code object's bytecode as read later (the
    /// specialised forms it held then). The live byte wins where the
    /// address is the start of an instruction of the bytecode and the byte
    /// is a known instruction of the same family (not a prefix); an address
    /// inside caches or prefixes is the instruction the bytecode has there.
    pub fn resolve(&self, bytecode: &[u8], addr: i32, live: Option<u8>) -> Option<Opcode> {
        let addr = usize::try_from(addr).ok()?;
        let live = live
            .and_then(|b| self.get(b))
            .filter(|op| op.family != EXTENDED_ARG);
        match self.instruction_at(bytecode, addr) {
            // Specialising and deoptimising keep the family: a live byte
            // of another family is not this instruction (the bytecode was
            // read elsewhere than the kernel read), so the bytecode wins.
            Some(inst) if inst.start == addr => live
                .filter(|l| l.family == inst.op.family)
                .or(Some(inst.op)),
            Some(inst) => Some(inst.op),
            // Bytecode not read (or not decodable): the live byte alone.
            None if bytecode.is_empty() => live,
            None => None,
        }
    }
}

/// An instruction found in bytecode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Byte offset of the instruction itself (after any `EXTENDED_ARG`).
    pub start: usize,
    pub op: Opcode,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(minor: u32, byte: u8) -> Option<(&'static str, &'static str)> {
        let op = OpcodeTable::for_minor(minor)?.get(byte)?;
        Some((op.name, op.family))
    }

    #[test]
    fn every_supported_version_has_a_sorted_table() {
        for minor in crate::python::layout::MIN_MINOR..=crate::python::layout::MAX_MINOR {
            let t = OpcodeTable::for_minor(minor).expect("a table per supported version");
            assert!(t.rows.windows(2).all(|w| w[0].0 < w[1].0), "3.{minor}");
            // Every family is itself an instruction of the table.
            for &(_, n, fam, _) in t.rows {
                assert!(t.rows.iter().any(|r| r.1 == fam), "3.{minor}: {n} → {fam}");
            }
        }
        assert!(OpcodeTable::for_minor(7).is_none());
    }

    #[test]
    fn known_values_from_the_interpreters() {
        // `total = total + i`: BINARY_ADD up to 3.10, BINARY_OP after,
        // specialised to BINARY_OP_ADD_INT on ints (3.11+).
        assert_eq!(name(8, 23), Some(("BINARY_ADD", "BINARY_ADD")));
        assert_eq!(name(10, 23), Some(("BINARY_ADD", "BINARY_ADD")));
        assert_eq!(name(11, 122), Some(("BINARY_OP", "BINARY_OP")));
        assert_eq!(name(11, 5), Some(("BINARY_OP_ADD_INT", "BINARY_OP")));
        assert_eq!(name(12, 7), Some(("BINARY_OP_ADD_INT", "BINARY_OP")));
        assert_eq!(name(13, 45), Some(("BINARY_OP", "BINARY_OP")));
        assert_eq!(name(13, 151), Some(("BINARY_OP_ADD_INT", "BINARY_OP")));
        assert_eq!(name(14, 130), Some(("BINARY_OP_ADD_INT", "BINARY_OP")));
        assert_eq!(name(15, 130), Some(("BINARY_OP_ADD_INT", "BINARY_OP")));
        // sys.monitoring's forms belong to the instruction they wrap.
        assert_eq!(name(12, 241), Some(("INSTRUMENTED_CALL", "CALL")));
        assert_eq!(name(9, 144), Some(("EXTENDED_ARG", "EXTENDED_ARG")));
        // CACHE is 0 from 3.11 on; byte 0 is no instruction before.
        assert_eq!(name(11, 0), Some(("CACHE", "CACHE")));
        assert_eq!(name(8, 0), None);
        let t = OpcodeTable::for_minor(12).unwrap();
        assert_eq!(t.get(122).map(|o| o.caches), Some(1));
        assert_eq!(t.get(171).map(|o| (o.name, o.caches)), Some(("CALL", 3)));
    }

    /// 3.12 bytecode of `total = total + i` inside a call:
    /// LOAD_FAST total; LOAD_FAST i; BINARY_OP_ADD_INT (1 cache);
    /// STORE_FAST total; CALL (3 caches); RETURN_VALUE.
    fn bytecode_312() -> Vec<u8> {
        let t = OpcodeTable::for_minor(12).unwrap();
        let byte = |n: &str| t.rows.iter().find(|r| r.1 == n).unwrap().0;
        vec![
            byte("LOAD_FAST"),
            0,
            byte("LOAD_FAST"),
            1,
            byte("BINARY_OP_ADD_INT"),
            0,
            0xff, // cache
            0xee,
            byte("STORE_FAST"),
            0,
            byte("CALL"),
            0,
            0x05, // caches: arbitrary bytes, even known opcodes
            0x07,
            byte("BINARY_OP"),
            0,
            0x00,
            0x00,
            byte("RETURN_VALUE"),
            0,
        ]
    }

    #[test]
    fn addresses_inside_caches_are_their_instruction() {
        let t = OpcodeTable::for_minor(12).unwrap();
        let code = bytecode_312();
        let at = |addr| t.instruction_at(&code, addr).map(|i| (i.start, i.op.name));
        assert_eq!(at(0), Some((0, "LOAD_FAST")));
        assert_eq!(at(4), Some((4, "BINARY_OP_ADD_INT")));
        assert_eq!(at(6), Some((4, "BINARY_OP_ADD_INT")));
        assert_eq!(at(10), Some((10, "CALL")));
        // 3.11/3.12 leave a caller's pointer at the last cache unit.
        assert_eq!(at(16), Some((10, "CALL")));
        assert_eq!(at(18), Some((18, "RETURN_VALUE")));
        assert_eq!(at(20), None);
        assert_eq!(at(1000), None);
    }

    #[test]
    fn the_live_byte_names_the_form_that_ran() {
        let t = OpcodeTable::for_minor(12).unwrap();
        let code = bytecode_312();
        let adaptive = t.rows.iter().find(|r| r.1 == "BINARY_OP").unwrap().0;
        let name = |addr, live| t.resolve(&code, addr, live).map(|o| o.name);
        // The kernel saw the generic form (deoptimised since): it wins.
        assert_eq!(name(4, Some(adaptive)), Some("BINARY_OP"));
        assert_eq!(name(4, None), Some("BINARY_OP_ADD_INT"));
        // A live byte that is no instruction, or a prefix, is not used.
        let junk = (0..=255u8).find(|&b| t.get(b).is_none()).unwrap();
        assert_eq!(name(4, Some(junk)), Some("BINARY_OP_ADD_INT"));
        let ext = t.rows.iter().find(|r| r.1 == "EXTENDED_ARG").unwrap().0;
        assert_eq!(name(4, Some(ext)), Some("BINARY_OP_ADD_INT"));
        // A live byte of another family is not the instruction there.
        let store = t.rows.iter().find(|r| r.1 == "STORE_FAST").unwrap().0;
        assert_eq!(name(4, Some(store)), Some("BINARY_OP_ADD_INT"));
        // Inside caches the live byte is cache data.
        assert_eq!(name(16, Some(adaptive)), Some("CALL"));
        assert_eq!(name(-2, Some(adaptive)), None);
        // Without bytecode only the live byte is known.
        assert_eq!(
            t.resolve(&[], 4, Some(adaptive)).map(|o| o.name),
            Some("BINARY_OP")
        );
        assert_eq!(t.resolve(&[], 4, None), None);
    }

    #[test]
    fn extended_arg_belongs_to_the_instruction_it_extends() {
        // 3.9: EXTENDED_ARG 1; JUMP_ABSOLUTE 4 (f_lasti stays at the
        // prefix while the jump runs).
        let t = OpcodeTable::for_minor(9).unwrap();
        let code = [144, 1, 113, 4, 83, 0];
        let at = |addr| t.instruction_at(&code, addr).map(|i| (i.start, i.op.name));
        assert_eq!(at(0), Some((2, "JUMP_ABSOLUTE")));
        assert_eq!(at(2), Some((2, "JUMP_ABSOLUTE")));
        assert_eq!(at(4), Some((4, "RETURN_VALUE")));
        assert_eq!(
            t.resolve(&code, 0, None).map(|o| o.name),
            Some("JUMP_ABSOLUTE")
        );
    }

    #[test]
    fn unknown_bytes_and_garbage_end_the_decoding() {
        let t = OpcodeTable::for_minor(8).unwrap();
        // Byte 0 is no 3.8 instruction: nothing at or after it is named.
        let code = [100, 0, 0, 0, 83, 0];
        assert_eq!(
            t.instruction_at(&code, 0).map(|i| i.op.name),
            Some("LOAD_CONST")
        );
        assert_eq!(t.instruction_at(&code, 2), None);
        assert_eq!(t.instruction_at(&code, 4), None);
        // Odd lengths and huge cache counts stay in bounds.
        let t = OpcodeTable::for_minor(13).unwrap();
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for addr in 0..70 {
                let _ = t.instruction_at(&junk, addr);
                let _ = t.resolve(&junk, addr as i32, Some(addr as u8));
            }
        }
    }
}
