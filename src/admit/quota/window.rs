//! Owns the calendar of the daily and monthly quotas: where the day and the month that hold an
//! instant begin and end in the operator's time zone (`quota_timezone`), across DST changes
//! (a day is 23 or 25 hours on the days clocks change) and month ends.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use std::sync::{Arc, Mutex};

/// A quota's time zone: its IANA name (for the configuration, `/keys` and comparisons), its
/// rules, and the current day and month it last computed, shared by its clones (every key of
/// the zone): working a period out takes thousands of instructions, reusing it a lock.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
    current: Arc<Mutex<[Option<Span>; 2]>>,
}

impl Zone {
    /// The zone of an IANA name (`Asia/Tokyo`, `America/New_York`, `UTC`).
    pub fn named(name: &str) -> Result<Zone, String> {
        let tz = TimeZone::get(name).map_err(|_| format!("{name:?} is not an IANA time zone (like UTC, Asia/Tokyo, Europe/Berlin)"))?;
        Ok(Zone { name: name.to_string(), tz, current: Arc::default() })
    }

    pub fn utc() -> Zone {
        Zone { name: "UTC".into(), tz: TimeZone::UTC, current: Arc::default() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instant `unix` seconds as RFC 3339 in this zone (`2026-12-03T00:00:00+09:00`).
    pub fn rfc3339(&self, unix: i64) -> String {
        Timestamp::from_second(unix)
            .map_or_else(|_| unix.to_string(), |t| t.to_zoned(self.tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The calendar periods a quota counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// One period: `[start, end)` in Unix seconds. `start` names the period in the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn contains(&self, unix: i64) -> bool {
        (self.start..self.end).contains(&unix)
    }

    /// Whole seconds from `unix` to the end, at least 1.
    pub fn reset(&self, unix: i64) -> u64 {
        u64::try_from(self.end - unix).unwrap_or(0).max(1)
    }

    /// The period's length in seconds (86,400 but on DST days; 28 to 31 days for months).
    pub fn length(&self) -> u64 {
        u64::try_from(self.end - self.start).unwrap_or(0)
    }
}

/// The `period` of `zone` that holds the instant `unix`.
pub fn span(period: Period, zone: &Zone, unix: i64) -> Span {
    let slot = match period {
        Period::Day => 0,
        Period::Month => 1,
    };
    let mut current = zone.current.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = current[slot].filter(|s| s.contains(unix)) {
        return s;
    }
    let s = compute(period, zone, unix);
    current[slot] = Some(s);
    s
}

fn compute(period: Period, zone: &Zone, unix: i64) -> Span {
    let fallback = || {
        // Outside jiff's range (years beyond ±9999): UTC days of 86,400 s, never a panic.
        let start = unix.saturating_sub(unix.rem_euclid(86_400));
        Span { start, end: start.saturating_add(86_400) }
    };
    let Ok(t) = Timestamp::from_second(unix) else { return fallback() };
    let now = t.to_zoned(zone.tz.clone());
    let bounds = |now: &Zoned| -> Result<Span, jiff::Error> {
        let (start, next) = match period {
            Period::Day => (now.start_of_day()?, now.tomorrow()?.start_of_day()?),
            Period::Month => (now.first_of_month()?.start_of_day()?, now.last_of_month()?.tomorrow()?.start_of_day()?),
        };
        Ok(Span { start: start.timestamp().as_second(), end: next.timestamp().as_second() })
    };
    bounds(&now).unwrap_or_else(|_| fallback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().map(|t| t.as_second()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn zone(name: &str) -> Zone {
        Zone::named(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_tokyo_day_begins_at_1500_utc() {
        let tokyo = zone("Asia/Tokyo");
        let before = span(Period::Day, &tokyo, at("2026-12-02T14:59:59Z"));
        let after = span(Period::Day, &tokyo, at("2026-12-02T15:00:00Z"));
        assert_eq!(before, Span { start: at("2026-12-01T15:00:00Z"), end: at("2026-12-02T15:00:00Z") });
        assert_eq!(after, Span { start: at("2026-12-02T15:00:00Z"), end: at("2026-12-03T15:00:00Z") });
        assert_eq!(before.reset(at("2026-12-02T14:59:59Z")), 1);
        assert_eq!(tokyo.rfc3339(after.start), "2026-12-03T00:00:00+09:00");
    }

    #[test]
    fn new_york_days_are_23_and_25_hours_when_clocks_change() {
        let ny = zone("America/New_York");
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        let spring = span(Period::Day, &ny, at("2026-03-08T12:00:00Z"));
        assert_eq!(spring, Span { start: at("2026-03-08T05:00:00Z"), end: at("2026-03-09T04:00:00Z") });
        assert_eq!(spring.length(), 23 * 3600);
        // 2026-11-01: 02:00 EDT becomes 01:00 EST.
        let autumn = span(Period::Day, &ny, at("2026-11-01T12:00:00Z"));
        assert_eq!(autumn, Span { start: at("2026-11-01T04:00:00Z"), end: at("2026-11-02T05:00:00Z") });
        assert_eq!(autumn.length(), 25 * 3600);
        // The repeated hour belongs to the same day.
        assert!(autumn.contains(at("2026-11-01T05:30:00Z")) && autumn.contains(at("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn months_end_on_their_last_local_midnight() {
        let tokyo = zone("Asia/Tokyo");
        let jan = span(Period::Month, &tokyo, at("2027-01-31T14:59:59Z"));
        assert_eq!(jan, Span { start: at("2026-12-31T15:00:00Z"), end: at("2027-01-31T15:00:00Z") });
        let feb = span(Period::Month, &tokyo, at("2027-01-31T15:00:00Z"));
        assert_eq!(feb.length(), 28 * 86_400);
        let leap = span(Period::Month, &Zone::utc(), at("2028-02-29T23:59:59Z"));
        assert_eq!(leap, Span { start: at("2028-02-01T00:00:00Z"), end: at("2028-03-01T00:00:00Z") });
        // A New York March has 31 days less the hour the clocks lose.
        let march = span(Period::Month, &zone("America/New_York"), at("2026-03-15T00:00:00Z"));
        assert_eq!(march.length(), 31 * 86_400 - 3600);
    }

    #[test]
    fn the_remembered_period_is_only_reused_inside_it() {
        let tokyo = zone("Asia/Tokyo");
        let clone = tokyo.clone();
        let day = span(Period::Day, &tokyo, at("2026-12-02T14:59:59Z"));
        assert_eq!(span(Period::Day, &clone, at("2026-12-02T03:00:00Z")), day, "a clone shares it");
        assert_eq!(span(Period::Day, &clone, at("2026-12-02T15:00:00Z")).start, day.end, "the next day");
        assert_eq!(span(Period::Day, &tokyo, at("2026-12-01T14:59:59Z")).end, day.start, "and back");
        assert_eq!(span(Period::Month, &tokyo, at("2026-12-02T15:00:00Z")).length(), 31 * 86_400);
    }

    #[test]
    fn unknown_zones_and_extreme_instants() {
        assert!(Zone::named("Mars/Olympus").is_err());
        for unix in [i64::MIN, -1, 0, i64::MAX] {
            let s = span(Period::Month, &zone("Asia/Tokyo"), unix);
            assert!(s.start < s.end, "{unix}: {s:?}");
        }
    }
}
