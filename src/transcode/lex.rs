//! Owns the pull lexer the streaming writers read JSON with: as strict as serde_json, no tree.
//!
//! The writers ask for one item at a time and write it at once, so a body is never held twice
//! (as text and as a `serde_json::Value`) and strings without escapes are never copied. Anything
//! the lexer does not handle exactly like serde_json (invalid JSON, a duplicate key, nesting at
//! serde_json's limit, a number serde_json would refuse) makes it give up with [`Bail`]; the
//! caller then goes through serde_json, which reports the error or settles the case.

use super::scan::{self, ends_string};
use std::borrow::Cow;

/// The lexer gave up; see the module comment.
#[derive(Debug, PartialEq, Eq)]
pub struct Bail;

pub type Lexed<T> = Result<T, Bail>;

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

/// serde_json refuses nesting at 128 levels; at that depth the lexer leaves the input to it.
const MAX_DEPTH: usize = 128;
/// Keys of one object the duplicate check keeps; a larger object goes through serde_json.
const MAX_KEYS: usize = 1024;

pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Hash and position of the keys of every open object, innermost last.
    keys: Vec<(u64, usize)>,
    /// Per open object: where its keys start in `keys`, and a 256-bit filter of their hashes
    /// that spares the scan of `keys` for almost every new key.
    frames: Vec<(usize, [u64; 4])>,
    /// Hash of the key [`Lexer::key`] returned last, for writers that cache per-key output.
    key_hash: u64,
    /// Whether the string read last was plain (see [`Lexer::plain`]).
    plain: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0, depth: 0, keys: Vec::new(), frames: Vec::new(), key_hash: 0, plain: false }
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

    /// The next value.
    pub fn value(&mut self) -> Lexed<Item<'a>> {
        match self.skip_ws() {
            Some(b'{') => {
                let empty = self.open(b'}')?;
                if !empty {
                    self.frames.push((self.keys.len(), [0; 4]));
                }
                Ok(Item::Object { empty })
            }
            Some(b'[') => self.open(b']').map(|empty| Item::Array { empty }),
            Some(b'"') => match self.unescaped()? {
                Some(s) => Ok(Item::String(s)),
                None => self.escaped().map(Item::Escaped),
            },
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

    /// Hash of the key the last [`Lexer::key`] call returned: equal keys, equal hashes.
    pub fn key_hash(&self) -> u64 {
        self.key_hash
    }

    /// The next key of the object being read, or `None` at its end. `first` is true for the
    /// first call after a non-empty [`Item::Object`].
    pub fn key(&mut self, first: bool) -> Lexed<Option<Cow<'a, str>>> {
        if !first {
            match self.skip_ws() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    let (start, _) = self.frames.pop().ok_or(Bail)?;
                    self.keys.truncate(start);
                    return Ok(None);
                }
                _ => return Err(Bail),
            }
        }
        if self.skip_ws() != Some(b'"') {
            return Err(Bail);
        }
        let at = self.pos;
        let key = self.string()?;
        self.remember(&key, at)?;
        if self.skip_ws() != Some(b':') {
            return Err(Bail);
        }
        self.pos += 1;
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

    /// Records a key (read at `at`) of the innermost object; a key seen before in it gives
    /// up, since serde_json keeps the last value at the first key's place.
    fn remember(&mut self, key: &str, at: usize) -> Lexed<()> {
        let hash = hash(key.as_bytes());
        self.key_hash = hash;
        let (start, filter) = self.frames.last_mut().ok_or(Bail)?;
        let bit = (hash >> 56) as usize;
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if filter[word] & mask != 0 {
            for &(_, earlier) in self.keys.get(*start..).unwrap_or_default().iter().filter(|(h, _)| *h == hash) {
                // Same hash: read the earlier key again to tell a duplicate from a collision.
                let mut again = Lexer::new(self.text);
                again.pos = earlier;
                if again.string()? == key {
                    return Err(Bail);
                }
            }
        }
        if self.keys.len() - *start >= MAX_KEYS {
            return Err(Bail);
        }
        filter[word] |= mask;
        self.keys.push((hash, at));
        Ok(())
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
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        // serde_json refuses a lone surrogate: so does the lexer.
                        if self.byte(self.pos) != Some(b'\\') || self.byte(self.pos + 1) != Some(b'u') {
                            return Err(Bail);
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Bail);
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Bail),
                    _ => unit,
                };
                char::from_u32(code).ok_or(Bail)?
            }
            _ => return Err(Bail),
        })
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

/// FxHash over the key's bytes: fast, and a collision only costs a trip through serde_json.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // The tail as one zero-padded word: one multiply instead of one per byte (the length,
        // mixed in first, keeps "a" and "a\0" apart).
        let word = rest.iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    h
}
