//! Integration tests: the gateway binary in front of the LiveAgent simulator, over real
//! sockets on free loopback ports. One binary, one module per topic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up step should fail the test loudly

mod access_log;
mod calendar;
mod catalog;
mod check;
mod client_http;
mod demo;
mod edge;
mod errors;
mod keys;
mod lifecycle;
mod observability;
mod operate;
mod passthrough;
mod quotas;
mod rate_fields;
mod redis_topology;
mod tls;
mod tls_listener;
mod upstream_http;
mod util;
mod yaml11;
