//! Owns the JSON → XML writer that reproduces LiveAgent's documented XML byte for byte.
//!
//! Rules (also in the README): declaration line, root `<response>`, one element per line with
//! one space of indentation per level, elements in JSON key order; an array under key `K` is
//! `<K>` holding one element per item named by the singular of `K`; `null` is `<k/>`, an empty
//! string `<k></k>`; a key that is not an XML name becomes `<item key="…">`; characters XML 1.0
//! forbids become U+FFFD, so the output is well-formed whatever the input.

use super::bail::{Bail, Lexed};
use super::keys::Recent;
use super::lex::{Item, Lexer};
use super::piece::{self, Piece};
use super::singular::singular;
use crate::scan;
use records::Records;
use std::rc::Rc;

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// An element's tag, plus the original key when the key is not a usable XML name.
struct Tag<'a> {
    name: std::borrow::Cow<'a, str>,
    key_attr: Option<&'a str>,
}

impl<'a> Tag<'a> {
    fn for_key(key: &'a str) -> Self {
        if is_xml_name(key) {
            Tag { name: key.into(), key_attr: None }
        } else {
            Tag { name: "item".into(), key_attr: Some(key) }
        }
    }

    fn named(name: String) -> Self {
        let name = if is_xml_name(&name) { name } else { "item".to_string() };
        Tag { name: name.into(), key_attr: None }
    }
}

/// Writes an already parsed value as a LiveAgent XML document.
pub fn to_xml(value: &serde_json::Value) -> Result<String, super::TranscodeError> {
    super::render_text(value, crate::request::format::Format::Xml)
}

/// Writes JSON `text` as a LiveAgent XML document. A top-level `{"response": …}` object
/// supplies the root's content; any other top-level value is wrapped whole in `<response>`.
pub(super) fn document(text: &str) -> Lexed<Vec<u8>> {
    document_with(text, true)
}

/// [`document`], with or without writing lists' records from templates (`records`): the tests
/// and the fuzz target hold the two to the same output. `None` where the writer hands the text
/// to serde_json.
#[doc(hidden)]
pub fn streamed(text: &str, records: bool) -> Option<Vec<u8>> {
    document_with(text, records).ok()
}

fn document_with(text: &str, records: bool) -> Lexed<Vec<u8>> {
    let mut w = Writer {
        records,
        out: Vec::with_capacity(text.len() + text.len() / 4 + 64),
        tags: Tags::default(),
        open: Vec::new(),
        budget: super::output_budget(text.len()),
    };
    w.out.extend_from_slice(DECLARATION.as_bytes());
    let root = Rc::new(Written::new(&Tag::named("response".to_string()), 0));
    // LiveAgent's envelope, known only once its one key has been read: write it, and start
    // again wrapping the whole value if another key follows.
    let mut lex = Lexer::new(text);
    if lex.value()? == (Item::Object { empty: false }) && lex.key(true)?.as_deref() == Some("response") {
        let content = lex.value()?;
        element(&mut lex, &mut w, &root, content, "response")?;
        if lex.key(false)?.is_none() {
            lex.finish()?;
            return Ok(w.out);
        }
    }
    w.out.truncate(DECLARATION.len());
    w.open.clear();
    let mut lex = Lexer::new(text);
    let whole = lex.value()?;
    element(&mut lex, &mut w, &root, whole, "response")?;
    lex.finish()?;
    Ok(w.out)
}

/// The output is bytes, not a `String`, so short runs can be appended a block at a time
/// (see `piece`); everything written is whole UTF-8 characters from the input or from here.
struct Writer {
    out: Vec<u8>,
    tags: Tags,
    /// The objects and arrays being written, innermost last: a stack on the heap, so nesting
    /// as deep as the lexer reads cannot overflow the thread's stack.
    open: Vec<Open>,
    /// Most bytes `out` may hold (see `output_budget`).
    budget: usize,
    /// Whether lists' records are written from templates (see `records`).
    records: bool,
}

/// An object or array whose members are being written.
struct Open {
    /// Its own tags: the end tag is written when it closes.
    tag: Rc<Written>,
    /// For an array, the tags of its items; `None` for an object.
    items: Option<Rc<Written>>,
    /// For an array, the templates its records are written from.
    records: Records,
    /// Whether no member has been read yet.
    first: bool,
}

/// What is written for one element name at one depth, built once and then copied whole.
struct Written {
    /// Indentation and start tag.
    open: Piece,
    /// Indentation and empty-element tag, with its line end.
    empty: Piece,
    /// End tag and line end; indentation, where needed, is written before it.
    close: Piece,
}

impl Written {
    fn new(tag: &Tag<'_>, depth: usize) -> Self {
        let mut start = Vec::new();
        indent(&mut start, depth);
        open(&mut start, tag);
        let mut empty = start.clone();
        empty.pop();
        empty.extend_from_slice(b"/>\n");
        Written { open: Piece::new(&start), empty: Piece::new(&empty), close: Piece::new(format!("</{}>\n", tag.name).as_bytes()) }
    }
}

/// Tags of recently seen keys by key hash and depth. A list repeats the same keys in every
/// item, so nearly every key is found here and skips the name check and the tag building.
#[derive(Default)]
struct Tags(Recent<Rc<Written>>);

impl Tags {
    /// The tags of `key` at `depth`, built and cached if they are not cached yet.
    fn get(&mut self, key: &str, hash: u64, depth: usize) -> &Rc<Written> {
        self.0.get(key, hash, depth, || Rc::new(Written::new(&Tag::for_key(key), depth)))
    }
}

/// Writes `item` (already read) and, for an object or array, everything inside it. The depth
/// of an element is the number of open elements around it.
fn element(lex: &mut Lexer<'_>, w: &mut Writer, tag: &Rc<Written>, item: Item<'_>, list_key: &str) -> Lexed<()> {
    let base = w.open.len();
    start(w, lex, tag, item, list_key)?;
    while w.open.len() > base {
        let depth = w.open.len();
        let Some(top) = w.open.last_mut() else { break };
        let mut first = std::mem::replace(&mut top.first, false);
        // Members are written in a loop of their own until one opens an element, which the
        // outer loop then takes up: most members of LiveAgent's records are strings.
        match top.items.clone() {
            None => loop {
                let Some(key) = lex.key(first)? else {
                    close(w);
                    break;
                };
                first = false;
                let member = w.tags.get(&key, lex.key_hash(), depth);
                match lex.value()? {
                    Item::String(s) => {
                        member.open.append_to(&mut w.out);
                        text(&mut w.out, s, lex);
                        member.close.append_to(&mut w.out);
                    }
                    value => {
                        let member = Rc::clone(member);
                        if start(w, lex, &member, value, &key)? {
                            break;
                        }
                    }
                }
            },
            Some(items) => loop {
                if !lex.more(first)? {
                    close(w);
                    break;
                }
                first = false;
                if let Some(top) = w.open.last_mut().filter(|_| w.records) {
                    if top.records.write(lex, &mut w.out, &mut w.tags, &items, depth, w.budget)? {
                        continue;
                    }
                }
                let value = lex.value()?;
                // An array directly inside an array has no key of its own: its items are `item`.
                if start(w, lex, &items, value, "")? {
                    break;
                }
            },
        }
    }
    Ok(())
}

/// Writes a scalar or an empty element whole; opens an object or array, to be written on by
/// [`element`]'s loop, and then says so.
fn start(w: &mut Writer, lex: &Lexer<'_>, tag: &Rc<Written>, item: Item<'_>, list_key: &str) -> Lexed<bool> {
    match item {
        Item::Null | Item::Object { empty: true } | Item::Array { empty: true } => {
            tag.empty.append_to(&mut w.out);
            return Ok(false);
        }
        Item::Bool(b) => {
            tag.open.append_to(&mut w.out);
            w.out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        // As LiveAgent sent it: XML has one kind of text, so any JSON number reads back.
        Item::Number(n) => {
            tag.open.append_to(&mut w.out);
            w.out.extend_from_slice(n.as_bytes());
        }
        Item::String(s) => {
            tag.open.append_to(&mut w.out);
            text(&mut w.out, s, lex);
        }
        Item::Escaped(s) => {
            tag.open.append_to(&mut w.out);
            escape_into(&mut w.out, &s, false);
        }
        Item::Object { empty: false } | Item::Array { empty: false } => {
            if w.out.len() > w.budget {
                return Err(Bail);
            }
            tag.open.append_to(&mut w.out);
            w.out.push(b'\n');
            let depth = w.open.len() + 1;
            let items = matches!(item, Item::Array { .. }).then(|| Rc::new(Written::new(&Tag::named(singular(list_key)), depth)));
            w.open.push(Open { tag: Rc::clone(tag), items, records: Records::default(), first: true });
            return Ok(true);
        }
    }
    tag.close.append_to(&mut w.out);
    Ok(false)
}

/// Ends the innermost open element.
fn close(w: &mut Writer) {
    if let Some(done) = w.open.pop() {
        indent(&mut w.out, w.open.len());
        done.tag.close.append_to(&mut w.out);
    }
}

/// The string `s` the lexer read last, as text: escaped unless the lexer found it plain.
/// Only the string read last: its plainness and its block are the lexer's, not `s`'s.
#[inline(always)]
fn text(out: &mut Vec<u8>, s: &str, lex: &Lexer<'_>) {
    debug_assert!(lex.block().is_none_or(|b| b.starts_with(s.as_bytes()) || s.len() > piece::BLOCK));
    match lex.block() {
        Some(block) if lex.plain() && s.len() <= piece::BLOCK => piece::append(out, block, s.len()),
        _ if lex.plain() => out.extend_from_slice(s.as_bytes()),
        _ => escape_into(out, s, false),
    }
}

fn open(out: &mut Vec<u8>, tag: &Tag<'_>) {
    out.push(b'<');
    out.extend_from_slice(tag.name.as_bytes());
    if let Some(key) = tag.key_attr {
        out.extend_from_slice(b" key=\"");
        escape_into(out, key, true);
        out.push(b'"');
    }
    out.push(b'>');
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    piece::spaces(out, depth);
}

/// Bytes that need attention in XML text: almost all text has none, and is checked sixteen
/// bytes at a time before any character loop. 0xEF leads U+FFFE and U+FFFF, which XML forbids,
/// so text with it takes the character loop.
fn attention(v: scan::Lanes) -> scan::Lanes {
    let control = scan::at_most(v, 0x1F) & !(scan::eq(v, b'\t') | scan::eq(v, b'\n'));
    control | scan::eq(v, b'"') | scan::eq(v, b'&') | scan::eq(v, b'\'') | scan::eq(v, b'<') | scan::eq(v, b'>') | scan::eq(v, 0xEF)
}

/// Escapes like PHP 8.1 `htmlspecialchars` (what LiveAgent's encoder calls), keeps `\r` as a
/// reference so parsers do not normalise it away, and replaces what XML 1.0 cannot carry. In
/// an attribute value (`attr`) tab and line feed are references too: parsers normalise them
/// there to spaces (XML 1.0 section 3.3.3).
fn escape_into(out: &mut Vec<u8>, text: &str, attr: bool) {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || attr && matches!(c, '\t' | '\n');
    let plain = |c: char| !special(c) && xml_char(c);
    if !attr && scan::find(text.as_bytes(), 0, attention) == text.len() || text.chars().all(plain) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        let reference: &[u8] = match c {
            '&' => b"&amp;",
            '<' => b"&lt;",
            '>' => b"&gt;",
            '"' => b"&quot;",
            '\'' => b"&#039;",
            '\r' => b"&#13;",
            '\t' if attr => b"&#9;",
            '\n' if attr => b"&#10;",
            c => {
                let c = if xml_char(c) { c } else { '\u{FFFD}' };
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
        };
        out.extend_from_slice(reference);
    }
}

/// XML 1.0 `Char` (surrogates cannot occur in a Rust `str`).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `s` is an element name every XML 1.0 reader takes: ASCII letters, digits, `_`, `-`
/// and `.`, starting with a letter or `_`, and not the reserved `xml` prefix. XML 1.0's fifth
/// edition allows far more (`🎉`, `x‿`, `٣x`), but readers built on the older name tables
/// (expat, so Python's `xml.etree`) refuse those, and one refused name loses the whole
/// document; any other key is written in `<item key="…">`. `:` is left out for namespace-aware
/// readers.
pub fn is_xml_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|f| f.is_ascii_alphabetic() || *f == b'_')
        && !b.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"xml"))
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

#[path = "xml_records.rs"]
mod records;

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
