//! Integration tests: the gateway binary in front of the LiveAgent simulator, over real
//! sockets on free loopback ports. One binary, one module per topic.

mod catalog;
mod check;
mod demo;
mod errors;
mod keys;
mod passthrough;
mod util;
