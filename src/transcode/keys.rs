//! Owns what the lexer remembers of object keys: the duplicate check, and the text around the
//! keys of the last object at each depth, which predicts the text of the next one.
//!
//! LiveAgent's lists are arrays of objects with the same keys in the same order and the same
//! layout. Once one item has been read, the text from the end of each value of the next item
//! to the start of its next value (`,`, line end, indentation, the key, `:`) is compared whole
//! against the same stretch of the item before. A match skips the scans for the separator, the
//! key's closing quote and the colon, the key's hash and the duplicate check: the keys of a
//! finished object are distinct, so a prefix of them is too. And since the next value starts
//! at a known distance, the processor reads on before the comparison is even done. At the
//! first stretch that differs the object leaves its prediction, and the keys it matched so far
//! join the duplicate check as if they had been read one by one.

use super::bail::{Bail, Lexed};

/// serde_json keeps the last value of a repeated key at the first key's place; an object with
/// more keys than this goes through serde_json rather than through a long duplicate check.
const MAX_KEYS: usize = 1024;

/// One key as it stands in the text.
#[derive(Clone, Copy)]
pub struct Key {
    pub hash: u64,
    /// Where the lexer stood when it went for this key: just after the previous value, or at
    /// the first key's opening quote.
    at: usize,
    /// Length of the stretch from `at` to the first byte of the key's value.
    pub len: usize,
    /// Position of the key's opening quote, and its length with both quotes; 0 for a key with
    /// escapes, whose raw text is not its value: an object with one never becomes a prediction.
    pub quote: usize,
    pub quoted: usize,
}

impl Key {
    pub fn new(hash: u64, at: usize, len: usize, quote: usize, quoted: usize) -> Self {
        Key { hash, at, len, quote, quoted }
    }
}

/// One open object.
struct Frame {
    /// Where its keys start in `Keys::seen`.
    start: usize,
    /// A 256-bit filter of the hashes in `seen[start..]`: spares the scan of them for almost
    /// every new key.
    filter: [u64; 4],
    /// How many of its keys matched the prediction; while `predicting`, none is in `seen`.
    matched: usize,
    predicting: bool,
}

#[derive(Default)]
pub struct Keys {
    /// Keys of every open object, innermost last, once it is not (or no longer) predicted.
    seen: Vec<Key>,
    frames: Vec<Frame>,
    /// Per depth of objects: the keys, in order, of the last object read there that did not
    /// follow the prediction and had no escaped key.
    shapes: Vec<Vec<Key>>,
}

impl Keys {
    /// A non-empty object starts.
    pub fn open(&mut self) {
        let predicting = self.shapes.get(self.frames.len()).is_some_and(|s| !s.is_empty());
        self.frames.push(Frame { start: self.seen.len(), filter: [0; 4], matched: 0, predicting });
    }

    /// The innermost object ends. An object that left its prediction (or had none) becomes
    /// the prediction for the next object at its depth.
    pub fn close(&mut self) -> Lexed<()> {
        let frame = self.frames.pop().ok_or(Bail)?;
        let keys = self.seen.get(frame.start..).unwrap_or_default();
        if !frame.predicting && keys.iter().all(|k| k.quoted > 0) {
            let depth = self.frames.len();
            if self.shapes.len() <= depth {
                self.shapes.resize_with(depth + 1, Vec::new);
            }
            if let Some(shape) = self.shapes.get_mut(depth) {
                shape.clear();
                shape.extend_from_slice(keys);
            }
        }
        self.seen.truncate(frame.start);
        Ok(())
    }

    /// The next key of the innermost object, with `at` moved onto this object's text, when
    /// the text from `at` repeats the predicted stretch byte for byte.
    #[inline(always)]
    pub fn predicted(&mut self, bytes: &[u8], at: usize) -> Option<Key> {
        let depth = self.frames.len().checked_sub(1)?;
        let frame = self.frames.last_mut()?;
        if !frame.predicting {
            return None;
        }
        let key = *self.shapes.get(depth)?.get(frame.matched)?;
        let raw = |from: usize| bytes.get(from..from + key.len);
        if !raw(at).zip(raw(key.at)).is_some_and(|(a, b)| same(a, b)) {
            return None;
        }
        frame.matched += 1;
        Some(Key { at, quote: at + (key.quote - key.at), ..key })
    }

    /// Records a key read the slow way. A key seen before in the same object gives up:
    /// `equal` tells, for the opening quote of an earlier key with the same hash, whether
    /// it is this key again.
    pub fn remember(&mut self, key: Key, equal: impl Fn(usize) -> Lexed<bool>) -> Lexed<()> {
        let depth = self.frames.len().checked_sub(1).ok_or(Bail)?;
        let frame = self.frames.last_mut().ok_or(Bail)?;
        if frame.predicting {
            // The keys matched so far are distinct and now take part in the duplicate check.
            frame.predicting = false;
            for &known in self.shapes.get(depth).and_then(|s| s.get(..frame.matched)).unwrap_or_default() {
                frame.filter = with(frame.filter, known.hash);
                self.seen.push(known);
            }
        }
        let earlier = self.seen.get(frame.start..).unwrap_or_default();
        if with(frame.filter, key.hash) == frame.filter {
            for k in earlier.iter().filter(|k| k.hash == key.hash) {
                if equal(k.quote)? {
                    return Err(Bail);
                }
            }
        }
        if earlier.len() >= MAX_KEYS {
            return Err(Bail);
        }
        frame.filter = with(frame.filter, key.hash);
        self.seen.push(key);
        Ok(())
    }
}

/// A 256-bit filter with the bit for `hash` set.
fn with(mut filter: [u64; 4], hash: u64) -> [u64; 4] {
    let bit = (hash >> 56) as usize;
    if let Some(word) = filter.get_mut(bit / 64) {
        *word |= 1u64 << (bit % 64);
    }
    filter
}

const SLOTS: usize = 64;

/// What a writer wrote for recently seen keys (a tag, a key as YAML writes it), by key hash
/// and depth: a list repeats the same keys in every item, so nearly every key is found here
/// and skips the checks and the building of what is written for it.
pub struct Recent<T> {
    slots: [Option<Slot<T>>; SLOTS],
}

/// Key hash, depth, the key itself, and what is written for it.
type Slot<T> = (u64, usize, Box<str>, T);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent { slots: std::array::from_fn(|_| None) }
    }
}

impl<T> Recent<T> {
    /// What is written for `key` at `depth`, made with `make` if it is not cached yet.
    #[inline(always)]
    pub fn get(&mut self, key: &str, hash: u64, depth: usize, make: impl FnOnce() -> T) -> &T {
        let slot = &mut self.slots[(hash as usize ^ depth) % SLOTS];
        if !matches!(slot, Some((h, d, k, _)) if *h == hash && *d == depth && same(k.as_bytes(), key.as_bytes())) {
            *slot = None;
        }
        &slot.get_or_insert_with(|| (hash, depth, key.into(), make())).3
    }
}

/// `a == b` for the short stretches around keys, in two overlapping compares instead of a call
/// to `memcmp`: a compare happens once per member.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    fn wide(bytes: Option<&[u8; 16]>) -> u128 {
        bytes.map_or(0, |w| u128::from_le_bytes(*w))
    }
    fn word(bytes: Option<&[u8; 8]>) -> u64 {
        bytes.map_or(0, |w| u64::from_le_bytes(*w))
    }
    fn half(bytes: Option<&[u8; 4]>) -> u32 {
        bytes.map_or(0, |w| u32::from_le_bytes(*w))
    }
    match a.len() {
        n if n != b.len() => false,
        17..=32 => wide(a.first_chunk()) == wide(b.first_chunk()) && wide(a.last_chunk()) == wide(b.last_chunk()),
        8..=16 => word(a.first_chunk()) == word(b.first_chunk()) && word(a.last_chunk()) == word(b.last_chunk()),
        4..=7 => half(a.first_chunk()) == half(b.first_chunk()) && half(a.last_chunk()) == half(b.last_chunk()),
        _ => a == b,
    }
}

/// FxHash over the key's bytes: fast, and a collision only costs a second read of a key.
pub fn hash(bytes: &[u8]) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comparison() {
        let keys: Vec<String> =
            (0..=40).flat_map(|n| ["a".repeat(n), format!("{}b", "a".repeat(n)), format!("b{}", "a".repeat(n))]).collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
        assert!(!same(b"abcdefghij", b"abcdXfghij"), "a difference in the middle of two words");
        assert!(!same(b"abcde", b"abXde"));
    }
}
