//! Owns everything that speaks pingora: the `ProxyHttp` phases, the upstream client, the admin
//! listener, reloads and server assembly. Decisions are delegated to the pure modules.
//!
//! Phase map: `request_filter` → `gateway::handle` (route, body, auth, quota via `plan`, then
//! `upstream::forward`, which streams JSON successes and shapes everything else via `shape`);
//! `logging` → metrics and the access-log line; `request_summary` → method and endpoint
//! template only, so pingora's own error logs never carry a key or query string.

mod admin;
mod gateway;
mod reload;
mod respond;
pub mod server;
mod state;
mod upstream;

pub use server::{run, ServerOptions};
