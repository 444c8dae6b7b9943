//! Property: with key substitution on, for any request whose key the gateway accepts, the
//! client's key bytes appear nowhere in what LiveAgent receives (head or body), whichever
//! places (query, urlencoded or multipart form, header lines) and encodings carried it.

use super::{reframe, request_head, upstream, HeadFacts, Reframed};
use crate::admit::apikey::the_key;
use crate::admit::auth::KeyStore;
use crate::http1::RequestHead;
use crate::request::{target, RequestParts};
use proptest::prelude::*;

const LA_KEY: &str = "LIVEAGENT-KEY-0000";

/// Where one copy of a value goes, and how it is written there.
#[derive(Debug, Clone)]
enum Place {
    Query(&'static str),
    Form(&'static str),
    Multipart(&'static str),
    Header,
}

/// How a value is spelled in a query or urlencoded form.
fn spelled(value: &str, encode: bool) -> String {
    if encode {
        value.bytes().map(|b| format!("%{b:02X}")).collect()
    } else {
        value.to_string()
    }
}

fn place() -> impl Strategy<Value = Place> {
    let names = prop::sample::select(vec!["apikey", "apikey", "api%6Bey", "apikey[]", "+apikey", "apikey%00x", "other"]);
    prop_oneof![
        names.clone().prop_map(Place::Query),
        names.clone().prop_map(Place::Form),
        prop::sample::select(vec!["apikey", "apikey", "apikey[]", "other"]).prop_map(Place::Multipart),
        Just(Place::Header),
    ]
}

/// A raw request carrying `copies` (where, which value, percent-encoded or not).
fn request(method: &str, copies: &[(Place, String, bool)]) -> String {
    let mut query = vec!["x=1".to_string()];
    let mut form = Vec::new();
    let mut parts = String::new();
    let mut headers = String::new();
    for (place, value, encode) in copies {
        match place {
            Place::Query(name) => query.push(format!("{name}={}", spelled(value, *encode))),
            Place::Form(name) => form.push(format!("{name}={}", spelled(value, *encode))),
            Place::Multipart(name) => {
                parts.push_str(&format!("--B0\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"))
            }
            Place::Header => headers.push_str(&format!("apikey: {value}\r\n")),
        }
    }
    let (content_type, body) = if !parts.is_empty() {
        ("multipart/form-data; boundary=B0", format!("{parts}--B0--\r\n"))
    } else {
        ("application/x-www-form-urlencoded", form.join("&"))
    };
    format!(
        "{method} /api/customers?{} HTTP/1.1\r\nHost: gw\r\n{headers}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        query.join("&"),
        body.len()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_client_key_never_reaches_liveagent(
        key in "[a-z0-9]{12,20}",
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        copies in prop::collection::vec((place(), prop::bool::weighted(0.8), any::<bool>()), 1..5),
    ) {
        // The key goes only where PHP could read a key: a field called `other` carries
        // something else (a key there is `carries_key`'s to catch, not the rewrite's).
        let copies: Vec<_> = copies
            .into_iter()
            .map(|(p, same, enc)| {
                let other = matches!(p, Place::Query("other") | Place::Form("other") | Place::Multipart("other"));
                (p, if same && !other { key.clone() } else { "someone-else".into() }, enc)
            })
            .collect();
        let raw = request(method, &copies);
        let mut head = RequestHead::default();
        let len = head.parse(raw.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {raw}")))?.unwrap_or(0);
        let body = &raw.as_bytes()[len..];
        let parts = RequestParts::new(head.method(), head.query(), head.header("content-type"), head.fields().all("apikey").collect(), body);
        let form = parts.form().map(|kind| (kind, parts.body));
        let Ok(presented) = the_key(parts.query, form, parts.apikey_headers.iter().copied()) else { return Ok(()) };
        let mut spec = crate::testkit::key(Some(LA_KEY));
        spec.digests[0].sha256 = sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), key.as_bytes())).into();
        let store = KeyStore::new(vec![spec]);
        let Ok(admitted) = store.authorize(&presented, parts.method, "/api/customers", || 0) else { return Ok(()) };
        let tg = target(head.path(), head.query(), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut up = upstream(&tg, &parts, admitted, None, "");
        let sent_body = up.body.take().unwrap_or_else(|| body.to_vec());
        let facts = HeadFacts { host: "la", request_id: "r", client_ip: Some("127.0.0.1"), body_len: sent_body.len() };
        let sent_head = request_head(&head, &up, facts);
        let found = |hay: &[u8]| memchr::memmem::find(hay, key.as_bytes()).is_some();
        prop_assert!(!found(&sent_head), "key in the head:\n{}\nfrom\n{raw}", String::from_utf8_lossy(&sent_head));
        prop_assert!(!found(&sent_body), "key in the body:\n{}\nfrom\n{raw}", String::from_utf8_lossy(&sent_body));
        prop_assert!(String::from_utf8_lossy(&sent_head).contains(LA_KEY) || String::from_utf8_lossy(&sent_body).contains(LA_KEY));
    }
}

/// Checks that `upstream` is exactly one request framed by `Content-Length` (or bodiless).
pub fn one_request(upstream: &[u8]) -> Result<(), String> {
    let mut fields = [httparse::EMPTY_HEADER; 160];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(upstream) {
        Ok(httparse::Status::Complete(len)) => len,
        other => return Err(format!("not one whole head: {other:?}")),
    };
    let named = |n: &str| req.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(n)).map(|h| h.value).collect::<Vec<_>>();
    if !named("transfer-encoding").is_empty() {
        return Err("Transfer-Encoding reached LiveAgent".into());
    }
    let lengths = named("content-length");
    let length: usize = match lengths.as_slice() {
        [] => 0,
        [one] => std::str::from_utf8(one).ok().and_then(|v| v.parse().ok()).ok_or("a bad Content-Length")?,
        _ => return Err("two Content-Length fields".into()),
    };
    if len + length != upstream.len() {
        return Err(format!("{} bytes framed, {} sent", len + length, upstream.len()));
    }
    Ok(())
}

/// A request with its parts drawn from what smuggling attempts use.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::sample::select(vec![
        "Content-Length: 5\r\n",
        "Content-Length: 0\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 6\r\n",
        "Content-Length: +5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer_Encoding: chunked\r\n",
        "Transfer-Encoding : chunked\r\n",
        "Connection: close, Content-Length\r\n",
        "Expect: 100-continue\r\n",
        "X-A: 1\r\n",
        "Host: b\r\n",
    ]);
    let body = prop::sample::select(vec![
        "hello",
        "5\r\nhello\r\n0\r\n\r\n",
        "5;x=\"y\"\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        "2;\nxx\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        "0\r\n\r\n",
        "",
    ]);
    (prop::sample::select(vec!["GET", "POST", "PUT"]), prop::collection::vec(line, 0..4), body, any::<prop::sample::Index>()).prop_map(
        |(method, lines, body, cut)| {
            let raw = format!("{method} /api/tags HTTP/1.1\r\nHost: a\r\n{}\r\n{body}", lines.concat()).into_bytes();
            let keep = raw.len() - cut.index(8).min(raw.len());
            raw[..keep.max(1)].to_vec()
        },
    )
}

proptest! {
    #[test]
    fn liveagent_receives_exactly_one_request(input in framed()) {
        match reframe(&input, 1024) {
            Reframed::Sent { upstream, consumed } => {
                prop_assert!(consumed <= input.len());
                if let Err(e) = one_request(&upstream) {
                    return Err(TestCaseError::fail(format!("{e}\n{}\nfrom\n{}", String::from_utf8_lossy(&upstream), String::from_utf8_lossy(&input))));
                }
            }
            Reframed::Incomplete | Reframed::Refused => {}
        }
    }

    #[test]
    fn any_bytes_reframe_without_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Reframed::Sent { upstream, .. } = reframe(&input, 1024) {
            prop_assert!(one_request(&upstream).is_ok());
        }
    }
}

#[test]
fn the_ambiguous_framings_are_refused() {
    for raw in [
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nhello",
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ] {
        assert_eq!(reframe(raw.as_bytes(), 1024), Reframed::Refused, "{raw:?}");
    }
    let input = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
    let Reframed::Sent { upstream, consumed } = reframe(input, 1024) else { panic!("not sent") };
    assert_eq!(one_request(&upstream), Ok(()));
    assert!(String::from_utf8_lossy(&upstream)
        .ends_with("Content-Length: 5\r\nX-Request-Id: r\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\nhello"));
    assert_eq!(consumed, input.len() - b"GET /next HTTP/1.1\r\n".len(), "the next request stays for the next read");
}
