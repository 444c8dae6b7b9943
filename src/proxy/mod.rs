//! Owns everything that speaks pingora: the gateway's HTTP application, the upstream client,
//! the admin listener, reloads and server assembly. Decisions are delegated to the pure modules.
//!
//! Request map: pingora's listening service hands each connection to `gateway::Gateway`
//! (`ServerApp`), which reads requests off it with `conn` (HTTP/1.x, wire format in `http1`;
//! every time limit of a connection on one timer, `deadline`) and calls `gateway::handle` for
//! each: route, format and key via `plan`, quota via `quota`, then `upstream::forward`, which
//! calls LiveAgent through `client` (connections made by `wire`), streams JSON successes and
//! shapes everything else via `shape`; `Ctx::finish` records the metrics and the access-log
//! line. No URI ever reaches a log line, so a key in a query string cannot leak.

mod admin;
mod client;
mod conn;
mod deadline;
mod gateway;
mod reload;
pub mod server;
mod state;
mod upstream;
mod wire;

pub use server::{run, ServerOptions};
