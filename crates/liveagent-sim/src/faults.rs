//! Owns fault injection: a request header (`X-Sim-Fault`) for one request, or a global fault
//! set through `POST /_sim/faults` for the next N requests or a share of them.

use serde::Deserialize;
use std::time::Duration;

/// One way to misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally, after a delay.
    Slow(Duration),
    /// LiveAgent's error envelope with this status.
    Error(u16),
    /// An HTML error page (a PHP fatal error) with this status.
    Html(u16),
    /// A 200 whose body is not JSON.
    InvalidJson,
    /// Close the connection without answering.
    Cut,
    /// A conversations list of this many items.
    Large(usize),
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `slow:MS`, `error[:STATUS]`, `html[:STATUS]`, `invalid-json`, `cut`, `large[:N]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = s.trim().split_once(':').map_or((s.trim(), None), |(n, a)| (n, Some(a)));
        let num = |default: u64| arg.map_or(Ok(default), |a| a.parse::<u64>().map_err(|_| format!("bad number in {s:?}")));
        let status = |default| {
            num(default).and_then(|n| u16::try_from(n).ok().filter(|c| (100..=599).contains(c)).ok_or(format!("bad status in {s:?}")))
        };
        match name {
            "slow" => Ok(Fault::Slow(Duration::from_millis(num(1000)?))),
            "error" => Ok(Fault::Error(status(500)?)),
            "html" => Ok(Fault::Html(status(500)?)),
            "invalid-json" => Ok(Fault::InvalidJson),
            "cut" => Ok(Fault::Cut),
            "large" => Ok(Fault::Large(usize::try_from(num(1000)?).unwrap_or(1000).min(100_000))),
            _ => Err(format!("unknown fault {s:?}")),
        }
    }
}

/// The body of `POST /_sim/faults`.
#[derive(Debug, Deserialize)]
pub struct FaultRequest {
    pub fault: String,
    /// Apply to this many requests (default: until cleared).
    pub count: Option<u64>,
    /// Apply to this share of requests, spread evenly (default 1.0).
    pub ratio: Option<f64>,
}

/// A fault applied to the stream of requests.
#[derive(Debug, Clone)]
pub struct Global {
    fault: Fault,
    remaining: Option<u64>,
    ratio: f64,
    seen: u64,
}

impl Global {
    pub fn new(req: &FaultRequest) -> Result<Self, String> {
        let ratio = req.ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&ratio) {
            return Err("ratio must be between 0 and 1".into());
        }
        Ok(Global { fault: req.fault.parse()?, remaining: req.count, ratio, seen: 0 })
    }

    /// The fault for the next request, if it gets one. Deterministic: with ratio r, request n
    /// is hit when floor(n·r) steps up.
    pub fn take(&mut self) -> Option<Fault> {
        if self.remaining == Some(0) {
            return None;
        }
        self.seen += 1;
        let hit = (self.seen as f64 * self.ratio).floor() > ((self.seen - 1) as f64 * self.ratio).floor();
        if !hit {
            return None;
        }
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Some(self.fault.clone())
    }

    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!("slow:250".parse(), Ok(Fault::Slow(Duration::from_millis(250))));
        assert_eq!("error".parse(), Ok(Fault::Error(500)));
        assert_eq!("html:503".parse(), Ok(Fault::Html(503)));
        assert_eq!("large:10".parse(), Ok(Fault::Large(10)));
        assert!("error:42".parse::<Fault>().is_err());
        assert!("nope".parse::<Fault>().is_err());
    }

    #[test]
    fn ratio_and_count() {
        let mut g = Global::new(&FaultRequest { fault: "cut".into(), count: None, ratio: Some(0.25) }).unwrap_or_else(|e| panic!("{e}"));
        let hits = (0..100).filter(|_| g.take().is_some()).count();
        assert_eq!(hits, 25);
        let mut g = Global::new(&FaultRequest { fault: "cut".into(), count: Some(2), ratio: None }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((0..5).filter(|_| g.take().is_some()).count(), 2);
        assert!(g.exhausted());
    }
}
