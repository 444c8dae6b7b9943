//! Owns the JSON → YAML writer: PHP `yaml_emit` layout, readable back to the same data by
//! YAML 1.1 and 1.2 parsers alike.
//!
//! Layout follows libyaml (which PHP uses): `---` start, block style, two-space indentation,
//! sequences inside a mapping not indented, `...` end. A string is written plain only when it
//! cannot be read as anything else under either YAML version: it starts with a letter and holds
//! only letters, digits, spaces and `_-.@/+`, and is not one of the 1.1 boolean/null words.
//! Everything else is double-quoted with escapes for what YAML cannot carry raw.

use super::bail::{Bail, Lexed};
use super::keys::Recent;
use super::lex::{Item, Lexer};
use super::piece::BLOCK;
use crate::scan::{at_most, eq, Lanes};

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
    let mut w = Writer {
        out: String::with_capacity(text.len() + 64),
        open: Vec::new(),
        keys: Recent::default(),
        budget: super::output_budget(text.len()),
    };
    w.out.push_str("---");
    match lex.value()? {
        value @ (Item::Object { empty: false } | Item::Array { empty: false }) => {
            w.out.push('\n');
            w.block(value, 0, 0, false)?;
            w.run(&mut lex)?;
        }
        scalar_value => {
            w.out.push(' ');
            scalar(&mut w.out, scalar_value);
            w.out.push('\n');
        }
    }
    lex.finish()?;
    w.out.push_str("...\n");
    Ok(w.out)
}

struct Writer {
    out: String,
    /// The mappings and sequences being written, innermost last: a stack on the heap, so
    /// nesting as deep as the lexer reads cannot overflow the thread's stack.
    open: Vec<Block>,
    /// Keys as written (plain or quoted), for the keys a list repeats in every item.
    keys: Recent<Box<str>>,
    /// Most bytes `out` may hold (see `output_budget`).
    budget: usize,
}

/// A mapping or sequence whose entries are being written.
struct Block {
    sequence: bool,
    indent: usize,
    /// Whether no entry has been read yet.
    first: bool,
    /// The first entry continues a line that already holds `- `.
    inline_first: bool,
}

impl Writer {
    /// Opens a non-empty mapping or sequence: a mapping's entries at `map_indent`, a
    /// sequence's at `seq_indent` (a sequence inside a mapping is not indented).
    fn block(&mut self, value: Item<'_>, map_indent: usize, seq_indent: usize, inline_first: bool) -> Lexed<()> {
        if self.out.len() > self.budget {
            return Err(Bail);
        }
        let sequence = matches!(value, Item::Array { .. });
        let indent = if sequence { seq_indent } else { map_indent };
        self.open.push(Block { sequence, indent, first: true, inline_first });
        Ok(())
    }

    /// Writes entries until every open block is closed.
    fn run(&mut self, lex: &mut Lexer<'_>) -> Lexed<()> {
        while let Some(top) = self.open.last_mut() {
            let first = std::mem::replace(&mut top.first, false);
            let (indent, inline) = (top.indent, first && top.inline_first);
            if top.sequence {
                if !lex.more(first)? {
                    self.open.pop();
                    continue;
                }
                if !inline {
                    pad(&mut self.out, indent);
                }
                self.out.push_str("- ");
                match lex.value()? {
                    value @ (Item::Object { empty: false } | Item::Array { empty: false }) => {
                        self.block(value, indent + 2, indent + 2, true)?
                    }
                    other => {
                        read_scalar(&mut self.out, other, lex);
                        self.out.push('\n');
                    }
                }
            } else {
                let Some(key) = lex.key(first)? else {
                    self.open.pop();
                    continue;
                };
                if !inline {
                    pad(&mut self.out, indent);
                }
                let hash = lex.key_hash();
                self.entry(lex, &key, hash, indent)?;
            }
        }
        Ok(())
    }

    /// One mapping entry at `indent`, its key (of hash `hash`) already read.
    fn entry(&mut self, lex: &mut Lexer<'_>, key: &str, hash: u64, indent: usize) -> Lexed<()> {
        // The limit is on the key as written: escapes can make it up to 4 times its bytes.
        let written = if key.len() * 4 + 2 <= MAX_IMPLICIT_KEY {
            None
        } else {
            let mut k = String::new();
            string(&mut k, key);
            Some(k)
        };
        let value = lex.value()?;
        let seq_indent = match written {
            Some(k) if k.len() > MAX_IMPLICIT_KEY => {
                self.out.push_str("? ");
                self.out.push_str(&k);
                self.out.push('\n');
                pad(&mut self.out, indent);
                self.out.push(':');
                // After an explicit key, nested blocks are indented so they cannot be mistaken
                // for siblings.
                indent + 2
            }
            Some(k) => {
                self.out.push_str(&k);
                self.out.push(':');
                indent
            }
            None => {
                self.out.push_str(self.keys.get(key, hash, 0, || {
                    let mut k = String::new();
                    string(&mut k, key);
                    k.into()
                }));
                self.out.push(':');
                indent
            }
        };
        match value {
            value @ (Item::Object { empty: false } | Item::Array { empty: false }) => {
                self.out.push('\n');
                self.block(value, indent + 2, seq_indent, false)
            }
            other => {
                self.out.push(' ');
                read_scalar(&mut self.out, other, lex);
                self.out.push('\n');
                Ok(())
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    super::spaces(out, indent);
}

/// A scalar the lexer just read. A short plain string (printable ASCII, no escapes: the
/// lexer knows) is checked as one block of input, sixteen bytes at a time, rather than byte by
/// byte: most values of an answer are such strings.
fn read_scalar(out: &mut String, value: Item<'_>, lex: &Lexer<'_>) {
    match (value, lex.block()) {
        (Item::String(s), Some(block)) if lex.plain() && s.len() <= BLOCK => {
            debug_assert!(block.starts_with(s.as_bytes()));
            if plain_block(block, s.len()) {
                out.push_str(s);
            } else {
                double_quoted(out, s);
            }
        }
        (value, _) => scalar(out, value),
    }
}

/// Whether the first `len` bytes of `block`, printable ASCII, are a string `is_plain_safe`
/// takes: the same rules, the character check a block at a time.
fn plain_block(block: &[u8; BLOCK], len: usize) -> bool {
    let Some(text) = block.get(..len) else { return false };
    let outside = |half: Option<&[u8; 16]>| half.map_or(0, |h| (!plain_lanes(Lanes::new(*h))).to_bitmask());
    let (head, tail) = block.split_at(16);
    let outside = outside(head.first_chunk()) | outside(tail.first_chunk()) << 16;
    plain_ascii(text, outside & ((1u64 << len) - 1) as u32 == 0)
}

/// Letters, digits, space and `_-.@/+`: `PLAIN`, sixteen lanes at a time.
fn plain_lanes(v: Lanes) -> Lanes {
    let letter = at_most((v | Lanes::splat(0x20)) - Lanes::splat(b'a'), b'z' - b'a');
    // `-`, `.`, `/` and the digits are one run, 0x2D to 0x39.
    let run = at_most(v - Lanes::splat(b'-'), b'9' - b'-');
    letter | run | eq(v, b' ') | eq(v, b'_') | eq(v, b'@') | eq(v, b'+')
}

/// A scalar, or an empty collection in flow style.
fn scalar(out: &mut String, value: Item<'_>) {
    match value {
        Item::Null => out.push('~'),
        Item::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Item::Number(n) => number(out, n),
        Item::String(s) => string(out, s),
        Item::Escaped(s) => string(out, &s),
        Item::Object { .. } => out.push_str("{}"),
        Item::Array { .. } => out.push_str("[]"),
    }
}

/// The JSON number `token` in the form YAML 1.1 and 1.2 readers both read as the number JSON
/// readers read, of the same type:
/// - an integer as it is, whatever its size (`-0` too: an integer zero either way);
/// - a float with its digits as they are, plus a `.0` when the mantissa has no point and a
///   `+` when the exponent has no sign: YAML 1.1 reads `1e5` and `1.0e5` as strings;
/// - a float beyond the double range, which JSON readers read as infinity, as `.inf` or
///   `-.inf` (readers refuse `1.0e+400`, or keep it as a string).
fn number(out: &mut String, token: &str) {
    if !super::is_float(token) {
        out.push_str(token);
        return;
    }
    if token.parse::<f64>().is_ok_and(f64::is_infinite) {
        out.push_str(if token.starts_with('-') { "-.inf" } else { ".inf" });
        return;
    }
    let (mantissa, exponent) = token.split_at(token.find(['e', 'E']).unwrap_or(token.len()));
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    if let Some((mark, digits)) = exponent.split_at_checked(1) {
        out.push_str(mark);
        if !digits.starts_with(['+', '-']) {
            out.push('+');
        }
        out.push_str(digits);
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
        // One table lookup per byte: this check runs on every string of an answer, and a
        // closure of comparisons per byte made it most of the YAML writer's time.
        return plain_ascii(s.as_bytes(), s.bytes().all(|b| PLAIN[usize::from(b)]));
    }
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    first.is_alphabetic()
        && !s.ends_with(' ')
        && s.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '@' | '/' | '+'))
        && !RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// The rules for an ASCII string besides its characters (`characters_fit`): it starts with a
/// letter, does not end with a space, and is no reserved word.
fn plain_ascii(text: &[u8], characters_fit: bool) -> bool {
    characters_fit
        && text.first().is_some_and(u8::is_ascii_alphabetic)
        && text.last() != Some(&b' ')
        && (text.len() > LONGEST_RESERVED || !RESERVED.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(text)))
}

/// Length of the longest word in `RESERVED`: a longer string cannot be one.
const LONGEST_RESERVED: usize = 5;

/// The ASCII bytes a plain string may hold: letters, digits, space and `_-.@/+`.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b' ' | b'_' | b'-' | b'.' | b'@' | b'/' | b'+');
        b += 1;
    }
    table
};

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
#[path = "yaml_tests.rs"]
mod tests;
