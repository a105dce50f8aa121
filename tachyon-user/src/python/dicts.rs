//! Reading a `dict`, the attributes of an instance, and small `int`s out
//! of another process, bounded: the process controls every byte read, so
//! each size is checked before it is used and no read is larger than
//! [`MAX_ITEMS`] entries.

use super::dict_layout::{
    DictLayout, InstanceDict, IntLayout, KeysLayout, OB_TYPE, TPFLAGS_INLINE_VALUES, TP_BASICSIZE,
    TP_DICTOFFSET, TP_FLAGS,
};
use super::layout::ObjectLayout;
use super::memory::{le_u32, le_u64, MemoryError, RemoteMemory};

/// Most entries read from one dict (`sys.modules` of a large application
/// has a few thousand).
pub const MAX_ITEMS: u64 = 1 << 16;

/// Why a dict (or an int) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("malformed {what} at {addr:#x}")]
    Malformed { what: &'static str, addr: u64 },
    #[error("dict at {addr:#x} has {entries} entries, more than the {MAX_ITEMS} read")]
    TooBig { addr: u64, entries: u64 },
}

fn malformed(what: &'static str, addr: u64) -> DictError {
    DictError::Malformed { what, addr }
}

/// `addr + off`, or malformed near the top of the address space.
fn at(what: &'static str, addr: u64, off: u64) -> Result<u64, DictError> {
    addr.checked_add(off).ok_or(malformed(what, addr))
}

/// `addr - off` (the words before a managed object), or malformed.
fn before(what: &'static str, addr: u64, off: u32) -> Result<u64, DictError> {
    addr.checked_sub(u64::from(off))
        .ok_or(malformed(what, addr))
}

/// The entries of a keys object: (key, value as the entry holds it), in
/// entry order; an entry's index is its position (split values use it).
fn keys_entries(
    mem: &dyn RemoteMemory,
    l: &DictLayout,
    keys: u64,
) -> Result<Vec<(u64, u64)>, DictError> {
    if keys == 0 {
        return Err(malformed("dict keys", keys));
    }
    let (entries_at, nentries, entry_size, key_off) = match l.keys {
        KeysLayout::Sized {
            dk_size,
            dk_nentries,
            dk_indices,
        } => {
            let size = mem.read_u64(at("dict keys", keys, dk_size.into())?)?;
            let n = mem.read_u64(at("dict keys", keys, dk_nentries.into())?)?;
            if !size.is_power_of_two() || size > 1 << 40 || n > size {
                return Err(malformed("dict keys", keys));
            }
            let width = match size {
                0..=0xff => 1,
                0x100..=0xffff => 2,
                0x1_0000..=0xffff_ffff => 4,
                _ => 8,
            };
            let indices = at("dict keys", keys, dk_indices.into())?;
            (at("dict keys", indices, size * width)?, n, 24u64, 8u64)
        }
        KeysLayout::Log2 {
            dk_log2_size,
            dk_log2_index_bytes,
            dk_kind,
            dk_nentries,
            dk_indices,
        } => {
            let head = mem.read_vec(keys, dk_indices as usize)?;
            let byte = |off: u32| head.get(off as usize).copied().map(u32::from);
            let bad = || malformed("dict keys", keys);
            let log2_size = byte(dk_log2_size).ok_or_else(bad)?;
            let log2_index = byte(dk_log2_index_bytes).ok_or_else(bad)?;
            let kind = byte(dk_kind).ok_or_else(bad)?;
            let n = le_u64(&head, dk_nentries).ok_or_else(bad)?;
            if log2_size > 40
                || !(log2_size..=log2_size + 3).contains(&log2_index)
                || kind > 2
                || n > 1 << log2_size
            {
                return Err(bad());
            }
            let indices = at("dict keys", keys, dk_indices.into())?;
            // General keys: {hash, key, value}; str-only and split: {key, value}.
            let (size, key_off) = if kind == 0 { (24, 8) } else { (16, 0) };
            (at("dict keys", indices, 1 << log2_index)?, n, size, key_off)
        }
    };
    if nentries > MAX_ITEMS {
        return Err(DictError::TooBig {
            addr: keys,
            entries: nentries,
        });
    }
    let raw = mem.read_vec(entries_at, (nentries * entry_size) as usize)?;
    Ok(raw
        .chunks_exact(entry_size as usize)
        .map(|e| {
            let word = |off: u64| le_u64(e, off as u32).unwrap_or(0);
            (word(key_off), word(key_off + 8))
        })
        .collect())
}

/// Pairs each entry's key with its value from a values array (split
/// tables, instance values): `count` pointers at `array`.
fn with_values(
    mem: &dyn RemoteMemory,
    entries: Vec<(u64, u64)>,
    array: u64,
    count: u64,
) -> Result<Vec<(u64, u64)>, DictError> {
    let n = (entries.len() as u64).min(count);
    let raw = mem.read_vec(array, (n * 8) as usize)?;
    Ok(entries
        .into_iter()
        .zip(raw.chunks_exact(8))
        .map(|((k, _), v)| (k, le_u64(v, 0).unwrap_or(0)))
        .filter(|&(k, v)| k != 0 && v != 0)
        .collect())
}

/// Every (key, value) object pointer of the dict at `dict`, in entry order.
pub fn dict_items(
    mem: &dyn RemoteMemory,
    l: &DictLayout,
    dict: u64,
) -> Result<Vec<(u64, u64)>, DictError> {
    if dict == 0 {
        return Err(malformed("dict", dict));
    }
    let head = mem.read_vec(dict, l.ma_values as usize + 8)?;
    let keys = le_u64(&head, l.ma_keys).ok_or(malformed("dict", dict))?;
    let values = le_u64(&head, l.ma_values).ok_or(malformed("dict", dict))?;
    let entries = keys_entries(mem, l, keys)?;
    if values == 0 {
        return Ok(entries
            .into_iter()
            .filter(|&(k, v)| k != 0 && v != 0)
            .collect());
    }
    // A split table: the values are the instance's, indexed like the keys.
    let n = entries.len() as u64;
    with_values(
        mem,
        entries,
        at("dict values", values, l.values_array.into())?,
        n,
    )
}

/// The attributes of the instance at `obj` (a Python class's instance:
/// its `__dict__`, or the values its type's shared keys index).
pub fn instance_items(
    mem: &dyn RemoteMemory,
    l: &DictLayout,
    obj: u64,
) -> Result<Vec<(u64, u64)>, DictError> {
    let tp = mem.read_u64(at("object", obj, OB_TYPE.into())?)?;
    let shared_keys = || -> Result<Vec<(u64, u64)>, DictError> {
        let keys = mem.read_u64(at("type", tp, l.ht_cached_keys.into())?)?;
        keys_entries(mem, l, keys)
    };
    match l.instance {
        InstanceDict::DictOffset => {
            let off = mem.read_u64(at("type", tp, TP_DICTOFFSET.into())?)? as i64;
            // A negative offset counts from the end of a variable-size
            // object: not a Thread's case, not read.
            if off <= 0 || off > 1 << 16 {
                return Err(malformed("instance dict offset", tp));
            }
            let dict = mem.read_u64(at("object", obj, off as u64)?)?;
            if dict == 0 {
                return Ok(Vec::new());
            }
            dict_items(mem, l, dict)
        }
        InstanceDict::ValuesOrDict { values, dict } => {
            let d = mem.read_u64(before("object", obj, dict)?)?;
            if d != 0 {
                return dict_items(mem, l, d);
            }
            let v = mem.read_u64(before("object", obj, values)?)?;
            if v == 0 {
                return Ok(Vec::new());
            }
            let entries = shared_keys()?;
            let n = entries.len() as u64;
            with_values(mem, entries, at("values", v, l.values_array.into())?, n)
        }
        InstanceDict::Tagged { at: word } => {
            let w = mem.read_u64(before("object", obj, word)?)?;
            match (w, w & 1) {
                (0, _) => Ok(Vec::new()),
                (_, 0) => dict_items(mem, l, w),
                _ => {
                    let entries = shared_keys()?;
                    let n = entries.len() as u64;
                    // Stored as `values - 1` (`_PyDictOrValues_SetValues`).
                    let values = at("values", w, 1)?;
                    with_values(
                        mem,
                        entries,
                        at("values", values, l.values_array.into())?,
                        n,
                    )
                }
            }
        }
        InstanceDict::Inline { dict, valid } => {
            let d = mem.read_u64(before("object", obj, dict)?)?;
            if d != 0 {
                return dict_items(mem, l, d);
            }
            let flags = mem.read_u64(at("type", tp, TP_FLAGS.into())?)?;
            if flags & TPFLAGS_INLINE_VALUES == 0 {
                return Ok(Vec::new());
            }
            let basic = mem.read_u64(at("type", tp, TP_BASICSIZE.into())?)?;
            if basic > 1 << 16 {
                return Err(malformed("type", tp));
            }
            let values = at("values", obj, basic)?;
            let head = mem.read_vec(values, l.values_array as usize)?;
            let capacity = head.first().copied().unwrap_or(0) as u64;
            if head.get(valid as usize).copied().unwrap_or(0) == 0 {
                return Ok(Vec::new());
            }
            let entries = shared_keys()?;
            with_values(
                mem,
                entries,
                at("values", values, l.values_array.into())?,
                capacity,
            )
        }
    }
}

/// The value of a non-negative `int` of at most 64 bits.
pub fn read_uint(mem: &dyn RemoteMemory, l: &DictLayout, addr: u64) -> Result<u64, DictError> {
    let (size_off, digits_off) = match l.int {
        IntLayout::SignedSize { size, digits } | IntLayout::Tagged { tag: size, digits } => {
            (size, digits)
        }
    };
    let word = mem.read_u64(at("int", addr, size_off.into())?)?;
    let ndigits = match l.int {
        IntLayout::SignedSize { .. } => {
            if (word as i64) < 0 {
                return Err(malformed("int", addr));
            }
            word
        }
        IntLayout::Tagged { .. } => match word & 3 {
            0 => word >> 3,
            1 => 0,
            _ => return Err(malformed("int", addr)),
        },
    };
    // 64 bits take at most three 30-bit digits.
    if ndigits > 3 {
        return Err(malformed("int", addr));
    }
    let raw = mem.read_vec(at("int", addr, digits_off.into())?, ndigits as usize * 4)?;
    let mut value: u128 = 0;
    for i in (0..ndigits as u32).rev() {
        let d = le_u32(&raw, i * 4).unwrap_or(0);
        if d >> 30 != 0 {
            return Err(malformed("int", addr));
        }
        value = value << 30 | u128::from(d);
    }
    u64::try_from(value).map_err(|_| malformed("int", addr))
}

/// The `str` at `addr` is `want` (compared without reading a longer one).
pub fn str_is(
    mem: &dyn RemoteMemory,
    lay: &ObjectLayout,
    addr: u64,
    want: &str,
) -> Result<bool, DictError> {
    if addr == 0 {
        return Ok(false);
    }
    let head = mem.read_vec(addr, lay.unicode_state as usize + 4)?;
    let len = le_u64(&head, lay.unicode_length).ok_or(malformed("str", addr))?;
    let state = le_u32(&head, lay.unicode_state).ok_or(malformed("str", addr))?;
    // Compact ASCII, as every identifier and module name of the ASCII
    // alphabet is; anything else is another string.
    let compact_ascii = state & 0x20 != 0 && state & 0x40 != 0 && (state >> 2) & 7 == 1;
    if len != want.len() as u64 || !compact_ascii {
        return Ok(false);
    }
    let data = mem.read_vec(at("str", addr, lay.unicode_ascii_data.into())?, want.len())?;
    Ok(data == want.as_bytes())
}

/// The value of the first item whose key is the `str` `key`.
pub fn find_str_key(
    mem: &dyn RemoteMemory,
    lay: &ObjectLayout,
    items: &[(u64, u64)],
    key: &str,
) -> Option<u64> {
    items
        .iter()
        .find(|&&(k, _)| str_is(mem, lay, k, key).unwrap_or(false))
        .map(|&(_, v)| v)
}

#[cfg(test)]
mod tests {
    //! Dicts built by hand at the byte positions of each layout, read back
    //! through `FakeMemory`; the live interpreters are read by the
    //! end-to-end tests (`tests/tests/thread_names.rs`).
    use super::*;
    use crate::python::dict_layout::dict_layout_for;
    use crate::python::memory::FakeMemory;

    const DICT: u64 = 0x10_000;
    const KEYS: u64 = 0x20_000;
    const VALUES: u64 = 0x30_000;

    /// A keys object with `entries` (key, value) at `KEYS` for layout `l`
    /// (8 index slots; `general`: {hash, key, value} entries on 3.11+).
    fn keys(mem: &mut FakeMemory, l: &DictLayout, entries: &[(u64, u64)], general: bool) {
        let mut b = vec![0u8; 4096];
        let entry_at = match l.keys {
            KeysLayout::Sized {
                dk_size,
                dk_nentries,
                dk_indices,
            } => {
                b[dk_size as usize..][..8].copy_from_slice(&8u64.to_le_bytes());
                b[dk_nentries as usize..][..8]
                    .copy_from_slice(&(entries.len() as u64).to_le_bytes());
                dk_indices as usize + 8
            }
            KeysLayout::Log2 {
                dk_log2_size,
                dk_log2_index_bytes,
                dk_kind,
                dk_nentries,
                dk_indices,
            } => {
                b[dk_log2_size as usize] = 3;
                b[dk_log2_index_bytes as usize] = 3;
                b[dk_kind as usize] = if general { 0 } else { 1 };
                b[dk_nentries as usize..][..8]
                    .copy_from_slice(&(entries.len() as u64).to_le_bytes());
                dk_indices as usize + 8
            }
        };
        let wide = general || matches!(l.keys, KeysLayout::Sized { .. });
        for (i, &(k, v)) in entries.iter().enumerate() {
            let e = entry_at + i * if wide { 24 } else { 16 };
            let k_at = if wide { e + 8 } else { e };
            b[k_at..][..8].copy_from_slice(&k.to_le_bytes());
            b[k_at + 8..][..8].copy_from_slice(&v.to_le_bytes());
        }
        mem.put(KEYS, &b);
    }

    fn every_layout() -> impl Iterator<Item = &'static DictLayout> {
        (8..=15).filter_map(dict_layout_for)
    }

    #[test]
    fn combined_dicts_on_every_layout() {
        for l in every_layout() {
            for general in [false, true] {
                let mut mem = FakeMemory::new().with_zeroed(DICT, 64);
                mem.put_u64(DICT + l.ma_keys as u64, KEYS);
                // A deleted entry (value 0) is skipped.
                keys(
                    &mut mem,
                    l,
                    &[(0xa0, 0xb0), (0xa8, 0), (0xa1, 0xb1)],
                    general,
                );
                let items = dict_items(&mem, l, DICT).expect("dict");
                assert_eq!(items, [(0xa0, 0xb0), (0xa1, 0xb1)], "3.{}", l.minor);
            }
        }
    }

    #[test]
    fn split_dicts_take_their_values() {
        for l in every_layout() {
            let mut mem = FakeMemory::new().with_zeroed(DICT, 64);
            mem.put_u64(DICT + l.ma_keys as u64, KEYS)
                .put_u64(DICT + l.ma_values as u64, VALUES);
            keys(&mut mem, l, &[(0xa0, 0), (0xa1, 0), (0xa2, 0)], false);
            let mut v = vec![0u8; l.values_array as usize + 24];
            v[l.values_array as usize..][..8].copy_from_slice(&0xc0u64.to_le_bytes());
            v[l.values_array as usize + 16..][..8].copy_from_slice(&0xc2u64.to_le_bytes());
            mem.put(VALUES, &v);
            let items = dict_items(&mem, l, DICT).expect("dict");
            assert_eq!(items, [(0xa0, 0xc0), (0xa2, 0xc2)], "3.{}", l.minor);
        }
    }

    #[test]
    fn hostile_sizes_are_refused() {
        let l = dict_layout_for(12).expect("3.12");
        let mut mem = FakeMemory::new().with_zeroed(DICT, 64);
        mem.put_u64(DICT + l.ma_keys as u64, KEYS);
        keys(&mut mem, l, &[(1, 2)], false);
        // More entries than index slots.
        mem.put_u64(KEYS + 24, 9);
        assert!(matches!(
            dict_items(&mem, l, DICT),
            Err(DictError::Malformed { .. })
        ));
        // A huge table: refused before anything that big is read.
        mem.put(KEYS + 8, &[30, 30]).put_u64(KEYS + 24, 1 << 20);
        assert!(matches!(
            dict_items(&mem, l, DICT),
            Err(DictError::TooBig { .. })
        ));
        // Index bytes that do not fit the size.
        mem.put(KEYS + 8, &[3, 9]).put_u64(KEYS + 24, 1);
        assert!(dict_items(&mem, l, DICT).is_err());
        // A null dict, a dict near the top of the address space.
        assert!(dict_items(&mem, l, 0).is_err());
        assert!(dict_items(&mem, l, u64::MAX - 4).is_err());
    }

    #[test]
    fn ints_of_both_layouts() {
        for (minor, header) in [(11u32, 2u64), (12, 2 << 3)] {
            let l = dict_layout_for(minor).expect("row");
            // 0x7f00_1234_5678 in 30-bit digits.
            let v: u64 = 0x7f00_1234_5678;
            let digits = [(v & 0x3fff_ffff) as u32, (v >> 30) as u32];
            let mut mem = FakeMemory::new().with_zeroed(0x1000, 40);
            mem.put_u64(0x1010, header)
                .put_u32(0x1018, digits[0])
                .put_u32(0x101c, digits[1]);
            assert_eq!(read_uint(&mem, l, 0x1000).ok(), Some(v), "3.{minor}");
        }
        let l = dict_layout_for(12).expect("row");
        let mut mem = FakeMemory::new().with_zeroed(0x1000, 40);
        mem.put_u64(0x1010, 1); // zero
        assert_eq!(read_uint(&mem, l, 0x1000).ok(), Some(0));
        mem.put_u64(0x1010, 2 | 1 << 3); // negative
        assert!(read_uint(&mem, l, 0x1000).is_err());
        mem.put_u64(0x1010, 9 << 3); // too many digits
        assert!(read_uint(&mem, l, 0x1000).is_err());
    }
}
