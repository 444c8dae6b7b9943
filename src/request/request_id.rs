//! Owns request ids: taken from the client's `X-Request-Id` when it is safe to echo and log,
//! otherwise generated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

/// Per-process random prefix, so ids from several replicas do not collide.
static PREFIX: LazyLock<u64> = LazyLock::new(|| {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    // splitmix64 finaliser: spreads the low-entropy inputs over all bits.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
});
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The client's id when it is 1–128 characters of `A-Za-z0-9._-`; otherwise a new one.
pub fn from_header(header: Option<&str>) -> String {
    match header {
        Some(h) if !h.is_empty() && h.len() <= 128 && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) => {
            h.to_string()
        }
        _ => generate(),
    }
}

/// 32 hex digits: the process prefix, then a counter. Not `format!`: that took a measurable
/// share of a small request's CPU.
pub fn generate() -> String {
    let mut words = [0u8; 16];
    words[..8].copy_from_slice(&PREFIX.to_be_bytes());
    words[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    // Into a buffer, not `hex::encode`: that pushes one `char` at a time.
    let mut text = [0u8; 32];
    match hex::encode_to_slice(words, &mut text) {
        // Hex digits are ASCII: the check passes, and costs less than the lossy conversion.
        Ok(()) => String::from_utf8(text.to_vec()).unwrap_or_default(),
        Err(_) => hex::encode(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(from_header(Some("abc-123")), "abc-123");
        let bad = from_header(Some("a b\nc"));
        assert_eq!(bad.len(), 32);
        assert_ne!(generate(), generate());
        let (a, b) = (generate(), generate());
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // The counter is the low half: consecutive ids differ by one there, and share the prefix.
        assert_eq!(u64::from_str_radix(&b[16..], 16).unwrap(), u64::from_str_radix(&a[16..], 16).unwrap() + 1);
        assert_eq!(a[..16], b[..16]);
        assert_eq!(from_header(Some(&"x".repeat(129))).len(), 32);
    }
}
