//! Tests of the YAML writer: layout, quoting, numbers, keys and the fast paths against the
//! byte-by-byte rules.

use super::*;
use serde_json::{json, Value};

#[test]
fn layout_matches_php_yaml_emit() {
    let v = json!({"response": {"customers": [{"contactid": "cid00001", "gender": "M"}, {"contactid": "cid00002"}], "nil": null, "e": [], "o": {}}});
    assert_eq!(
        to_yaml(&v).unwrap(),
        "---\nresponse:\n  customers:\n  - contactid: cid00001\n    gender: M\n  - contactid: cid00002\n  nil: ~\n  e: []\n  o: {}\n...\n"
    );
}

#[test]
fn nested_sequences_and_scalar_documents() {
    assert_eq!(to_yaml(&json!([[1, 2], [], "x"])).unwrap(), "---\n- - 1\n  - 2\n- []\n- x\n...\n");
    assert_eq!(to_yaml(&json!("yes")).unwrap(), "--- \"yes\"\n...\n");
    assert_eq!(to_yaml(&json!({})).unwrap(), "--- {}\n...\n");
}

#[test]
fn strings_that_would_be_misread_are_quoted() {
    for s in [
        "no",
        "On",
        "NULL",
        "~",
        "0123",
        "1e3",
        "2009-11-12 05:02:01",
        "1:20",
        ".inf",
        "",
        " a",
        "a ",
        "a: b",
        "a #b",
        "-",
        "=",
        "<<",
        "y",
        "N",
    ] {
        let mut out = String::new();
        string(&mut out, s);
        assert!(out.starts_with('"'), "{s:?} gave {out}");
    }
    for s in ["John", "john@example.com", "山田 太郎", "V_auth", "a-b.c/d+e"] {
        let mut out = String::new();
        string(&mut out, s);
        assert_eq!(out, s);
    }
}

#[test]
fn numbers_keep_their_digits_and_their_type() {
    for (input, want) in [
        ("1.5", "1.5"),
        ("1e300", "1.0e+300"),
        ("1E5", "1.0E+5"),
        ("2.5e5", "2.5e+5"),
        ("-2.5e-7", "-2.5e-7"),
        ("100.0", "100.0"),
        ("1.50", "1.50"),
        ("-0", "-0"),
        ("-0.0", "-0.0"),
        ("18446744073709551616", "18446744073709551616"),
        ("10000000000000000000000", "10000000000000000000000"),
        ("1e400", ".inf"),
        ("-1.7976931348623159e308", "-.inf"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("1e-400", "1.0e-400"),
    ] {
        let mut out = String::new();
        number(&mut out, input);
        assert_eq!(out, want, "{input}");
    }
}

#[test]
fn long_keys_stay_readable() {
    // Found by the fuzzer: 300 DEL characters are 300 bytes but 1,200 characters escaped,
    // past YAML's 1,024-character limit for implicit keys.
    for key in ["\u{7F}".repeat(300), "k".repeat(1500), "\u{2028}".repeat(200)] {
        let v = json!({"response": {key.clone(): [1, {"a": key.clone()}], "after": true}});
        let doc = to_yaml(&v).unwrap();
        let back: Value = serde_norway::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        assert_eq!(back, v);
    }
}

#[test]
fn keys_repeated_through_a_list_are_written_as_the_first_time() {
    let keys = ["yes", "a: b", "plain", "y", "Y", "0123", "\u{2028}", "k".repeat(300).as_str()].map(String::from);
    let record: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!("v"))).collect();
    let one = to_yaml(&json!({"response": [record.clone()]})).unwrap();
    let item = one.strip_prefix("---\nresponse:\n").and_then(|r| r.strip_suffix("...\n")).unwrap();
    let three = to_yaml(&json!({"response": [record.clone(), record.clone(), record]})).unwrap();
    assert_eq!(three, format!("---\nresponse:\n{item}{item}{item}...\n"));
    for quoted in ["\"yes\":", "\"a: b\":", "\"y\":", "\"Y\":", "\"0123\":", "\"\\u2028\":"] {
        assert_eq!(three.matches(quoted).count(), 3, "{quoted} in {three}");
    }
}

#[test]
fn a_plain_block_is_what_the_byte_check_says() {
    let mut strings: Vec<Vec<u8>> = Vec::new();
    for len in 0..=BLOCK {
        let base: Vec<u8> = (0..len).map(|i| b"aZ09 _-.@/+q"[i % 12]).collect();
        strings.push(base.clone());
        for at in 0..len {
            for b in 0x20..=0x7Eu8 {
                let mut s = base.clone();
                s[at] = b;
                strings.push(s);
            }
        }
    }
    strings.extend(RESERVED.iter().flat_map(|w| [w.to_string(), w.to_uppercase(), format!("{w}s")]).map(String::into_bytes));
    for s in strings {
        let mut block = [b'"'; BLOCK];
        block[..s.len()].copy_from_slice(&s);
        let text = std::str::from_utf8(&s).unwrap();
        assert_eq!(plain_block(&block, s.len()), is_plain_safe(text), "{text:?}");
    }
}

#[test]
fn the_reserved_words_fit_the_length_the_check_skips_past() {
    assert_eq!(RESERVED.iter().map(|w| w.len()).max(), Some(LONGEST_RESERVED));
    for b in 0..=255u8 {
        let allowed = b.is_ascii_alphanumeric() || b" _-.@/+".contains(&b);
        assert_eq!(PLAIN[usize::from(b)], allowed, "byte {b:#x}");
    }
}

#[test]
fn control_characters_are_escaped() {
    let mut out = String::new();
    string(&mut out, "a\u{0}\u{85}\u{2028}\"\\");
    assert_eq!(out, r#""a\x00\x85\u2028\"\\""#);
}
