//! Owns byte scans sixteen bytes at a time: the transcoder's, and the checks of header values
//! and access-log strings.
//!
//! A scan compares a whole chunk at once (SSE2 on x86-64, through `wide`, which keeps this
//! crate free of `unsafe`): finding the end of a 12-byte string costs one pass over one chunk
//! instead of a branch per byte and a mispredicted one at its end.

use wide::u8x16;

const CHUNK: usize = 16;

/// Bytes of a chunk, each all ones where a predicate holds and zero elsewhere.
pub type Lanes = u8x16;

/// Position of the first byte at or after `from` whose lane `hit` sets, or `bytes.len()`.
#[inline(always)]
pub fn find(bytes: &[u8], from: usize, hit: impl Fn(Lanes) -> Lanes) -> usize {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<CHUNK>) {
        let mask = hit(u8x16::new(*chunk)).to_bitmask();
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += CHUNK;
    }
    if at >= bytes.len() {
        return bytes.len();
    }
    // The last few bytes: the chunk that ends with them when the input is that long, its lanes
    // before `at` (already looked at) masked off; otherwise padded to a chunk.
    if let Some(last) = bytes.last_chunk::<CHUNK>() {
        let seen = CHUNK - (bytes.len() - at);
        let mask = hit(u8x16::new(*last)).to_bitmask() >> seen;
        return if mask != 0 { at + mask.trailing_zeros() as usize } else { bytes.len() };
    }
    let rest = bytes.get(at..).unwrap_or_default();
    let mut padded = [0u8; CHUNK];
    if let Some(head) = padded.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    let mask = hit(u8x16::new(padded)).to_bitmask() & ((1u32 << rest.len()) - 1);
    if mask != 0 {
        at + mask.trailing_zeros() as usize
    } else {
        bytes.len()
    }
}

/// Lanes equal to `b`.
#[inline(always)]
pub fn eq(v: Lanes, b: u8) -> Lanes {
    v.simd_eq(u8x16::splat(b))
}

/// Lanes at most `b`.
#[inline(always)]
pub fn at_most(v: Lanes, b: u8) -> Lanes {
    v.min(u8x16::splat(b)).simd_eq(v)
}

/// Anything but JSON whitespace.
#[inline(always)]
pub fn not_ws(v: Lanes) -> Lanes {
    !(eq(v, b' ') | eq(v, b'\n') | eq(v, b'\r') | eq(v, b'\t'))
}

/// Bytes markup escapes (`&`, `'`, `<`, `>`), and anything outside printable ASCII.
#[inline(always)]
pub fn notable(v: Lanes) -> Lanes {
    markup(v) | !printable(v)
}

/// `&`, `'`, `<` and `>`. `&` (0x26) and `'` (0x27) differ only in the lowest bit, `<` (0x3C)
/// and `>` (0x3E) only in the next: two masked compares instead of four, in a check that
/// runs on every string of an answer.
#[inline(always)]
fn markup(v: Lanes) -> Lanes {
    (v & u8x16::splat(0xFE)).simd_eq(u8x16::splat(b'&')) | (v & u8x16::splat(0xFD)).simd_eq(u8x16::splat(b'<'))
}

/// Printable ASCII, 0x20 to 0x7E: one range compare (the subtraction wraps what is below it
/// past the top).
#[inline(always)]
fn printable(v: Lanes) -> Lanes {
    at_most(v - u8x16::splat(0x20), 0x7E - 0x20)
}

/// Bytes that end a run of plain characters inside a JSON string: the closing quote, an
/// escape, or a control character JSON does not allow raw.
#[inline(always)]
pub fn ends_string(v: Lanes) -> Lanes {
    eq(v, b'"') | eq(v, b'\\') | at_most(v, 0x1F)
}

/// Where the closing quote stands of the JSON string whose text starts at `from`, when the
/// string is plain: no escape, no control character and nothing [`notable`] before the quote.
/// `None` otherwise, and when fewer than sixteen bytes are left to read a chunk from. Only the
/// quote decides where the next read starts; the rest is checked beside it, so a run of short
/// strings costs one compare per chunk in the chain from one string to the next.
#[inline(always)]
pub fn plain_string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let v = u8x16::new(*bytes.get(at..)?.first_chunk::<CHUNK>()?);
        let quote = eq(v, b'"').to_bitmask();
        // Control characters are outside the printable range, so no check of their own.
        let bad = (eq(v, b'\\') | notable(v)).to_bitmask();
        if quote != 0 {
            let end = quote.trailing_zeros();
            return (bad & ((1 << end) - 1) == 0).then_some(at + end as usize);
        }
        if bad != 0 {
            return None;
        }
        at += CHUNK;
    }
}

/// Bytes that would end a header field early: CR, LF and NUL.
#[inline(always)]
pub fn breaks_field(v: Lanes) -> Lanes {
    eq(v, b'\r') | eq(v, b'\n') | eq(v, 0)
}

/// Bytes a JSON string cannot carry as they are: `"`, `\\`, control characters (and DEL,
/// kept out of log lines too).
#[inline(always)]
pub fn json_escaped(v: Lanes) -> Lanes {
    eq(v, b'"') | eq(v, b'\\') | at_most(v, 0x1F) | eq(v, 0x7F)
}

/// Control characters and DEL.
#[inline(always)]
pub fn control(v: Lanes) -> Lanes {
    at_most(v, 0x1F) | eq(v, 0x7F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_hit_at_every_offset_and_length() {
        for len in 0..40 {
            for hit_at in 0..=len {
                let mut bytes = vec![b'a'; len];
                if let Some(b) = bytes.get_mut(hit_at) {
                    *b = b'"';
                }
                for from in 0..=len {
                    let want = if hit_at < len && hit_at >= from { hit_at } else { len };
                    assert_eq!(find(&bytes, from, ends_string), want, "len {len} hit {hit_at} from {from}");
                }
            }
        }
    }

    #[test]
    fn the_tail_chunk_overlaps_what_was_seen_without_finding_it_again() {
        // 20 bytes: one whole chunk, then the last 16 reread; a hit in the first chunk's lanes
        // must not be reported again from the tail.
        let mut bytes = *b"aaaa\"aaaaaaaaaaaaaaa";
        assert_eq!(find(&bytes, 5, ends_string), 20);
        bytes[18] = b'\\';
        assert_eq!(find(&bytes, 5, ends_string), 18);
        assert_eq!(find(&bytes, 19, ends_string), 20);
        assert_eq!(find(b"ab\r\ncd", 0, breaks_field), 2);
        assert_eq!(find(b"value with a NUL\0", 0, breaks_field), 16);
        assert_eq!(find(b"plain value of a field", 0, breaks_field), 22);
        assert_eq!(find(b"tab\there and \x7f", 0, json_escaped), 3);
        assert_eq!(find(b"no control here at all \x7f", 0, control), 23);
    }

    #[test]
    fn plain_strings_end_at_their_quote_and_others_are_refused() {
        for len in 0..40 {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut body = text.clone();
            body.extend_from_slice(b"\",\n  \"next\":\"0123456789abcdef\"");
            assert_eq!(plain_string_end(&body, 0), Some(len), "plain of length {len}");
            for bad_at in 0..len {
                for bad in [b'\\', b'\n', 0x01, b'&', b'<', b'>', b'\'', 0x7F, 0xC3] {
                    let mut body = body.clone();
                    body[bad_at] = bad;
                    assert_eq!(plain_string_end(&body, 0), None, "{bad:#x} at {bad_at} of {len}");
                }
            }
            // A notable byte after the quote is the next item's, not this string's.
            let mut after = body.clone();
            after[len + 1] = b'&';
            assert_eq!(plain_string_end(&after, 0), Some(len));
        }
        assert_eq!(plain_string_end(b"short\"", 0), None, "fewer than sixteen bytes left");
    }

    #[test]
    fn notable_bytes_are_markup_and_everything_not_printable() {
        for b in 0..=255u8 {
            let want = matches!(b, b'&' | b'\'' | b'<' | b'>') || !(0x20..=0x7E).contains(&b);
            let lanes = notable(u8x16::splat(b)).to_bitmask();
            assert_eq!(lanes, if want { 0xFFFF } else { 0 }, "byte {b:#x}");
        }
    }

    #[test]
    fn whitespace_and_string_ends() {
        let text = b"   \n\t\r  x";
        assert_eq!(find(text, 0, not_ws), 8);
        assert_eq!(find(b"  ", 0, not_ws), 2);
        assert_eq!(find(b"abc\\\"", 0, ends_string), 3);
        assert_eq!(find(b"ab\x01c\"", 0, ends_string), 2);
        assert_eq!(find(b"\xff\xfe\x7f\"", 0, ends_string), 3);
    }
}
