//! Owns the lines of chunked transfer coding, exactly as RFC 9112 §7.1 writes them: a chunk
//! size (hex digits, no sign, no prefix), extensions (`;` name [`=` token or quoted-string]),
//! trailer fields, each ended by CRLF and nothing else. A bare LF, an empty size or a field
//! that is not a field is refused: a proxy behind the gateway that read them differently
//! would see another message boundary (request smuggling, CVE-2025-55315).

/// Longest chunk-size or trailer line accepted, CRLF included.
pub const MAX_LINE: usize = 4096;

/// A line is not what the grammar allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLine;

/// What a line reader found at the start of the input.
pub type Line<T> = Result<Option<(usize, T)>, BadLine>;

/// The chunk-size line at the start of `input`: its length (CRLF included) and the size, or
/// `None` while the line is not complete.
pub fn size_line(input: &[u8]) -> Line<u64> {
    let Some(end) = line_end(input)? else { return Ok(None) };
    let line = &input[..end];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    // 16 hex digits hold any u64; more (even leading zeros) is refused rather than guessed.
    if digits == 0 || digits > 16 {
        return Err(BadLine);
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| (n << 4) | u64::from(hex(b)));
    extensions(&line[digits..])?;
    Ok(Some((end + 2, size)))
}

/// One trailer line at the start of `input`: its length and whether it is the empty line
/// that ends the trailers. A field line must be `token ":" value` (RFC 9112 §5), the value
/// without control characters other than HTAB; folded lines are refused.
pub fn trailer_line(input: &[u8]) -> Line<bool> {
    let Some(end) = line_end(input)? else { return Ok(None) };
    let line = &input[..end];
    if line.is_empty() {
        return Ok(Some((2, true)));
    }
    let name = line.iter().take_while(|&&b| is_tchar(b)).count();
    if name == 0 || line.get(name) != Some(&b':') || !line[name + 1..].iter().all(|&b| b == b'\t' || b >= 0x20 && b != 0x7F) {
        return Err(BadLine);
    }
    Ok(Some((end + 2, false)))
}

/// Where the line at the start of `input` ends (the index of its CR), `None` while there is
/// no CRLF yet. A CR or LF anywhere else, or a line over `MAX_LINE`, is refused.
fn line_end(input: &[u8]) -> Result<Option<usize>, BadLine> {
    match memchr::memchr2(b'\r', b'\n', input) {
        Some(i) if input[i] == b'\n' => Err(BadLine),
        Some(i) if i + 2 > MAX_LINE => Err(BadLine),
        Some(i) => match input.get(i + 1) {
            Some(b'\n') => Ok(Some(i)),
            Some(_) => Err(BadLine),
            None => Ok(None),
        },
        None if input.len() >= MAX_LINE => Err(BadLine),
        None => Ok(None),
    }
}

/// `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`, the whole rest.
fn extensions(mut rest: &[u8]) -> Result<(), BadLine> {
    loop {
        rest = bws(rest);
        let Some(after) = rest.strip_prefix(b";") else {
            return if rest.is_empty() { Ok(()) } else { Err(BadLine) };
        };
        let after = bws(after);
        let name = after.iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return Err(BadLine);
        }
        rest = &after[name..];
        let Some(value) = bws(rest).strip_prefix(b"=") else { continue };
        let value = bws(value);
        rest = match value.first() {
            Some(b'"') => quoted(&value[1..])?,
            _ => {
                let token = value.iter().take_while(|&&b| is_tchar(b)).count();
                if token == 0 {
                    return Err(BadLine);
                }
                &value[token..]
            }
        };
    }
}

/// The rest after a quoted-string whose opening quote was just taken.
fn quoted(mut s: &[u8]) -> Result<&[u8], BadLine> {
    loop {
        match s {
            [b'"', rest @ ..] => return Ok(rest),
            [b'\\', c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7F => s = rest,
            [c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7F && *c != b'\\' => s = rest,
            _ => return Err(BadLine),
        }
    }
}

fn bws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// A token character (RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_extensions_as_the_rfc_writes_them() {
        for (line, size) in [
            ("0\r\n", 0),
            ("1a\r\n", 26),
            ("FFFFFFFFFFFFFFFF\r\n", u64::MAX),
            ("5;ext\r\n", 5),
            ("5 ; a=1 ;b=\"x;y\\\"z\"\r\n", 5),
            ("5;a = b\r\n", 5),
        ] {
            assert_eq!(size_line(line.as_bytes()), Ok(Some((line.len(), size))), "{line:?}");
        }
        for partial in ["", "5", "5;ext", "5\r"] {
            assert_eq!(size_line(partial.as_bytes()), Ok(None), "{partial:?}");
        }
        for bad in [
            "\r\n",
            "+5\r\n",
            "-1\r\n",
            "0x5\r\n",
            " 5\r\n",
            "5\n",
            "2;\nxx\r\n",
            "5\rX",
            "5;\r\n",
            "5;=a\r\n",
            "5;a=\r\n",
            "5;a=\"open\r\n",
            "5;a=b c\r\n",
            "5 x\r\n",
            "00000000000000005\r\n",
            "5;a=\"\x01\"\r\n",
        ] {
            assert_eq!(size_line(bad.as_bytes()), Err(BadLine), "{bad:?}");
        }
        assert_eq!(size_line(&[b'5'; MAX_LINE]), Err(BadLine));
        assert_eq!(size_line(format!("5;{}\r\n", "a".repeat(MAX_LINE)).as_bytes()), Err(BadLine));
    }

    #[test]
    fn trailers_are_fields() {
        assert_eq!(trailer_line(b"\r\n"), Ok(Some((2, true))));
        assert_eq!(trailer_line(b"X-Sum: 1 2\r\n\r\n"), Ok(Some((12, false))));
        assert_eq!(trailer_line(b"X-Sum:\r\n"), Ok(Some((8, false))));
        assert_eq!(trailer_line(b"X-Sum: 1"), Ok(None));
        for bad in ["no colon\r\n", ": empty\r\n", " folded: x\r\n", "X: a\nb\r\n", "X\n", "X: \x00\r\n", "Bad Name: x\r\n"] {
            assert_eq!(trailer_line(bad.as_bytes()), Err(BadLine), "{bad:?}");
        }
    }
}
