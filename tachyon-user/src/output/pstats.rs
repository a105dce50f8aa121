//! pstats: the file `python -m cProfile -o` writes, loaded by Python's
//! `pstats.Stats(path)`, snakeviz, tuna, gprof2dot and most Python tooling.
//!
//! The file is one `marshal`-encoded dict:
//!
//! ```text
//! {(filename, firstlineno, funcname): (cc, nc, tt, ct, {caller_key: (cc, nc, tt, ct)})}
//! ```
//!
//! Mapping from the [`Profile`] (see [`super::functions`]), all processes and
//! threads merged:
//! * a key per function `(file, first_line, name)`; a frame without a file
//!   (`<unknown>`, native and kernel frames) gets the file `~`, as pstats
//!   does for built-ins;
//! * `cc` = `nc` = the samples whose stack contains the function (a sampler
//!   sees no calls, so primitive and total "calls" are the same count);
//! * `tt` = estimated self time, `ct` = estimated cumulative time, in
//!   seconds: `samples / all samples × duration`;
//! * callers from adjacent frames: for the edge caller → callee, `cc` = `nc`
//!   = samples with that pair, `tt` = time with the callee executing under
//!   that caller, `ct` = time of the callee under that caller.
//!
//! Unlike CPython's own sampler, no `("__sampled__",)` marker is written, so
//! every Python version's `pstats` reads the file.

use std::io::Write;

use super::functions::FunctionTable;
use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::Profile;

/// Writes a pstats (marshal) file.
#[derive(Clone, Debug, Default)]
pub struct PstatsWriter {
    _options: WriteOptions,
}

impl PstatsWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { _options: options }
    }
}

impl ProfileWriter for PstatsWriter {
    /// An empty profile gives an empty dict.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        let table = FunctionTable::new(profile);
        let key = |i: usize| {
            let k = &table.funcs[i].key;
            let file = if k.file.is_empty() { "~" } else { &k.file };
            Value::Tuple(vec![
                Value::Str(file.to_string()),
                Value::Int(i64::from(k.first_line)),
                Value::Str(k.name.clone()),
            ])
        };
        let entries = table
            .funcs
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let callers = f
                    .callers
                    .iter()
                    .map(|(&c, e)| {
                        let n = Value::from_u64(e.cum_samples);
                        let stats = Value::Tuple(vec![
                            n.clone(),
                            n,
                            Value::Float(table.seconds(e.self_samples)),
                            Value::Float(table.seconds(e.cum_samples)),
                        ]);
                        (key(c), stats)
                    })
                    .collect();
                let n = Value::from_u64(f.cum_samples);
                let stats = Value::Tuple(vec![
                    n.clone(),
                    n,
                    Value::Float(table.seconds(f.self_samples)),
                    Value::Float(table.seconds(f.cum_samples)),
                    Value::Dict(callers),
                ]);
                (key(i), stats)
            })
            .collect();
        let mut buf = Vec::new();
        Value::Dict(entries).encode(&mut buf);
        out.write_all(&buf)?;
        out.flush()?;
        Ok(())
    }
}

/// A value `marshal` can hold: the subset pstats files need.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    #[cfg_attr(not(test), allow(dead_code))]
    None,
    #[cfg_attr(not(test), allow(dead_code))]
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    /// Entries in the order written.
    Dict(Vec<(Value, Value)>),
}

// Type codes of CPython's Python/marshal.c.
const TYPE_NONE: u8 = b'N';
const TYPE_FALSE: u8 = b'F';
const TYPE_TRUE: u8 = b'T';
const TYPE_INT: u8 = b'i';
const TYPE_LONG: u8 = b'l';
const TYPE_BINARY_FLOAT: u8 = b'g';
const TYPE_UNICODE: u8 = b'u';
const TYPE_TUPLE: u8 = b'(';
const TYPE_SMALL_TUPLE: u8 = b')';
const TYPE_DICT: u8 = b'{';
const TYPE_NULL: u8 = b'0';

impl Value {
    /// An integer, as `marshal` would store a Python int.
    pub(crate) fn from_u64(v: u64) -> Value {
        match i64::try_from(v) {
            Ok(v) => Value::Int(v),
            // Beyond i64: never reached by sample counts; saturate.
            Err(_) => Value::Int(i64::MAX),
        }
    }

    /// Appends the marshal encoding of `self` to `out` (no references, so
    /// any marshal version reads it).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::None => out.push(TYPE_NONE),
            Value::Bool(false) => out.push(TYPE_FALSE),
            Value::Bool(true) => out.push(TYPE_TRUE),
            Value::Int(v) => {
                if let Ok(small) = i32::try_from(*v) {
                    out.push(TYPE_INT);
                    out.extend_from_slice(&small.to_le_bytes());
                } else {
                    encode_long(*v, out);
                }
            }
            Value::Float(v) => {
                out.push(TYPE_BINARY_FLOAT);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Str(s) => {
                out.push(TYPE_UNICODE);
                push_len(s.len(), out);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Tuple(items) => {
                if let Ok(n) = u8::try_from(items.len()) {
                    out.push(TYPE_SMALL_TUPLE);
                    out.push(n);
                } else {
                    out.push(TYPE_TUPLE);
                    push_len(items.len(), out);
                }
                for item in items {
                    item.encode(out);
                }
            }
            Value::Dict(entries) => {
                out.push(TYPE_DICT);
                for (k, v) in entries {
                    k.encode(out);
                    v.encode(out);
                }
                out.push(TYPE_NULL);
            }
        }
    }
}

/// A length as marshal's signed 32-bit little-endian size.
fn push_len(len: usize, out: &mut Vec<u8>) {
    let len = i32::try_from(len).expect("marshal sizes are limited to 2 GiB");
    out.extend_from_slice(&len.to_le_bytes());
}

/// `TYPE_LONG`: a signed count of 15-bit digits, then the digits (least
/// significant first) as 16-bit little-endian values.
fn encode_long(v: i64, out: &mut Vec<u8>) {
    let mut mag = v.unsigned_abs();
    let mut digits = Vec::new();
    while mag > 0 {
        digits.push((mag & 0x7fff) as u16);
        mag >>= 15;
    }
    let n = digits.len() as i32;
    out.push(TYPE_LONG);
    out.extend_from_slice(&(if v < 0 { -n } else { n }).to_le_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, TestDir};
    use crate::output::{writer_for, OutputFormat};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&mut out);
        out
    }

    fn render(profile: &Profile) -> Vec<u8> {
        let mut out = Vec::new();
        writer_for(OutputFormat::Pstats, &WriteOptions::default())
            .write(profile, &mut out)
            .unwrap();
        out
    }

    // Expected bytes are those of CPython's `marshal.dumps` (checked by hand
    // against Python/marshal.c; `real_python_reads_marshal` checks them live).
    #[test]
    fn marshal_scalars() {
        assert_eq!(enc(&Value::None), b"N");
        assert_eq!(enc(&Value::Bool(true)), b"T");
        assert_eq!(enc(&Value::Bool(false)), b"F");
        assert_eq!(enc(&Value::Int(0)), b"i\x00\x00\x00\x00");
        assert_eq!(enc(&Value::Int(300)), b"i\x2c\x01\x00\x00");
        assert_eq!(enc(&Value::Int(-1)), b"i\xff\xff\xff\xff");
        assert_eq!(enc(&Value::Int(i32::MAX as i64)), b"i\xff\xff\xff\x7f");
        // 2**31 = 2 * 2**30: digits [0, 0, 2].
        assert_eq!(
            enc(&Value::Int(1 << 31)),
            b"l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00"
        );
        // -(2**40) = -(2**10 * 2**30): digits [0, 0, 1024].
        assert_eq!(
            enc(&Value::Int(-(1 << 40))),
            b"l\xfd\xff\xff\xff\x00\x00\x00\x00\x00\x04"
        );
        assert_eq!(
            enc(&Value::Float(1.5)),
            b"g\x00\x00\x00\x00\x00\x00\xf8\x3f"
        );
        assert_eq!(enc(&Value::Str(String::new())), b"u\x00\x00\x00\x00");
        assert_eq!(
            enc(&Value::Str("größe".to_string())),
            b"u\x07\x00\x00\x00gr\xc3\xb6\xc3\x9fe"
        );
        assert_eq!(Value::from_u64(u64::MAX), Value::Int(i64::MAX));
    }

    #[test]
    fn marshal_containers() {
        assert_eq!(enc(&Value::Tuple(vec![])), b")\x00");
        assert_eq!(
            enc(&Value::Tuple(vec![Value::Int(1), Value::Str("a".into())])),
            b")\x02i\x01\x00\x00\x00u\x01\x00\x00\x00a"
        );
        let big = Value::Tuple(vec![Value::None; 256]);
        let bytes = enc(&big);
        assert_eq!(&bytes[..5], b"(\x00\x01\x00\x00");
        assert_eq!(bytes.len(), 5 + 256);
        assert_eq!(enc(&Value::Dict(vec![])), b"{0");
        assert_eq!(
            enc(&Value::Dict(vec![(
                Value::Str("k".into()),
                Value::Bool(true)
            )])),
            b"{u\x01\x00\x00\x00kT0"
        );
    }

    #[test]
    fn golden_fixture() {
        assert_golden("fixture.pstats", &render(&fixture_profile()));
    }

    #[test]
    fn empty_profile_is_an_empty_dict() {
        assert_eq!(render(&Profile::default()), b"{0");
    }

    #[test]
    fn deterministic() {
        let p = fixture_profile();
        assert_eq!(render(&p), render(&p));
    }

    /// A Python 3 to run consumers with: `/usr/bin/python3`, else pyenv's
    /// 3.12.1. `None` (test skipped) unless `CI=true`, where it panics.
    fn python() -> Option<PathBuf> {
        let mut candidates = vec![PathBuf::from("/usr/bin/python3")];
        let pyenv_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
        if let Some(root) = pyenv_root {
            candidates.push(root.join("versions/3.12.1/bin/python3.12"));
        }
        if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
            return Some(found);
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no Python found (tried /usr/bin/python3 and pyenv 3.12.1) and CI=true");
        }
        eprintln!("skipping: no Python found (tried /usr/bin/python3 and pyenv 3.12.1)");
        None
    }

    fn run_python(python: &Path, script: &str, args: &[&Path]) -> String {
        let out = Command::new(python)
            .arg("-c")
            .arg(script)
            .args(args)
            .env("PYTHONIOENCODING", "utf-8")
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn real_python_reads_marshal() {
        let Some(python) = python() else { return };
        let dir = TestDir::new("marshal");
        let path = dir.path().join("v.marshal");
        let v = Value::Dict(vec![(
            Value::Tuple(vec![
                Value::Str("größe.py".into()),
                Value::Int(-7),
                Value::Int(1 << 40),
            ]),
            Value::Tuple(vec![Value::Float(0.25), Value::None, Value::Bool(true)]),
        )]);
        std::fs::write(&path, enc(&v)).unwrap();
        let got = run_python(
            &python,
            "import marshal, sys; print(repr(marshal.load(open(sys.argv[1], 'rb'))))",
            &[&path],
        );
        assert_eq!(
            got.trim(),
            "{('größe.py', -7, 1099511627776): (0.25, None, True)}"
        );
    }

    /// The fixture holds 44 samples over 2 s. `Outer.Inner.method` is the
    /// leaf of 7 + 3 = 10 of them: 10 / 44 × 2 s = 0.4545 s self and
    /// cumulative, 10 "calls", 0.045 s per call. `main` (main.py) is on the
    /// stack in 15 samples, 5 of them as the leaf.
    #[test]
    fn real_pstats_loads_the_fixture() {
        let Some(python) = python() else { return };
        let dir = TestDir::new("pstats");
        let path = dir.path().join("fixture.pstats");
        std::fs::write(&path, render(&fixture_profile())).unwrap();
        let script = r#"
import pstats, sys
s = pstats.Stats(sys.argv[1])
s.sort_stats('tottime').print_stats(5)
print('TOTAL', s.total_calls, repr(s.total_tt), len(s.stats))
cc, nc, tt, ct, callers = s.stats[('/srv/my app/main.py', 30, 'main')]
print('MAIN', cc, nc, repr(tt), repr(ct), sorted(callers.items()))
cc, nc, tt, ct, callers = s.stats[('fib.py', 1, 'fib')]
print('FIB', cc, nc, sorted(callers.items()))
print('UNKNOWN', s.stats[('~', 0, '<unknown>')][:4])
"#;
        let out = run_python(&python, script, &[&path]);

        // The table: header, then the top entry by tottime.
        let mut lines = out.lines();
        let header = lines
            .by_ref()
            .find(|l| l.trim_start().starts_with("ncalls"))
            .unwrap_or_else(|| panic!("no table in:\n{out}"));
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            [
                "ncalls",
                "tottime",
                "percall",
                "cumtime",
                "percall",
                "filename:lineno(function)"
            ]
        );
        let top = lines.next().unwrap();
        let cols: Vec<&str> = top.split_whitespace().collect();
        assert_eq!(
            &cols[..5],
            ["10", "0.455", "0.045", "0.455", "0.045"],
            "{top}"
        );
        assert_eq!(
            cols[5..].join(" "),
            "/srv/my app/models.py:10(Outer.Inner.method)",
            "{top}"
        );
        // Second: fib, the leaf of 9 samples (60 nested frames, counted once).
        let second: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            second,
            ["9", "0.409", "0.045", "0.409", "0.045", "fib.py:1(fib)"]
        );

        let field = |tag: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(tag))
                .unwrap_or_else(|| panic!("no {tag} in:\n{out}"))
                .trim()
                .to_string()
        };
        // 14 functions; "calls" are the cumulative samples; total_tt sums the
        // self times of the 43 samples with a stack: 43 / 44 × 2 s.
        let total: Vec<String> = field("TOTAL").split(' ').map(str::to_string).collect();
        assert_eq!(total[2], "14");
        assert!((total[1].parse::<f64>().unwrap() - 43.0 / 44.0 * 2.0).abs() < 1e-9);
        let main = field("MAIN");
        assert!(
            main.starts_with(&format!(
                "15 15 {:?} {:?} [(('/srv/my app/main.py', 1, '<module>'), (15, 15, {:?}, {:?}))]",
                5.0 / 44.0 * 2.0,
                15.0 / 44.0 * 2.0,
                5.0 / 44.0 * 2.0,
                15.0 / 44.0 * 2.0,
            )),
            "{main}"
        );
        let fib = field("FIB");
        assert!(
            fib.starts_with("9 9 [(('fib.py', 1, 'fib'), (9, 9, 0.409"),
            "{fib}"
        );
        assert!(
            fib.contains("(('fib.py', 6, 'main'), (9, 9, 0.0, 0.409"),
            "{fib}"
        );
        assert!(field("UNKNOWN").starts_with("(3, 3, 0.0909"), "{out}");
    }
}
