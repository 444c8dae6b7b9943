//! Fuzzes the request framing: whatever bytes a client sends, a request the gateway takes
//! reaches LiveAgent as exactly one request, framed by `Content-Length` (never chunked, never
//! two lengths), with nothing after it; anything else is refused or waits for more. Never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveagent_gateway::forward::{reframe, Reframed};

fuzz_target!(|data: &[u8]| {
    let Reframed::Sent { upstream, consumed } = reframe(data, 4096) else { return };
    assert!(consumed <= data.len());
    let mut fields = [httparse::EMPTY_HEADER; 160];
    let mut req = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(len)) = req.parse(&upstream) else {
        panic!("not one whole head: {}", String::from_utf8_lossy(&upstream))
    };
    let named = |n: &str| req.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(n)).map(|h| h.value).collect::<Vec<_>>();
    assert!(named("transfer-encoding").is_empty(), "Transfer-Encoding reached LiveAgent");
    let lengths = named("content-length");
    assert!(lengths.len() <= 1, "two Content-Length fields");
    let length: usize = lengths.first().map_or(0, |v| std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()).expect("a number"));
    assert_eq!(len + length, upstream.len(), "exactly one request: {}", String::from_utf8_lossy(&upstream));
});
