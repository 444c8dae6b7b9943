//! Tests of the XML writer: layout, names, escapes at every offset.

use super::*;
use serde_json::{json, Value};

fn xml(v: Value) -> String {
    to_xml(&v).unwrap()
}

#[test]
fn null_empty_and_scalars() {
    let out = xml(json!({"response": {"a": null, "b": "", "c": true, "d": 1.5, "e": [], "f": {}}}));
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n <a/>\n <b></b>\n <c>true</c>\n <d>1.5</d>\n <e/>\n <f/>\n</response>\n"
    );
}

#[test]
fn invalid_names_keep_the_key() {
    let out = xml(json!({"response": {"1a": 1, "a b": 2, "": 3, "x:y": 4, "xmlns": 5}}));
    for key in ["1a", "a b", "", "x:y", "xmlns"] {
        assert!(out.contains(&format!("<item key=\"{key}\">")), "{key} in {out}");
    }
}

#[test]
fn escapes_and_forbidden_chars() {
    let out = xml(json!({"response": {"t": "a&b<c>\"d'\r\u{1}\u{FFFF}"}}));
    assert!(out.contains("<t>a&amp;b&lt;c&gt;&quot;d&#039;&#13;\u{FFFD}\u{FFFD}</t>"), "{out}");
}

#[test]
fn special_characters_are_found_at_every_offset() {
    // The lexer and the escape check read sixteen bytes at a time: put each character that
    // needs attention at every place of strings shorter and longer than one chunk.
    let cases = [
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("'", "&#039;"),
        ("\"", "&quot;"),
        ("\r", "&#13;"),
        ("é", "é"),
        ("\u{FFFF}", "\u{FFFD}"),
        ("\u{7F}", "\u{7F}"),
    ];
    for len in 1..40 {
        for at in 0..len {
            for (c, escaped) in cases {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(len - at - 1));
                let out = xml(json!({"response": {"k": text, "n": 1}}));
                let want = format!(" <k>{}{escaped}{}</k>\n <n>1</n>", "a".repeat(at), "b".repeat(len - at - 1));
                assert!(out.contains(&want), "{c:?} at {at} of {len}: {out}");
            }
        }
    }
}

#[test]
fn arrays_of_arrays_and_non_envelope_roots() {
    let out = xml(json!([[1], {"k": [null]}]));
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n <item>\n  <item>1</item>\n </item>\n <item>\n  <k>\n   <item/>\n  </k>\n </item>\n</response>\n"
    );
}

#[test]
fn names() {
    assert!(is_xml_name("customer"));
    assert!(!is_xml_name("顧客"), "only names every reader takes");
    assert!(is_xml_name("a-b.c_1"));
    assert!(!is_xml_name("-a"));
    assert!(!is_xml_name("XMLdata"));
    // Found by the property test: a multi-byte first character used to panic here.
    assert!(!is_xml_name("🕴RΉ"));
    // Names XML 1.0's fifth edition allows and expat refuses.
    for key in ["🕴RΉ", "🎉", "x\u{203F}", "\u{663}x", "顧客", "é"] {
        let out = to_xml(&serde_json::json!({"response": {key: 1}})).unwrap();
        assert!(out.contains(&format!("<item key=\"{key}\">1</item>")), "{out}");
    }
}
