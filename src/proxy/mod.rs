//! Owns everything that speaks pingora: the gateway's HTTP application, the upstream client,
//! the admin listener, reloads and server assembly. Decisions are delegated to the pure modules.
//!
//! Request map: pingora's listening service hands each connection to `gateway::Gateway`
//! (`HttpServerApp`), which reads the request and calls `gateway::handle`: route, format and
//! key via `plan`, quota via `quota`, then `upstream::forward`, which streams JSON successes
//! and shapes everything else via `shape`; `Ctx::finish` records the metrics and the
//! access-log line. No URI ever reaches a log line, so a key in a query string cannot leak.

mod admin;
mod client;
mod gateway;
mod reload;
mod respond;
pub mod server;
mod state;
mod upstream;

pub use server::{run, ServerOptions};
