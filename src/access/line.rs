//! Owns the text of one access-log line: the request's facts, known in advance, written into
//! a buffer the caller reuses, without the general tracing machinery (no field visitors, no
//! `format!`, no allocation): JSON by default, `key=value` text for `log.format: text`, both
//! from one list of fields (`write`).

use crate::metrics::RequestFacts;

/// A thread's cache of the current second as `YYYY-MM-DDTHH:MM:SS` (the date of a timestamp
/// is computed once a second, not per line).
pub type SecondCache = (u64, [u8; 19]);

/// Writes `s` as the inside of a JSON string. Every value here is bounded by the gateway
/// (ids, templates, labels), but a line must stay one valid line whatever it holds.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Nearly every value needs no escape: it goes in whole after one scan.
    let bytes = s.as_bytes();
    let plain = crate::scan::find(bytes, 0, crate::scan::json_escaped);
    out.extend_from_slice(bytes.get(..plain).unwrap_or_default());
    for &b in bytes.get(plain..).unwrap_or_default() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
}

/// Milliseconds with microsecond precision (`12.345`), from seconds.
fn millis(out: &mut Vec<u8>, secs: f64) {
    let micros = (secs * 1e6).round().clamp(0.0, 1e15) as u64;
    out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
    out.push(b'.');
    let frac = micros % 1000;
    out.extend_from_slice(&[b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8]);
}

/// The instant as RFC 3339 in UTC with microseconds: the date and time of day come from the
/// per-thread `cache` of the current second (computed once a second), the rest from digits.
pub fn timestamp(out: &mut Vec<u8>, now: std::time::SystemTime, cache: &mut SecondCache) {
    let d = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    if cache.0 != secs || cache.1[0] == 0 {
        let text = jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0))
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default();
        if let Ok(bytes) = <[u8; 19]>::try_from(text.as_bytes()) {
            *cache = (secs, bytes);
        }
    }
    out.extend_from_slice(&cache.1);
    out.push(b'.');
    let micros = d.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut m = micros;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// How a line is written: JSON, as `tracing-subscriber`'s JSON layer wrote it before (same
/// names, same order: `timestamp`, `level`, `message`, the fields, `target`), or text
/// (`TIMESTAMP  INFO access: request request_id=… key_id=… …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Json,
    Text,
}

impl Style {
    fn start(self, out: &mut Vec<u8>, now: std::time::SystemTime, cache: &mut SecondCache) {
        if self == Style::Json {
            out.extend_from_slice(b"{\"timestamp\":\"");
        }
        timestamp(out, now, cache);
        out.extend_from_slice(match self {
            Style::Json => b"\",\"level\":\"INFO\",\"message\":\"request\"".as_slice(),
            Style::Text => b"  INFO access: request",
        });
    }

    /// `,"name":` or ` name=`.
    fn name(self, out: &mut Vec<u8>, name: &str) {
        match self {
            Style::Json => {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
            }
            Style::Text => {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
            }
        }
    }

    fn text(self, out: &mut Vec<u8>, name: &str, value: &str) {
        self.name(out, name);
        match self {
            Style::Json => {
                out.push(b'"');
                json_str(out, value);
                out.push(b'"');
            }
            // Text values are the same bounded labels; control bytes still cannot break the line.
            Style::Text => {
                let bytes = value.as_bytes();
                let plain = crate::scan::find(bytes, 0, crate::scan::control);
                out.extend_from_slice(bytes.get(..plain).unwrap_or_default());
                out.extend(bytes.get(plain..).unwrap_or_default().iter().map(|&b| if b < 0x20 || b == 0x7f { b'?' } else { b }));
            }
        }
    }

    fn end(self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self {
            Style::Json => b",\"target\":\"access\"}\n".as_slice(),
            Style::Text => b"\n",
        });
    }
}

/// One access line for the request `f`, finished at `now`.
pub fn write(style: Style, out: &mut Vec<u8>, f: &RequestFacts<'_>, now: std::time::SystemTime, cache: &mut SecondCache) {
    style.start(out, now, cache);
    style.text(out, "request_id", f.request_id);
    style.text(out, "key_id", f.key_id.unwrap_or("-"));
    style.text(out, "method", f.method);
    style.text(out, "endpoint", f.endpoint);
    style.name(out, "status");
    out.extend_from_slice(itoa::Buffer::new().format(f.status).as_bytes());
    style.text(out, "format", f.format);
    style.name(out, "duration_ms");
    millis(out, f.duration);
    if let Some(up) = f.upstream_secs {
        style.name(out, "upstream_ms");
        millis(out, up);
    }
    if let Some(e) = f.upstream_error {
        style.text(out, "upstream_error", e);
    }
    style.end(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn facts<'a>(request_id: &'a str, upstream: Option<f64>, error: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts {
            request_id,
            endpoint: "/api/tags",
            method: "GET",
            format: "xml",
            status: 504,
            key_id: Some("crm"),
            duration: 1.2345678,
            upstream_secs: upstream,
            upstream_error: error,
        }
    }

    #[test]
    fn a_json_line_parses_with_every_field() {
        let now = UNIX_EPOCH + Duration::from_micros(1_796_220_000_000_042);
        let mut cache = (0, [0; 19]);
        let mut out = Vec::new();
        write(Style::Json, &mut out, &facts("r-1", Some(0.5), Some("timeout")), now, &mut cache);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        assert_eq!(v["timestamp"], "2026-12-02T14:00:00.000042Z");
        assert_eq!((v["level"].as_str(), v["target"].as_str(), v["message"].as_str()), (Some("INFO"), Some("access"), Some("request")));
        assert_eq!((v["request_id"].as_str(), v["key_id"].as_str(), v["status"].as_u64()), (Some("r-1"), Some("crm"), Some(504)));
        assert_eq!((v["duration_ms"].as_f64(), v["upstream_ms"].as_f64()), (Some(1234.568), Some(500.0)));
        assert_eq!(v["upstream_error"], "timeout");
        out.clear();
        write(Style::Json, &mut out, &facts("r-2", None, None), now + Duration::from_secs(1), &mut cache);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["timestamp"], "2026-12-02T14:00:01.000042Z", "the cached second moves on");
        assert!(v.get("upstream_ms").is_none() && v.get("upstream_error").is_none());
    }

    #[test]
    fn hostile_bytes_stay_inside_one_line() {
        let mut out = Vec::new();
        write(Style::Json, &mut out, &facts("a\"b\\c\nd\u{1}", None, None), UNIX_EPOCH, &mut (0, [0; 19]));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["request_id"], "a\"b\\c\nd\u{1}");
        out.clear();
        write(Style::Text, &mut out, &facts("x\ny", Some(0.001), None), UNIX_EPOCH, &mut (0, [0; 19]));
        let line = String::from_utf8_lossy(&out);
        assert_eq!(line, "1970-01-01T00:00:00.000000Z  INFO access: request request_id=x?y key_id=crm method=GET endpoint=/api/tags status=504 format=xml duration_ms=1234.568 upstream_ms=1.000\n");
    }
}
