//! Owns keeping LiveAgent's key out of every answer: with key substitution, an upstream that
//! echoes a request (TRACE, a debug page, an error message quoting its input) would hand the
//! key it was sent back to the client. Each occurrence, as written raw, percent-encoded or
//! JSON-escaped, is overwritten with `*` of the same length, so lengths and framing hold.

use memchr::memmem::Finder;
use std::cell::RefCell;
use std::sync::Arc;

/// The key's spellings, each with its searcher built once: building one costs more than a
/// search of a small answer does. Its `Debug` shows no spelling.
struct Spellings {
    secret: String,
    finders: Vec<Finder<'static>>,
    shortest: usize,
    longest: usize,
}

impl Spellings {
    fn new(secret: &str) -> Self {
        let raw = secret.as_bytes().to_vec();
        let encoded: Vec<u8> = form_urlencoded::byte_serialize(secret.as_bytes()).flat_map(str::bytes).collect();
        let json = serde_json::to_string(secret).map(|s| s.trim_matches('"').replace('/', "\\/").into_bytes()).unwrap_or_default();
        let mut patterns = vec![raw];
        for p in [encoded, json] {
            if !p.is_empty() && !patterns.contains(&p) {
                patterns.push(p);
            }
        }
        let shortest = patterns.iter().map(Vec::len).min().unwrap_or(0);
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let finders = patterns.iter().map(|p| Finder::new(p).into_owned()).collect();
        Spellings { secret: secret.to_string(), finders, shortest, longest }
    }
}

impl std::fmt::Debug for Spellings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spellings").field("spellings", &self.finders.len()).finish_non_exhaustive()
    }
}

thread_local! {
    /// The spellings of the key last redacted on this thread: a gateway substitutes one key (or
    /// a few, per client key), so nearly every request finds them here.
    static LAST: RefCell<Option<Arc<Spellings>>> = const { RefCell::new(None) };
}

/// The key's spellings to look for, and the tail of a stream held back in case one of them
/// continues in the next piece.
#[derive(Debug, Clone)]
pub struct Redactor {
    spellings: Arc<Spellings>,
    held: Vec<u8>,
}

impl Redactor {
    /// A redactor for `secret`; `None` for an empty one.
    pub fn new(secret: &str) -> Option<Redactor> {
        if secret.is_empty() {
            return None;
        }
        let spellings = LAST.with(|last| {
            let mut last = last.borrow_mut();
            match last.as_ref() {
                Some(known) if known.secret == secret => Arc::clone(known),
                _ => Arc::clone(last.insert(Arc::new(Spellings::new(secret)))),
            }
        });
        Some(Redactor { spellings, held: Vec::new() })
    }

    /// Whether `bytes` holds the key in any spelling.
    pub fn found(&self, bytes: &[u8]) -> bool {
        // Most header values are shorter than any spelling of a key.
        bytes.len() >= self.spellings.shortest && self.spellings.finders.iter().any(|f| f.find(bytes).is_some())
    }

    /// Overwrites every occurrence in `bytes`.
    pub fn whole(&self, bytes: &mut [u8]) {
        for f in &self.spellings.finders {
            let len = f.needle().len();
            let mut from = 0;
            while let Some(at) = bytes.get(from..).and_then(|rest| f.find(rest)) {
                let start = from + at;
                if let Some(found) = bytes.get_mut(start..start + len) {
                    found.fill(b'*');
                }
                from = start + len;
            }
        }
    }

    /// Takes the next piece of a stream; appends to `out` what can be sent now. The last
    /// `longest - 1` bytes wait for the next piece or [`Redactor::finish`].
    pub fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        // The held tail and the piece go straight into `out` and are overwritten there: one
        // copy of the body; only the new tail is copied back.
        let start = out.len();
        out.append(&mut self.held);
        out.extend_from_slice(piece);
        if let Some(fresh) = out.get_mut(start..) {
            self.whole(fresh);
        }
        let keep = (self.spellings.longest - 1).min(out.len() - start);
        let ready = out.len() - keep;
        self.held.extend_from_slice(out.get(ready..).unwrap_or_default());
        out.truncate(ready);
    }

    /// The end of the stream: what was held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_overwritten_in_place() {
        let r = Redactor::new("la/key+1").unwrap_or_else(|| panic!("empty"));
        let mut text = br#"{"echo":"GET /a?apikey=la%2Fkey%2B1 HTTP/1.1\r\napikey: la/key+1","json":"la\/key+1"}"#.to_vec();
        let len = text.len();
        assert!(r.found(&text));
        r.whole(&mut text);
        assert_eq!(text.len(), len);
        let text = String::from_utf8_lossy(&text);
        assert!(!text.contains("la/key") && !text.contains("la%2Fkey") && !text.contains("la\\/key"), "{text}");
        assert!(text.contains("apikey=************ HTTP") && text.contains("apikey: ********"), "{text}");
        assert!(Redactor::new("").is_none());
        assert!(!format!("{r:?}").contains("key"), "{r:?}");
    }

    #[test]
    fn another_key_gets_its_own_spellings() {
        // The thread keeps the last key's searchers: a different key must not reuse them.
        for (secret, other) in [("first-key", "second-key"), ("second-key", "first-key"), ("first-key", "second-key")] {
            let r = Redactor::new(secret).unwrap_or_else(|| panic!("empty"));
            assert!(r.found(format!("x{secret}y").as_bytes()), "{secret}");
            assert!(!r.found(other.as_bytes()), "{secret} found {other}");
        }
    }

    #[test]
    fn a_key_split_across_pieces_is_caught() {
        let secret = "sim-secret-key";
        let body = format!("[\"{secret}\",\"x{secret}\",\"{secret}\"]");
        for step in 1..body.len() {
            let mut r = Redactor::new(secret).unwrap_or_else(|| panic!("empty"));
            let mut out = Vec::new();
            for piece in body.as_bytes().chunks(step) {
                r.feed(piece, &mut out);
            }
            r.finish(&mut out);
            assert_eq!(out.len(), body.len(), "step {step}");
            assert!(!String::from_utf8_lossy(&out).contains("secret"), "step {step}: {}", String::from_utf8_lossy(&out));
        }
    }
}
