//! Owns HTTP/1.x in both directions (RFC 9112), as bytes in and values out, with no I/O: header
//! fields, request heads (clients to the gateway), response heads (LiveAgent to the gateway),
//! body framing, and writing heads and chunks. One parser per head kind, one set of limits.

mod chunk;
mod fields;
pub mod framing;
mod request;
mod response;
mod write;

pub use fields::keep_alive_timeout;
pub use fields::Fields;
pub use framing::{Body, Framing, Malformed};
pub use request::RequestHead;
pub use response::ResponseHead;
pub use write::{chunk_start, field, status_line, LAST_CHUNK};

/// Largest message head accepted, request or response.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in one message head.
const MAX_FIELDS: usize = 128;

/// Why a message head cannot be used. For a request the client gets a 400 and the connection
/// closes: after a head it cannot read, the gateway cannot know where the next request starts.
/// For a response, LiveAgent's answer is invalid (502) and its connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP/1.x, or framed ambiguously (a smuggling attempt looks like this).
    #[error("malformed or ambiguous message head")]
    Malformed,
    /// Longer than [`MAX_HEAD`] or more than 128 fields.
    #[error("message head over 64 KiB or 128 fields")]
    TooLarge,
}

#[cfg(test)]
mod tests;
