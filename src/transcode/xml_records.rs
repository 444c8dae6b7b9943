//! Owns writing the records of a list from templates, one per record layout.
//!
//! LiveAgent's lists are arrays of flat objects, every one with the same keys in the same order
//! and the same layout; only the values change. So the text of a record is fixed stretches
//! (`{`, line ends, indentation, keys, colons, `null`s, `}`) around holes (strings, numbers,
//! booleans), and so is its XML (start tags, end tags, indentation, empty elements) around the
//! same holes. A template holds both, read once from one record. The next record is written by
//! comparing each fixed stretch whole with the template's, reading the value in the hole with
//! the lexer, and appending the template's output before it: one compare and two copies per
//! member, where the general writer predicts the key, looks up its tags, and writes an end tag
//! and a start tag apart. A stretch that differs (another key, a `null` for a string, a nested
//! value, other whitespace) puts the record back: its output is cut off and the lexer moved
//! back to its start. A list keeps the templates of its last few layouts (a field that is
//! `null` in some records makes two), most recently fitted first; a record that fits none makes
//! a new one from its own text, and a record that cannot make one (a nested value) is left to
//! the general writer. A list whose records keep needing new templates stops trying.
//!
//! The template's stretches are the text of a record the lexer read in full (so its keys are
//! distinct and its syntax valid), and a record whose stretches match it byte for byte has the
//! same keys in the same order: it takes every check the general path would make, and the
//! values in the holes are read by the same lexer.

use super::{escape_into, indent, text, Tags, Written};
use crate::scan;
use crate::transcode::bail::{Bail, Lexed};
use crate::transcode::lex::{Item, Lexer};
use crate::transcode::piece::{Piece, BLOCK};

/// The templates of the records of one list, and how well they have been doing.
#[derive(Default)]
pub(super) struct Records {
    /// Most recently fitted first.
    templates: Vec<Template>,
    hits: u32,
    misses: u32,
    /// Where the record that did not fit last starts: it is the general writer's.
    refused: Option<usize>,
}

/// One record's fixed stretches and the output around its holes.
struct Template {
    /// Before each hole: the stretch of text ahead of it, and what is written ahead of its value.
    holes: Vec<Step>,
    /// After the last hole, through the record's closing brace.
    tail: Step,
}

struct Step {
    /// The template's stretch of text. It takes in a string value's opening quote when the
    /// template's value there was a string (`quoted`): one fewer check per member.
    fixed: Stretch,
    quoted: bool,
    out: Piece,
}

/// A stretch of text, compared in sixteen-byte words when it is at most two words long.
struct Stretch {
    len: usize,
    /// Its first and last sixteen bytes (a shorter stretch: zero-padded, compared under `mask`).
    head: u128,
    tail: u128,
    mask: u128,
    /// The whole stretch, for one longer than two words or near the end of the text.
    whole: Box<[u8]>,
}

impl Stretch {
    fn new(bytes: &[u8]) -> Self {
        let word = |w: &[u8]| {
            let mut padded = [0u8; 16];
            padded.iter_mut().zip(w).for_each(|(p, b)| *p = *b);
            u128::from_le_bytes(padded)
        };
        let len = bytes.len();
        let mask = if len >= 16 { u128::MAX } else { (1u128 << (8 * len)) - 1 };
        Stretch { len, head: word(bytes), tail: word(bytes.get(len.saturating_sub(16)..).unwrap_or_default()), mask, whole: bytes.into() }
    }

    /// Where `bytes` goes on after `at` when the stretch stands there.
    #[inline(always)]
    fn after(&self, bytes: &[u8], at: usize) -> Option<usize> {
        let word = |w: &[u8]| w.first_chunk::<16>().map(|w| u128::from_le_bytes(*w));
        let end = at + self.len;
        // One window of two words, read once: its bounds are checked once, and the words
        // inside it need no check of their own.
        let fits = match (self.len, bytes.get(at..).and_then(<[u8]>::first_chunk::<32>)) {
            (0..16, Some(w)) => word(w).is_some_and(|w| (w ^ self.head) & self.mask == 0),
            (16..=32, Some(w)) => word(w) == Some(self.head) && w.get(self.len - 16..).and_then(word) == Some(self.tail),
            // Longer, or too near the end of the text for a whole window.
            _ => bytes.get(at..end).is_some_and(|here| *here == *self.whole),
        };
        fits.then_some(end)
    }
}

/// Records that needed a new template before a list stops trying, unless they are fewer than
/// one in eight: enough to get past a first record that differs from the rest, few enough that
/// a list of nested records pays little for the tries.
const MISSES: u32 = 4;

/// Templates a list keeps.
const TEMPLATES: usize = 4;

/// Where a record's output is put together before it is appended whole: a cursor in a
/// register and one bounds check per copy, where appending to the output piece by piece
/// would load and store its length for every piece. The cursor lives in `apply`, apart from
/// the buffer, so that nothing out of line sees it and it never leaves its register.
struct Stage<'s> {
    buf: &'s mut [u8; STAGE],
    at: usize,
}

const STAGE: usize = 512;

impl Stage<'_> {
    /// Appends the first `len` bytes of `block` (`len <= BLOCK`).
    #[inline(always)]
    fn block(&mut self, out: &mut Vec<u8>, block: &[u8; BLOCK], len: usize) {
        // Past this check the compiler drops the copy's own bounds check.
        if self.at > STAGE - BLOCK {
            self.spill(out);
        }
        if let Some(room) = self.buf.get_mut(self.at..self.at + BLOCK) {
            room.copy_from_slice(block);
            self.at += len.min(BLOCK);
        }
    }

    #[inline(always)]
    fn piece(&mut self, out: &mut Vec<u8>, piece: &Piece) {
        match piece.block() {
            Some(block) => self.block(out, block, piece.bytes().len()),
            None => {
                self.spill(out);
                out.extend_from_slice(piece.bytes());
            }
        }
    }

    /// Moves what is staged to the output, so that whatever is written next follows it.
    #[inline(always)]
    fn spill(&mut self, out: &mut Vec<u8>) {
        append(out, self.buf.get(..self.at).unwrap_or_default());
        self.at = 0;
    }
}

/// Out of line, so that the staging cursor is passed by value.
#[inline(never)]
fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

impl Records {
    /// Writes the list's items from the lexer's position on for as long as they are records
    /// that fit a template, and says whether it wrote any; it stops before the `,` or `]` that
    /// ends the last one written (or, having written none, at the next item). `items` are the
    /// items' tags, `depth` the depth of the items; past `budget` bytes of output it gives up.
    pub(super) fn write(
        &mut self,
        lex: &mut Lexer<'_>,
        out: &mut Vec<u8>,
        tags: &mut Tags,
        items: &Written,
        depth: usize,
        budget: usize,
    ) -> Lexed<bool> {
        if !self.worth_a_try(lex) {
            return Ok(false);
        }
        // Made only now: a list of scalars does not pay for clearing it per item.
        let mut stage = [0; STAGE];
        // Where the `,` before the record being tried stands: a record that does not fit is
        // left to the general writer from there.
        let mut comma = None;
        loop {
            if comma.is_some() && !self.worth_a_try(lex) {
                return Ok(Self::stop(lex, comma));
            }
            if out.len() > budget {
                return Err(Bail);
            }
            let mut fitted = None;
            for (i, template) in self.templates.iter().enumerate() {
                if template.apply(lex, out, &mut stage)? {
                    fitted = Some(i);
                    break;
                }
            }
            match fitted {
                Some(0) => {}
                Some(i) => self.templates.swap(0, i),
                None => {
                    self.misses += 1;
                    let template = Template::read(lex.text(), lex.position(), tags, items, depth);
                    match template {
                        Some(template) if template.apply(lex, out, &mut stage)? => {
                            self.templates.truncate(TEMPLATES - 1);
                            self.templates.insert(0, template);
                        }
                        _ => {
                            self.refused = Some(lex.position());
                            return Ok(Self::stop(lex, comma));
                        }
                    }
                }
            }
            self.hits += 1;
            #[cfg(test)]
            HITS.with(|h| h.set(h.get() + 1));
            // The next record, when the list goes on with one.
            let pos = lex.position();
            if lex.text().as_bytes().get(pos) != Some(&b',') {
                return Ok(true);
            }
            comma = Some(pos);
            lex.jump(pos + 1);
        }
    }

    /// Whether the next item is a record to try: the list has not given up, and the item is
    /// an object that has not been refused already.
    fn worth_a_try(&self, lex: &mut Lexer<'_>) -> bool {
        let gone = self.misses >= MISSES && self.misses.saturating_mul(8) > self.hits;
        !gone && lex.peek() == Some(b'{') && self.refused != Some(lex.position())
    }

    /// Leaves the lexer where the general writer goes on: at the `,` after the last record
    /// written, or where it stands when none was. Says whether any was.
    fn stop(lex: &mut Lexer<'_>, comma: Option<usize>) -> bool {
        if let Some(comma) = comma {
            lex.jump(comma);
        }
        comma.is_some()
    }
}

impl Template {
    /// The template of the record at `at` (its `{`); `None` when it is not a flat record, or
    /// when the general writer should see it (invalid JSON, a duplicate key).
    fn read(text: &str, at: usize, tags: &mut Tags, items: &Written, depth: usize) -> Option<Template> {
        let mut lex = Lexer::starting_at(text, at);
        if lex.value().ok()? != (Item::Object { empty: false }) {
            return None;
        }
        let mut out = items.open.bytes().to_vec();
        out.push(b'\n');
        let mut holes = Vec::new();
        let mut from = at;
        let mut first = true;
        while let Some(key) = lex.key(first).ok()? {
            first = false;
            let member = tags.get(&key, lex.key_hash(), depth + 1);
            let value_at = lex.position();
            match lex.value().ok()? {
                Item::Null | Item::Object { empty: true } | Item::Array { empty: true } => out.extend_from_slice(member.empty.bytes()),
                value @ (Item::String(_) | Item::Escaped(_) | Item::Number(_) | Item::Bool(_)) => {
                    out.extend_from_slice(member.open.bytes());
                    let quoted = matches!(value, Item::String(_) | Item::Escaped(_));
                    let fixed = Stretch::new(text.as_bytes().get(from..value_at + usize::from(quoted))?);
                    holes.push(Step { fixed, quoted, out: Piece::new(&out) });
                    out.clear();
                    out.extend_from_slice(member.close.bytes());
                    from = lex.position();
                }
                Item::Object { empty: false } | Item::Array { empty: false } => return None,
            }
        }
        indent(&mut out, depth);
        out.extend_from_slice(items.close.bytes());
        let tail = Step { fixed: Stretch::new(text.as_bytes().get(from..lex.position())?), quoted: false, out: Piece::new(&out) };
        Some(Template { holes, tail })
    }

    /// Writes the record at the lexer's position when it fits; otherwise writes nothing,
    /// leaves the lexer where it was, and says so.
    fn apply(&self, lex: &mut Lexer<'_>, out: &mut Vec<u8>, buf: &mut [u8; STAGE]) -> Lexed<bool> {
        let stage = &mut Stage { buf, at: 0 };
        let start = lex.position();
        let mark = out.len();
        let bytes = lex.text().as_bytes();
        let mut pos = start;
        for step in &self.holes {
            let Some(after) = step.fixed.after(bytes, pos) else {
                return Ok(Self::back(lex, out, start, mark));
            };
            stage.piece(out, &step.out);
            pos = match step.quoted.then(|| scan::plain_string_end(bytes, after)).flatten() {
                Some(end) => {
                    match bytes.get(after..).and_then(<[u8]>::first_chunk::<BLOCK>) {
                        Some(block) if end - after <= BLOCK => stage.block(out, block, end - after),
                        _ => {
                            stage.spill(out);
                            out.extend_from_slice(bytes.get(after..end).unwrap_or_default());
                        }
                    }
                    end + 1
                }
                None => {
                    stage.spill(out);
                    match hole(lex, out, after - usize::from(step.quoted))? {
                        Some(end) => end,
                        None => return Ok(Self::back(lex, out, start, mark)),
                    }
                }
            };
        }
        let Some(end) = self.tail.fixed.after(bytes, pos) else {
            return Ok(Self::back(lex, out, start, mark));
        };
        stage.piece(out, &self.tail.out);
        stage.spill(out);
        lex.jump(end);
        Ok(true)
    }

    fn back(lex: &mut Lexer<'_>, out: &mut Vec<u8>, start: usize, mark: usize) -> bool {
        lex.jump(start);
        out.truncate(mark);
        false
    }
}

/// Reads and writes the value at `at` with the lexer; `None` when it is not one a hole holds.
#[inline(never)]
fn hole(lex: &mut Lexer<'_>, out: &mut Vec<u8>, at: usize) -> Lexed<Option<usize>> {
    // Only values the lexer reads without opening anything: it keeps no state for them.
    if !matches!(lex.text().as_bytes().get(at), Some(b'"' | b'-' | b'0'..=b'9' | b't' | b'f')) {
        return Ok(None);
    }
    lex.jump(at);
    match lex.value()? {
        Item::String(s) => text(out, s, lex),
        Item::Escaped(s) => escape_into(out, &s, false),
        Item::Number(n) => out.extend_from_slice(n.as_bytes()),
        Item::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Item::Null | Item::Object { .. } | Item::Array { .. } => return Ok(None),
    }
    Ok(Some(lex.position()))
}

#[cfg(test)]
thread_local! {
    /// Records written from templates on this thread, for the tests to see the path taken.
    static HITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
#[path = "xml_records_tests.rs"]
mod tests;
