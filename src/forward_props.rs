//! Property: with key substitution on, for any request whose key the gateway accepts, the
//! client's key bytes appear nowhere in what LiveAgent receives (head or body), whichever
//! places (query, urlencoded or multipart form, header lines) and encodings carried it.

use super::{request_head, upstream, HeadFacts};
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
        let form = parts.form.as_ref().map(|kind| (kind, parts.body));
        let Ok(presented) = the_key(parts.query, form, parts.apikey_headers.iter().copied()) else { return Ok(()) };
        let mut spec = crate::testkit::key(Some(LA_KEY));
        spec.digest = sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), key.as_bytes())).into();
        let store = KeyStore::new(vec![spec]);
        let Ok(admitted) = store.authorize(&presented, parts.method, "/api/customers") else { return Ok(()) };
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
