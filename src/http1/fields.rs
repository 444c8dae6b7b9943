//! Owns the header fields of one message head: the head's bytes and where each name and
//! value lies in them, for request and response heads alike.

use super::framing;

/// Start and end of a piece of a head's bytes.
pub(super) type Span = (u32, u32);

/// The header fields of one message head, as sent: a copy of the head's bytes and where each
/// name and value lies in it. No map and no allocation per field: a head is looked up a few
/// times and read through once.
#[derive(Debug, Default)]
pub struct Fields {
    raw: Vec<u8>,
    list: Vec<(Span, Span)>,
}

impl Fields {
    /// Copies `head` (the whole head) and notes where `fields`, parsed from it, lie.
    pub fn fill(&mut self, head: &[u8], fields: &[httparse::Header<'_>]) {
        self.raw.clear();
        self.raw.extend_from_slice(head);
        self.list.clear();
        for field in fields {
            self.list.push((span_in(head, field.name.as_bytes()), span_in(head, field.value)));
        }
    }

    fn bytes(&self, (start, end): Span) -> &[u8] {
        &self.raw[start as usize..end as usize]
    }

    /// Every field as sent, in order; names as spelled (tokens, so ASCII).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> {
        self.list.iter().map(|&(name, value)| (self.bytes(name), self.bytes(value)))
    }

    /// The values of every field called `name` (any case), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a [u8]> {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first field called `name` (any case), when its value is visible ASCII.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Names compared as bytes: only the match is turned into text.
        let &(_, value) = self.list.iter().find(|&&(n, _)| self.bytes(n).eq_ignore_ascii_case(name.as_bytes()))?;
        let value = self.bytes(value);
        value.iter().all(|&b| b == b'\t' || (0x20..0x7F).contains(&b)).then(|| std::str::from_utf8(value).ok()).flatten()
    }

    /// Whether a field called `name` lists `token` (comma-separated, any case).
    pub fn lists(&self, name: &str, token: &[u8]) -> bool {
        self.iter().any(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && framing::lists_token(v, token))
    }
}

/// The `timeout=` of a `Keep-Alive` field (RFC 2068 §19.7.1, as Apache and nginx send it):
/// how long the server keeps an idle connection open.
pub fn keep_alive_timeout(value: &[u8]) -> Option<std::time::Duration> {
    value.split(|&b| b == b',').find_map(|param| {
        let (name, secs) = param.trim_ascii().split_at(param.trim_ascii().iter().position(|&b| b == b'=')?);
        let secs = std::str::from_utf8(&secs[1..]).ok()?.trim().parse().ok()?;
        name.trim_ascii().eq_ignore_ascii_case(b"timeout").then(|| std::time::Duration::from_secs(secs))
    })
}

/// Where `piece`, a slice of `whole`, lies in it.
pub(super) fn span_in(whole: &[u8], piece: &[u8]) -> Span {
    let start = (piece.as_ptr() as usize - whole.as_ptr() as usize) as u32;
    (start, start + piece.len() as u32)
}
