//! Owns everything that speaks pingora or sockets: server assembly (`server`), the state all
//! requests share (`state`), the admin listener (`admin`), live reloads (`reload`), the
//! connection loop (`serve`) and its TLS handshake (`tls`), one request from head to answer (`exchange`), the one writer of
//! answers (`respond`), a client connection's bytes and time limits (`conn`, `deadline`), and
//! the HTTP/1.1 client that calls LiveAgent (`client`, connections made by `wire`). Every
//! decision is delegated to the step modules; no URI ever reaches a log line, so a key in a
//! query string cannot leak.

mod admin;
mod client;
mod conn;
mod deadline;
mod exchange;
mod reload;
mod respond;
mod serve;
pub mod server;
mod state;
mod tls;
mod wire;

pub use server::{run, ServerOptions};
pub use state::StartError;
