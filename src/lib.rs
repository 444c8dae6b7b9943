//! liveagent-gateway: an API gateway for the LiveAgent REST API v1.
//!
//! A request walks one way through four steps, each a module of plain Rust with no pingora
//! types, so the decisions are unit-tested and fuzzed:
//!
//! 1. [`request`]: what was asked: the route and format ([`request::target`]), the request id,
//!    the parts of the request the later steps read. Bytes to values: [`http1`].
//! 2. [`admit`]: whether it may pass: [`admit::admit`] asks the brute-force guard, then the
//!    key, then the quotas.
//! 3. [`forward`]: the exact request LiveAgent receives (path, query, body, head).
//! 4. [`answer`]: what the client receives: every failure mapped to its status and envelope in
//!    one place, successes transcoded ([`transcode`]), the header fields every answer carries.
//!
//! [`proxy`] is the only module that speaks pingora or sockets: it runs the steps for each
//! request (`proxy::exchange`) and writes every answer (`proxy::respond`). [`config`] is the
//! validated configuration all of them read; [`metrics`] the Prometheus metrics.

pub mod access;
pub mod admit;
pub mod answer;
pub mod cli;
pub mod config;
pub mod demo;
pub mod forward;
pub mod http1;
pub mod metrics;
pub mod proxy;
pub mod request;
mod scan;
#[cfg(test)]
mod testkit;
pub mod transcode;
