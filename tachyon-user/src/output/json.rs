//! A minimal JSON text writer for the JSON-based formats (speedscope, gecko):
//! string escaping and number formatting, so their output is deterministic
//! and needs no serialization dependency.

use std::fmt::Write as _;

/// `s` as a JSON string literal, quotes included. Control characters, `"`
/// and `\` are escaped, and so are `<`, `>` and `&` (as `\u003c`…), so the
/// text can also be embedded in HTML safely. Other characters (non-ASCII
/// included) are written as they are: the output is UTF-8.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as a JSON number: the shortest decimal form that reads back to
/// the same value (never an exponent, never `NaN`; non-finite values give 0).
pub(crate) fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".to_string()
    }
}

/// Nanoseconds as a JSON number of milliseconds.
pub(crate) fn ms(ns: u64) -> String {
    number(ns as f64 / 1_000_000.0)
}

/// `items` as a JSON array, each item already formatted.
pub(crate) fn array<I, T>(items: I) -> String
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("x\ny\u{1}"), r#""x\ny\u0001""#);
        assert_eq!(string("</script>&"), r#""\u003c/script\u003e\u0026""#);
        assert_eq!(string("größe 日本語"), "\"größe 日本語\"");
        for s in [
            "a\"b\\c",
            "x\ny\u{1}\u{7f}",
            "</script>",
            "größe",
            "\u{2028}",
        ] {
            let back: String = serde_json::from_str(&string(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number(10.0), "10");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "0");
        assert_eq!(ms(1_500_000), "1.5");
        assert_eq!(ms(1_700_000_000_000_000_000), "1700000000000");
        assert_eq!(array(["1", "2"]), "[1,2]");
        assert_eq!(array(Vec::<String>::new()), "[]");
    }
}
