//! Per-version layouts of `dict`, of the `__dict__` of an instance, of
//! `int` and of where an interpreter keeps `sys.modules`, as data: what
//! [`super::dicts`] and [`super::thread_names`] need to read `threading`'s
//! thread names out of a process.
//!
//! Numbers measured with `offsetof` against each version's headers (pyenv
//! 3.8–3.12) and, for every interpreter of the test matrix (3.8–3.15, the
//! static Debian 3.11, the 3.13–3.15 debug builds), on the live process
//! with `ctypes`: the word of `PyInterpreterState` that holds
//! `id(sys.modules)`, the word of a heap type that holds
//! `id(cls.__qualname__)` (`ht_cached_keys` is the next one), and
//! `tp_flags`/`tp_basicsize` of `threading.Thread`.

/// `PyTypeObject` fields, the same from 3.8 to 3.15.
pub const TP_BASICSIZE: u32 = 32;
pub const TP_FLAGS: u32 = 168;
pub const TP_DICTOFFSET: u32 = 288;
/// `PyModuleObject.md_dict`.
pub const MD_DICT: u32 = 16;
/// `PyObject.ob_type`.
pub const OB_TYPE: u32 = 8;

/// `Py_TPFLAGS_INLINE_VALUES` (3.13+): the instance's values follow it.
pub const TPFLAGS_INLINE_VALUES: u64 = 1 << 2;

/// Where a dict's keys object keeps its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysLayout {
    /// 3.8–3.10: `dk_size` (a `Py_ssize_t`), the index width follows from
    /// it (1, 2, 4 or 8 bytes), every entry is `{hash, key, value}`.
    Sized {
        dk_size: u32,
        dk_nentries: u32,
        dk_indices: u32,
    },
    /// 3.11+: `dk_log2_size` and `dk_log2_index_bytes` (u8 each), and
    /// `dk_kind`: general keys have `{hash, key, value}` entries, str-only
    /// and split keys `{key, value}`.
    Log2 {
        dk_log2_size: u32,
        dk_log2_index_bytes: u32,
        dk_kind: u32,
        dk_nentries: u32,
        dk_indices: u32,
    },
}

/// How an instance of a Python class keeps its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceDict {
    /// 3.8–3.10: a dict at `tp_dictoffset` inside the object.
    DictOffset,
    /// 3.11 (`Py_TPFLAGS_MANAGED_DICT`): before the object, a pointer to
    /// its values (keys: the type's `ht_cached_keys`) and one to its dict
    /// once it has one.
    ValuesOrDict { values: u32, dict: u32 },
    /// 3.12: one word before the object: a dict, or the address of the
    /// values minus one (bit 0 set: dicts and values are aligned).
    Tagged { at: u32 },
    /// 3.13+: values inline after the object (at `tp_basicsize`, with a
    /// `valid` byte in their header), a dict before it once it has one.
    Inline { dict: u32, valid: u32 },
}

/// How an `int` stores its size and sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntLayout {
    /// ≤3.11: `ob_size` holds the signed number of 30-bit digits.
    SignedSize { size: u32, digits: u32 },
    /// 3.12+: `lv_tag` holds digits << 3 | sign (0 positive, 1 zero, 2 negative).
    Tagged { tag: u32, digits: u32 },
}

/// Everything about dicts and their neighbours one minor version needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DictLayout {
    pub minor: u32,
    /// `PyDictObject.ma_keys`, `ma_values`.
    pub ma_keys: u32,
    pub ma_values: u32,
    pub keys: KeysLayout,
    /// Where the value pointers start inside `PyDictValues`.
    pub values_array: u32,
    pub instance: InstanceDict,
    /// `PyHeapTypeObject.ht_cached_keys`: the keys an instance's values use.
    pub ht_cached_keys: u32,
    pub int: IntLayout,
    /// `PyInterpreterState.modules` (≤3.11) or `.imports.modules` (3.12);
    /// `None`: the process states it in `_Py_DebugOffsets` (3.13+,
    /// `interpreter_state.imports_modules`), read from there.
    pub interp_modules: Option<u32>,
}

const SIZED: KeysLayout = KeysLayout::Sized {
    dk_size: 8,
    dk_nentries: 32,
    dk_indices: 40,
};

const LOG2: KeysLayout = KeysLayout::Log2 {
    dk_log2_size: 8,
    dk_log2_index_bytes: 9,
    dk_kind: 10,
    dk_nentries: 24,
    dk_indices: 32,
};

const INT_SIGNED: IntLayout = IntLayout::SignedSize {
    size: 16,
    digits: 24,
};

const INT_TAGGED: IntLayout = IntLayout::Tagged {
    tag: 16,
    digits: 24,
};

const ROW_38: DictLayout = DictLayout {
    minor: 8,
    ma_keys: 32,
    ma_values: 40,
    keys: SIZED,
    values_array: 0,
    instance: InstanceDict::DictOffset,
    ht_cached_keys: 872,
    int: INT_SIGNED,
    interp_modules: Some(56),
};

const ROW_313: DictLayout = DictLayout {
    minor: 13,
    ma_keys: 32,
    ma_values: 40,
    keys: LOG2,
    values_array: 8,
    instance: InstanceDict::Inline { dict: 24, valid: 3 },
    ht_cached_keys: 880,
    int: INT_TAGGED,
    interp_modules: None,
};

/// The table, one row per minor version.
pub const DICT_LAYOUTS: &[DictLayout] = &[
    ROW_38,
    DictLayout {
        minor: 9,
        ht_cached_keys: 864,
        interp_modules: Some(856),
        ..ROW_38
    },
    DictLayout {
        minor: 10,
        interp_modules: Some(856),
        ..ROW_38
    },
    DictLayout {
        minor: 11,
        ma_keys: 32,
        ma_values: 40,
        keys: LOG2,
        values_array: 0,
        instance: InstanceDict::ValuesOrDict {
            values: 32,
            dict: 24,
        },
        ht_cached_keys: 872,
        int: INT_SIGNED,
        interp_modules: Some(888),
    },
    DictLayout {
        minor: 12,
        ma_keys: 32,
        ma_values: 40,
        keys: LOG2,
        values_array: 0,
        instance: InstanceDict::Tagged { at: 24 },
        ht_cached_keys: 880,
        int: INT_TAGGED,
        interp_modules: Some(944),
    },
    ROW_313,
    DictLayout {
        minor: 14,
        ..ROW_313
    },
    DictLayout {
        minor: 15,
        ht_cached_keys: 888,
        ..ROW_313
    },
];

/// The row of `3.minor`; a later minor version than the table knows is
/// read as the newest row (every read is checked: a wrong guess reads no
/// name, it does not read a wrong one).
pub fn dict_layout_for(minor: u32) -> Option<&'static DictLayout> {
    DICT_LAYOUTS.iter().find(|l| l.minor == minor).or_else(|| {
        DICT_LAYOUTS
            .last()
            .filter(|l| minor > l.minor && minor < l.minor + 5)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::{MAX_MINOR, MIN_MINOR};

    #[test]
    fn one_row_per_supported_version() {
        for minor in MIN_MINOR..=MAX_MINOR {
            let rows: Vec<_> = DICT_LAYOUTS.iter().filter(|l| l.minor == minor).collect();
            assert_eq!(rows.len(), 1, "3.{minor}");
        }
        assert_eq!(dict_layout_for(16).map(|l| l.minor), Some(15));
        assert_eq!(dict_layout_for(7), None);
        assert_eq!(dict_layout_for(40), None);
    }

    #[test]
    fn rows_hold_together() {
        for l in DICT_LAYOUTS {
            // 3.13+ find sys.modules through _Py_DebugOffsets.
            assert_eq!(l.interp_modules.is_none(), l.minor >= 13, "3.{}", l.minor);
            // The managed layouts (3.11+) go with the log2 keys object.
            assert_eq!(
                matches!(l.instance, InstanceDict::DictOffset),
                matches!(l.keys, KeysLayout::Sized { .. }),
                "3.{}",
                l.minor
            );
            assert!(l.ma_values == l.ma_keys + 8);
        }
    }
}
