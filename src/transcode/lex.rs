//! Owns the pull lexer the streaming writers read JSON with: as strict as serde_json, no tree.
//!
//! The writers ask for one item at a time and write it at once, so a body is never held twice
//! (as text and as a `serde_json::Value`) and strings without escapes are never copied. Anything
//! the lexer does not handle exactly like serde_json (invalid JSON, a duplicate key, nesting at
//! serde_json's limit, a number serde_json would refuse) makes it give up with [`Bail`]; the
//! caller then goes through serde_json, which reports the error or settles the case.

use super::bail::{Bail, Lexed};
use super::keys::{self, Key, Keys};
use super::piece::BLOCK;
use crate::scan::{self, ends_string};
use std::borrow::Cow;

/// One JSON value as the lexer hands it out. For a non-empty object or array the caller then
/// reads its members with [`Lexer::key`] or [`Lexer::more`]; an empty one is already closed.
#[derive(Debug, PartialEq)]
pub enum Item<'a> {
    Null,
    Bool(bool),
    /// The number's text, checked against JSON's grammar.
    Number(&'a str),
    /// A string without escapes, borrowed from the input.
    String(&'a str),
    /// A string with escapes, unescaped.
    Escaped(String),
    Object {
        empty: bool,
    },
    Array {
        empty: bool,
    },
}

/// Deepest nesting the lexer reads: twice PHP's `json_encode` default of 512, so whatever
/// LiveAgent can encode is read. Deeper input is handed to serde_json, which refuses it (its own
/// limit is 128), so it ends as a clean 502. The writers keep their own stack on the heap, and
/// output grows with the square of the depth, so the bound is also a bound on the output.
pub const MAX_DEPTH: usize = 1024;

pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    keys: Keys,
    /// Hash of the key [`Lexer::key`] returned last, for writers that cache per-key output.
    key_hash: u64,
    /// Whether the string read last was plain (see [`Lexer::plain`]).
    plain: bool,
    /// Where the text of the string read last starts.
    string_at: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0, depth: 0, keys: Keys::default(), key_hash: 0, plain: false, string_at: 0 }
    }

    /// A lexer reading `text` from `pos` on, for a second look at a stretch of it.
    pub fn starting_at(text: &'a str, pos: usize) -> Self {
        Lexer { pos, ..Lexer::new(text) }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Where the lexer stands in the text.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to `pos` at the same depth: onto a stretch of text a caller has read itself, or
    /// back to where it was before it tried to.
    pub fn jump(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The next byte that is not whitespace, the position moved onto it.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn skip_ws(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        match bytes.get(self.pos) {
            Some(b' ' | b'\n' | b'\r' | b'\t') => {}
            other => return other.copied(),
        }
        // Pretty-printed bodies put a line end and a run of indentation between items.
        self.pos = scan::find(bytes, self.pos + 1, scan::not_ws);
        bytes.get(self.pos).copied()
    }

    /// The next value. A plain string, the commonest value, is read inline; the rest is not.
    #[inline(always)]
    pub fn value(&mut self) -> Lexed<Item<'a>> {
        if self.byte(self.pos) == Some(b'"') {
            return self.string_item();
        }
        self.other_value()
    }

    #[inline(never)]
    fn other_value(&mut self) -> Lexed<Item<'a>> {
        match self.skip_ws() {
            Some(b'{') => {
                let empty = self.open(b'}')?;
                if !empty {
                    self.keys.open();
                }
                Ok(Item::Object { empty })
            }
            Some(b'[') => self.open(b']').map(|empty| Item::Array { empty }),
            Some(b'"') => self.string_item(),
            Some(b't') => self.literal("true", Item::Bool(true)),
            Some(b'f') => self.literal("false", Item::Bool(false)),
            Some(b'n') => self.literal("null", Item::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Item::Number),
            _ => Err(Bail),
        }
    }

    /// Enters an object or array; true when it is empty (and so already closed again).
    fn open(&mut self, close: u8) -> Lexed<bool> {
        self.pos += 1;
        if self.depth + 1 >= MAX_DEPTH {
            return Err(Bail);
        }
        if self.skip_ws() == Some(close) {
            self.pos += 1;
            return Ok(true);
        }
        self.depth += 1;
        Ok(false)
    }

    /// Whether the string [`Lexer::value`] returned last is plain: no escapes, and only
    /// printable ASCII other than `&`, `'`, `<` and `>`, so markup can carry it as it is.
    pub fn plain(&self) -> bool {
        self.plain
    }

    /// The input from the start of the text of the string read last, a block long when the
    /// input goes on that far: a writer copies a short string as one block.
    pub fn block(&self) -> Option<&'a [u8; BLOCK]> {
        self.text.as_bytes().get(self.string_at..).and_then(<[u8]>::first_chunk)
    }

    /// Hash of the key the last [`Lexer::key`] call returned: equal keys, equal hashes.
    pub fn key_hash(&self) -> u64 {
        self.key_hash
    }

    /// The next key of the object being read, or `None` at its end. `first` is true for the
    /// first call after a non-empty [`Item::Object`]. The position is left on the value.
    #[inline(always)]
    pub fn key(&mut self, first: bool) -> Lexed<Option<Cow<'a, str>>> {
        let at = self.pos;
        if let Some(known) = self.keys.predicted(self.text.as_bytes(), at) {
            self.pos = at + known.len;
            self.key_hash = known.hash;
            return self.text.get(known.quote + 1..known.quote + known.quoted - 1).map(|k| Some(Cow::Borrowed(k))).ok_or(Bail);
        }
        self.unpredicted_key(first)
    }

    #[inline(never)]
    fn unpredicted_key(&mut self, first: bool) -> Lexed<Option<Cow<'a, str>>> {
        let at = self.pos;
        if !first {
            match self.skip_ws() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    self.keys.close()?;
                    return Ok(None);
                }
                _ => return Err(Bail),
            }
        }
        if self.skip_ws() != Some(b'"') {
            return Err(Bail);
        }
        let quote = self.pos;
        let key = self.string()?;
        let quoted = if matches!(key, Cow::Borrowed(_)) { self.pos - quote } else { 0 };
        if self.skip_ws() != Some(b':') {
            return Err(Bail);
        }
        self.pos += 1;
        self.skip_ws();
        self.key_hash = keys::hash(key.as_bytes());
        let text = self.text;
        // Same hash as an earlier key: read that key again to tell a duplicate from a collision.
        let equal = |earlier: usize| {
            let mut again = Lexer::new(text);
            again.pos = earlier;
            Ok(again.string()? == key)
        };
        self.keys.remember(Key::new(self.key_hash, at, self.pos - at, quote, quoted), equal)?;
        Ok(Some(key))
    }

    /// Whether the array being read has another item. `first` is true for the first call
    /// after a non-empty [`Item::Array`].
    pub fn more(&mut self, first: bool) -> Lexed<bool> {
        if first {
            return Ok(true);
        }
        match self.skip_ws() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(Bail),
        }
    }

    /// After the top-level value: only whitespace may follow.
    pub fn finish(&mut self) -> Lexed<()> {
        match self.skip_ws() {
            None => Ok(()),
            Some(_) => Err(Bail),
        }
    }

    fn literal(&mut self, word: &str, item: Item<'a>) -> Lexed<Item<'a>> {
        if self.text.as_bytes().get(self.pos..).is_some_and(|rest| rest.starts_with(word.as_bytes())) {
            self.pos += word.len();
            Ok(item)
        } else {
            Err(Bail)
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Lexed<&'a str> {
        let start = self.pos;
        if self.byte(self.pos) == Some(b'-') {
            self.pos += 1;
        }
        match self.byte(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Bail),
        }
        if self.byte(self.pos) == Some(b'.') {
            self.pos += 1;
            self.at_least_one_digit()?;
        }
        if matches!(self.byte(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.byte(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.at_least_one_digit()?;
        }
        self.text.get(start..self.pos).ok_or(Bail)
    }

    fn digits(&mut self) {
        while matches!(self.byte(self.pos), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Lexed<()> {
        let before = self.pos;
        self.digits();
        if self.pos == before {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    /// A string value at its opening quote.
    #[inline(always)]
    fn string_item(&mut self) -> Lexed<Item<'a>> {
        match self.unescaped()? {
            Some(s) => Ok(Item::String(s)),
            None => self.escaped().map(Item::Escaped),
        }
    }

    /// A string at its opening quote. Borrowed from the input unless it has escapes.
    fn string(&mut self) -> Lexed<Cow<'a, str>> {
        match self.unescaped()? {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => self.escaped().map(Cow::Owned),
        }
    }

    /// A string at its opening quote when it has no escapes; `None` when it has, with the
    /// position moved to where [`Lexer::escaped`] goes on.
    #[inline(always)]
    fn unescaped(&mut self) -> Lexed<Option<&'a str>> {
        let start = self.pos + 1;
        self.string_at = start;
        let bytes = self.text.as_bytes();
        // One scan finds the end of a plain string; a notable byte on the way only means the
        // end is further on.
        let mut at = scan::find(bytes, start, |v| ends_string(v) | scan::notable(v));
        self.plain = bytes.get(at) == Some(&b'"');
        if !self.plain && bytes.get(at).is_some_and(|&b| b >= 0x20 && b != b'\\') {
            at = scan::find(bytes, at, ends_string);
        }
        match bytes.get(at) {
            Some(b'"') => {
                self.pos = at + 1;
                self.text.get(start..at).map(Some).ok_or(Bail)
            }
            Some(b'\\') => {
                self.pos = start;
                Ok(None)
            }
            _ => Err(Bail),
        }
    }

    /// The rest of a string with escapes, from just after its opening quote.
    fn escaped(&mut self) -> Lexed<String> {
        let mut out = String::new();
        loop {
            let run = self.pos;
            self.pos = scan::find(self.text.as_bytes(), run, ends_string);
            out.push_str(self.text.get(run..self.pos).ok_or(Bail)?);
            match self.byte(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                _ => return Err(Bail),
            }
        }
    }

    /// One escape, after its backslash.
    fn escape(&mut self) -> Lexed<char> {
        let c = self.byte(self.pos).ok_or(Bail)?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{C}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return Err(Bail),
        })
    }

    /// A `\u` escape after its `u`, with the low half of a surrogate pair when one follows.
    /// A lone surrogate (JSON's grammar allows it, Unicode text cannot hold it) becomes U+FFFD,
    /// as a character XML forbids does; serde_json would refuse the whole document instead.
    fn unicode_escape(&mut self) -> Lexed<char> {
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF => match self.low_surrogate() {
                Some(low) => {
                    self.pos += 6;
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                }
                None => 0xFFFD,
            },
            0xDC00..=0xDFFF => 0xFFFD,
            _ => unit,
        };
        char::from_u32(code).ok_or(Bail)
    }

    /// The low half of a surrogate pair when the next six bytes are one (`\uDC00` to `\uDFFF`).
    fn low_surrogate(&self) -> Option<u32> {
        let hex = self.text.get(self.pos..self.pos + 6)?.strip_prefix("\\u")?;
        // `from_str_radix` alone would also take a leading `+`.
        let unit = hex.bytes().all(|b| b.is_ascii_hexdigit()).then(|| u32::from_str_radix(hex, 16).ok()).flatten()?;
        (0xDC00..=0xDFFF).contains(&unit).then_some(unit)
    }

    fn hex4(&mut self) -> Lexed<u32> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or(Bail)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Bail);
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| Bail)
    }
}
