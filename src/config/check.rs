//! Owns collecting configuration problems and warnings while fields are converted one by one,
//! and the conversions of plain values (addresses, durations, counts) that report by field.

use super::Problem;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Collects problems while fields are converted one by one.
#[derive(Default)]
pub(super) struct Check {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

impl Check {
    pub(super) fn fail(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.problems.push(Problem::new(path, msg));
    }
    pub(super) fn warn(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.warnings.push(Problem::new(path, msg));
    }
    pub(super) fn addr(&mut self, path: &str, value: &str) -> Option<SocketAddr> {
        value.parse().map_err(|_| self.fail(path, format!("{value:?} is not an address like 127.0.0.1:8080"))).ok()
    }
    pub(super) fn duration(&mut self, path: &str, value: &str) -> Option<Duration> {
        parse_duration(value).map_err(|m| self.fail(path, m)).ok()
    }
    pub(super) fn nonzero(&mut self, path: &str, value: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(value).or_else(|| {
            self.fail(path, "must be at least 1");
            None
        })
    }
}

/// Parses an RFC 3339 instant (`2027-01-31T00:00:00Z`, `2027-01-31T09:00:00+09:00`) into Unix
/// seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| format!("{text:?} is not an RFC 3339 time like 2027-01-31T00:00:00Z (with Z or an offset)"))
}

/// Parses `"500ms"`, `"2s"`, `"1m"` or `"1h"`; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a duration like \"500ms\" or \"2s\""))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => return Err(format!("{text:?} has no unit: use ms, s, m, h or d")),
    };
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Ok(86_400));
        assert_eq!(parse_time("1970-01-02T09:00:00+09:00"), Ok(86_400));
        assert!(parse_time("2027-01-31").is_err(), "a date without a time and offset is ambiguous");
        assert!(parse_time("2027-01-31T00:00:00").is_err(), "a local time without an offset is ambiguous");
    }
}
