//! Owns a response head as LiveAgent sends it (RFC 9112 §4): its status, fields and whether the
//! connection stays open, under the same limits as request heads.

use super::fields::Fields;
use super::{HeadError, MAX_FIELDS, MAX_HEAD};
use std::mem::MaybeUninit;

/// One response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub fields: Fields,
    /// HTTP/1.1 without `Connection: close`: the connection may carry another request.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// Parses the head at the start of `input`: the head and its length once it is complete,
    /// `None` while more bytes are needed.
    pub fn parse(input: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut parsed = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut parsed, input, &mut slots) {
            Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
            Ok(httparse::Status::Partial) if input.len() < MAX_HEAD => return Ok(None),
            Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        };
        let status = parsed.code.ok_or(HeadError::Malformed)?;
        let mut fields = Fields::default();
        fields.fill(&input[..len], parsed.headers);
        let keep_alive = parsed.version == Some(1) && !fields.lists("connection", b"close");
        Ok(Some((ResponseHead { status, fields, keep_alive }, len)))
    }
}
