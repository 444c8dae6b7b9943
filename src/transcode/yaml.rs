//! Owns the JSON → YAML writer: PHP `yaml_emit` layout, readable back to the same data by
//! YAML 1.1 and 1.2 parsers alike.
//!
//! Layout follows libyaml (which PHP uses): `---` start, block style, two-space indentation,
//! sequences inside a mapping not indented, `...` end. A string is written plain only when it
//! cannot be read as anything else under either YAML version: it starts with a letter and holds
//! only letters, digits, spaces and `_-.@/+`, and is not one of the 1.1 boolean/null words.
//! Everything else is double-quoted with escapes for what YAML cannot carry raw.

use super::bail::Lexed;
use super::lex::{Item, Lexer};
use serde_json::Number;

/// Keys longer than this are written as explicit `? key` entries: YAML limits implicit keys
/// to 1024 characters.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Writes an already parsed value as one YAML document.
pub fn to_yaml(value: &serde_json::Value) -> Result<String, super::TranscodeError> {
    super::render_text(value, crate::request::format::Format::Yaml)
}

/// Writes JSON `text` as one YAML document.
pub(super) fn document(text: &str) -> Lexed<String> {
    let mut lex = Lexer::new(text);
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("---");
    match lex.value()? {
        Item::Object { empty: false } => {
            out.push('\n');
            mapping(&mut lex, &mut out, 0, false)?;
        }
        Item::Array { empty: false } => {
            out.push('\n');
            sequence(&mut lex, &mut out, 0, false)?;
        }
        scalar_value => {
            out.push(' ');
            scalar(&mut out, scalar_value)?;
            out.push('\n');
        }
    }
    lex.finish()?;
    out.push_str("...\n");
    Ok(out)
}

/// `inline_first`: the first entry continues a line that already holds `- `.
fn mapping(lex: &mut Lexer<'_>, out: &mut String, indent: usize, inline_first: bool) -> Lexed<()> {
    let mut first = true;
    while let Some(key) = lex.key(first)? {
        if !first || !inline_first {
            pad(out, indent);
        }
        first = false;
        // The limit is on the key as written: escapes can make it up to 4 times its bytes.
        let written = if key.len() * 4 + 2 <= MAX_IMPLICIT_KEY {
            None
        } else {
            let mut k = String::new();
            string(&mut k, &key);
            Some(k)
        };
        let value = lex.value()?;
        match written {
            Some(k) if k.len() > MAX_IMPLICIT_KEY => {
                out.push_str("? ");
                out.push_str(&k);
                out.push('\n');
                pad(out, indent);
                out.push(':');
                // After an explicit key, nested blocks are indented so they cannot be mistaken
                // for siblings.
                value_after_indicator(lex, out, value, indent + 2, indent + 2)?;
            }
            Some(k) => {
                out.push_str(&k);
                out.push(':');
                value_after_indicator(lex, out, value, indent + 2, indent)?;
            }
            None => {
                string(out, &key);
                out.push(':');
                value_after_indicator(lex, out, value, indent + 2, indent)?;
            }
        }
    }
    Ok(())
}

fn value_after_indicator(lex: &mut Lexer<'_>, out: &mut String, value: Item<'_>, map_indent: usize, seq_indent: usize) -> Lexed<()> {
    match value {
        Item::Object { empty: false } => {
            out.push('\n');
            mapping(lex, out, map_indent, false)
        }
        Item::Array { empty: false } => {
            out.push('\n');
            sequence(lex, out, seq_indent, false)
        }
        other => {
            out.push(' ');
            scalar(out, other)?;
            out.push('\n');
            Ok(())
        }
    }
}

fn sequence(lex: &mut Lexer<'_>, out: &mut String, indent: usize, inline_first: bool) -> Lexed<()> {
    let mut first = true;
    while lex.more(first)? {
        if !first || !inline_first {
            pad(out, indent);
        }
        first = false;
        out.push_str("- ");
        match lex.value()? {
            Item::Object { empty: false } => mapping(lex, out, indent + 2, true)?,
            Item::Array { empty: false } => sequence(lex, out, indent + 2, true)?,
            other => {
                scalar(out, other)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

fn pad(out: &mut String, indent: usize) {
    super::spaces(out, indent);
}

/// A scalar, or an empty collection in flow style.
fn scalar(out: &mut String, value: Item<'_>) -> Lexed<()> {
    match value {
        Item::Null => out.push('~'),
        Item::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Item::Number(n) if super::verbatim_integer(n) => out.push_str(n),
        Item::Number(n) => number(out, &super::number(n)?),
        Item::String(s) => string(out, s),
        Item::Escaped(s) => string(out, &s),
        Item::Object { .. } => out.push_str("{}"),
        Item::Array { .. } => out.push_str("[]"),
    }
    Ok(())
}

/// Integers as they are; floats always with a `.` and a signed exponent, which is the only
/// float form a YAML 1.1 reader accepts (`1e3` would be a string there).
fn number(out: &mut String, n: &Number) {
    if n.is_f64() {
        let text = n.to_string();
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e)),
            None => (text.as_str(), None),
        };
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        if let Some(e) = exponent {
            out.push('e');
            if !e.starts_with(['-', '+']) {
                out.push('+');
            }
            out.push_str(e);
        }
    } else {
        out.push_str(&n.to_string());
    }
}

fn string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        double_quoted(out, s);
    }
}

/// Words YAML 1.1 reads as booleans or null in some capitalisation; compared case-insensitively,
/// which quotes a few more spellings than needed and never fewer.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];

fn is_plain_safe(s: &str) -> bool {
    if s.is_ascii() {
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-' | b'.' | b'@' | b'/' | b'+');
        return s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && !s.ends_with(' ')
            && s.as_bytes().iter().all(allowed)
            && !RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s));
    }
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    first.is_alphabetic()
        && !s.ends_with(' ')
        && s.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '@' | '/' | '+'))
        && !RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s))
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || ('\u{7F}'..='\u{9F}').contains(&c) => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn layout_matches_php_yaml_emit() {
        let v = json!({"response": {"customers": [{"contactid": "cid00001", "gender": "M"}, {"contactid": "cid00002"}], "nil": null, "e": [], "o": {}}});
        assert_eq!(
            to_yaml(&v).unwrap(),
            "---\nresponse:\n  customers:\n  - contactid: cid00001\n    gender: M\n  - contactid: cid00002\n  nil: ~\n  e: []\n  o: {}\n...\n"
        );
    }

    #[test]
    fn nested_sequences_and_scalar_documents() {
        assert_eq!(to_yaml(&json!([[1, 2], [], "x"])).unwrap(), "---\n- - 1\n  - 2\n- []\n- x\n...\n");
        assert_eq!(to_yaml(&json!("yes")).unwrap(), "--- \"yes\"\n...\n");
        assert_eq!(to_yaml(&json!({})).unwrap(), "--- {}\n...\n");
    }

    #[test]
    fn strings_that_would_be_misread_are_quoted() {
        for s in [
            "no",
            "On",
            "NULL",
            "~",
            "0123",
            "1e3",
            "2009-11-12 05:02:01",
            "1:20",
            ".inf",
            "",
            " a",
            "a ",
            "a: b",
            "a #b",
            "-",
            "=",
            "<<",
            "y",
            "N",
        ] {
            let mut out = String::new();
            string(&mut out, s);
            assert!(out.starts_with('"'), "{s:?} gave {out}");
        }
        for s in ["John", "john@example.com", "山田 太郎", "V_auth", "a-b.c/d+e"] {
            let mut out = String::new();
            string(&mut out, s);
            assert_eq!(out, s);
        }
    }

    #[test]
    fn floats_are_floats_in_yaml_1_1() {
        for (input, want) in [("1.5", "1.5"), ("1e300", "1.0e+300"), ("-2.5e-7", "-2.5e-7"), ("100.0", "100.0")] {
            let n: Number = serde_json::from_str(input).unwrap_or_else(|_| Number::from(0));
            let mut out = String::new();
            number(&mut out, &n);
            assert_eq!(out, want, "{input}");
        }
    }

    #[test]
    fn long_keys_stay_readable() {
        // Found by the fuzzer: 300 DEL characters are 300 bytes but 1,200 characters escaped,
        // past YAML's 1,024-character limit for implicit keys.
        for key in ["\u{7F}".repeat(300), "k".repeat(1500), "\u{2028}".repeat(200)] {
            let v = json!({"response": {key.clone(): [1, {"a": key.clone()}], "after": true}});
            let doc = to_yaml(&v).unwrap();
            let back: Value = serde_norway::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            assert_eq!(back, v);
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        string(&mut out, "a\u{0}\u{85}\u{2028}\"\\");
        assert_eq!(out, r#""a\x00\x85\u2028\"\\""#);
    }
}
