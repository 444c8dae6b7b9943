//! liveagent-sim: a LiveAgent REST API v1 simulator. It answers every route of the v1 catalog
//! from seeded in-memory data, checks the `apikey` as LiveAgent does, and misbehaves on demand
//! (see `faults`) so the gateway's error paths can be tested and benchmarked.
//!
//! Control routes, outside `/api/`: `POST /_sim/faults` (`{"fault": "error:500", "count": 1,
//! "ratio": 0.5}`), `DELETE /_sim/faults`, `GET /_sim/requests` (the last requests received,
//! for tests that check what reached LiveAgent), `DELETE /_sim/requests`.

pub mod api;
pub mod data;
pub mod faults;
pub mod json;
pub mod request;
mod server;

pub use server::{start, Recorded, SimOptions, Simulator};
