//! serde_json set up for the JSON formats that web viewers open (speedscope,
//! gecko): [`WebFormatter`], and helpers to write a value, or an object's
//! members, through it.
//!
//! Objects are built with `serde_json::json!`; the crate's `preserve_order`
//! feature keeps their members in the order written. Large per-sample arrays
//! are better written from typed slices with [`write`] than turned into a
//! `Value` first (a `Value` per number costs 80 bytes).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use serde_json::Value;

/// serde_json's compact output with two changes:
///
/// * `<`, `>`, `&`, U+2028 and U+2029 are escaped (as `\u003c`…), so the
///   text can also be embedded in HTML or a `<script>` safely, and control
///   characters other than `\n`, `\r` and `\t` are written `\u00XX` (never
///   `\b` or `\f`). Other characters, non-ASCII included, are written as
///   they are: the output is UTF-8.
/// * Floats are written as Rust's `Display` does: the shortest decimal that
///   reads back to the same value, never an exponent, and no `.0` on
///   integral values (`10`, not serde_json's `10.0`). Non-finite floats
///   become `null` (serde_json's rule); [`number`] makes them 0 instead.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WebFormatter;

impl Formatter for WebFormatter {
    fn write_f64<W>(&mut self, writer: &mut W, value: f64) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        write!(writer, "{value}")
    }

    fn write_f32<W>(&mut self, writer: &mut W, value: f32) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        write!(writer, "{value}")
    }

    /// `fragment` is a run of a string without the characters serde_json
    /// escapes itself; the HTML-sensitive ones are escaped here.
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W>(&mut self, writer: &mut W, char_escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        match char_escape {
            CharEscape::Quote => writer.write_all(b"\\\""),
            CharEscape::ReverseSolidus => writer.write_all(b"\\\\"),
            CharEscape::Solidus => writer.write_all(b"\\/"),
            CharEscape::LineFeed => writer.write_all(b"\\n"),
            CharEscape::CarriageReturn => writer.write_all(b"\\r"),
            CharEscape::Tab => writer.write_all(b"\\t"),
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            CharEscape::AsciiControl(byte) => write!(writer, "\\u{byte:04x}"),
        }
    }
}

/// Writes `value` as JSON with [`WebFormatter`].
pub(crate) fn write<T>(out: &mut dyn Write, value: &T) -> io::Result<()>
where
    T: ?Sized + Serialize,
{
    let mut serializer = Serializer::with_formatter(out, WebFormatter);
    value.serialize(&mut serializer).map_err(io::Error::from)
}

/// Writes the members of the object `object` (`"key":value,…`) with
/// [`WebFormatter`], without the braces around them, so that one object
/// can be laid out over several lines. Fails with
/// [`io::ErrorKind::InvalidInput`] when `object` is not an object.
pub(crate) fn write_members(out: &mut dyn Write, object: &Value) -> io::Result<()> {
    let Value::Object(members) = object else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "JSON members of a value that is not an object",
        ));
    };
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write(out, key)?;
        out.write_all(b":")?;
        write(out, value)?;
    }
    Ok(())
}

/// Writes the members of each object of `lines` (see [`write_members`]),
/// one object a line: lines are separated by `,` and a newline.
pub(crate) fn write_member_lines(out: &mut dyn Write, lines: &[Value]) -> io::Result<()> {
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        write_members(out, line)?;
    }
    Ok(())
}

/// `v`, or 0 when it is not finite (JSON has no NaN or infinity).
pub(crate) fn number(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Nanoseconds as milliseconds, for a JSON number.
pub(crate) fn ms(ns: u64) -> f64 {
    ns as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_string<T: ?Sized + Serialize>(v: &T) -> String {
        let mut out = Vec::new();
        write(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(to_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(to_string("x\ny\r\tz\u{1}"), r#""x\ny\r\tz\u0001""#);
        assert_eq!(to_string("\u{8}\u{c}\u{1f}"), r#""\u0008\u000c\u001f""#);
        assert_eq!(to_string("</script>&"), r#""\u003c/script\u003e\u0026""#);
        assert_eq!(to_string("a\u{2028}b\u{2029}"), r#""a\u2028b\u2029""#);
        assert_eq!(to_string("größe 日本語 /"), "\"größe 日本語 /\"");
        assert_eq!(
            to_string(&json!({"<k>": ["<", 1]})),
            r#"{"\u003ck\u003e":["\u003c",1]}"#
        );
        for s in [
            "a\"b\\c",
            "x\ny\u{1}\u{7f}\u{8}\u{c}",
            "</script>",
            "größe",
            "\u{2028}<&>\u{2029}",
        ] {
            let back: String = serde_json::from_str(&to_string(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(to_string(&10.0), "10");
        assert_eq!(to_string(&0.5), "0.5");
        assert_eq!(to_string(&-2.25f32), "-2.25");
        assert_eq!(to_string(&1e-7), "0.0000001");
        assert_eq!(to_string(&1e20), "100000000000000000000");
        assert_eq!(to_string(&f64::NAN), "null");
        assert_eq!(to_string(&number(f64::NAN)), "0");
        assert_eq!(to_string(&number(f64::INFINITY)), "0");
        assert_eq!(to_string(&ms(1_500_000)), "1.5");
        assert_eq!(to_string(&ms(1_700_000_000_000_000_000)), "1700000000000");
        assert_eq!(to_string(&json!([1.5, 2.0, 3])), "[1.5,2,3]");
        assert_eq!(to_string(&[1u32, 2]), "[1,2]");
        assert_eq!(to_string(&Vec::<u32>::new()), "[]");
        assert_eq!(to_string(&[Some(1u32), None]), "[1,null]");
    }

    #[test]
    fn members_keep_their_order() {
        let mut out = Vec::new();
        write_member_lines(
            &mut out,
            &[json!({"z": 1, "a": "<", "m": null}), json!({"b": [true]})],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"z\":1,\"a\":\"\\u003c\",\"m\":null,\n\"b\":[true]"
        );
        let mut out = Vec::new();
        write_members(&mut out, &json!({})).unwrap();
        assert!(out.is_empty());
        let err = write_members(&mut out, &json!([1])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
