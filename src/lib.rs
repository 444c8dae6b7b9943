//! liveagent-gateway: an API gateway for the LiveAgent REST API v1. Every module but `proxy`
//! is plain Rust with no pingora types, so the decisions are unit-tested and fuzzed.

pub mod auth;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod envelope;
pub mod form;
pub mod format;
pub mod framing;
pub mod http1;
pub mod metrics;
pub mod plan;
pub mod proxy;
pub mod quota;
pub mod request_id;
pub mod routes;
pub mod shape;
pub mod transcode;
