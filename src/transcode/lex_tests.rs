//! Tests of the lexer: it reads exactly what serde_json reads, and gives up where serde_json
//! refuses or decides differently.
use super::bail::{Bail, Lexed};
use super::lex::{Item, Lexer};

/// Reads a whole document back into a `serde_json::Value`, the way the writers walk it.
fn read(text: &str) -> Lexed<serde_json::Value> {
    fn value(lex: &mut Lexer<'_>) -> Lexed<serde_json::Value> {
        use serde_json::Value;
        Ok(match lex.value()? {
            Item::Null => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::Number(n) => Value::Number(serde_json::from_str(n).map_err(|_| Bail)?),
            Item::String(s) => Value::String(s.to_string()),
            Item::Escaped(s) => Value::String(s),
            Item::Object { empty } => {
                let mut map = serde_json::Map::new();
                let mut first = true;
                while let Some(k) = if empty { None } else { lex.key(first)? } {
                    first = false;
                    map.insert(k.into_owned(), value(lex)?);
                }
                Value::Object(map)
            }
            Item::Array { empty } => {
                let mut items = Vec::new();
                let mut first = true;
                while !empty && lex.more(first)? {
                    first = false;
                    items.push(value(lex)?);
                }
                Value::Array(items)
            }
        })
    }
    let mut lex = Lexer::new(text);
    let v = value(&mut lex)?;
    lex.finish()?;
    Ok(v)
}

#[test]
fn reads_what_serde_json_reads() {
    for text in [
        r#" {"a" : [1, -2.5e+3, 0, true, false, null, {}, [], ""], "b\/c": "x\u00e9\ud83d\ude00\n\"\\"} "#,
        "[[[]]]",
        "\"plain\"",
        "-0",
        "1E5",
    ] {
        let want: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(read(text), Ok(want), "{text}");
    }
}

#[test]
fn gives_up_where_serde_json_refuses() {
    for text in [
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        "1e",
        "-",
        "+1",
        ".5",
        "\"a\u{1}\"",
        "\"\\x\"",
        "\"abc",
        "tru",
        "nul",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "1 2",
        "[1]]",
    ] {
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "serde_json accepts {text:?}");
        assert_eq!(read(text), Err(Bail), "{text:?}");
    }
}

#[test]
fn escapes_after_long_plain_runs() {
    let text = r#"["0123456789abcdef\"0123456789", "0123456789abcdef\u0041", "0123456789abcdefgh"]"#;
    let want: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    assert_eq!(read(text), Ok(want));
}

#[test]
fn duplicate_keys_are_left_to_serde_json() {
    assert_eq!(read(r#"{"a":1,"b":2,"a":3}"#), Err(Bail));
    assert_eq!(read(r#"{"a":1,"b":{"a":2}}"#).map(|v| v["b"]["a"].as_i64()), Ok(Some(2)), "same key, other object");
    assert_eq!(read(r#"{"\u0061":1,"a":2}"#), Err(Bail), "compared after unescaping");
    let many: Vec<String> = (0..2000).map(|i| format!("\"k{i}\":{i}")).collect();
    assert_eq!(read(&format!("{{{}}}", many.join(","))), Err(Bail), "past MAX_KEYS");
    assert!(read(r#"{"":1," ":2}"#).is_ok(), "keys whose hashes once collided");
    let fine: Vec<String> = (0..1000).map(|i| format!("\"k{i}\":{i}")).collect();
    assert!(read(&format!("{{{}}}", fine.join(","))).is_ok());
}

#[test]
fn reads_nesting_to_its_own_limit_and_no_further() {
    use super::lex::MAX_DEPTH;
    // Walked without recursion: the depths here are past what a test thread's stack holds
    // for a recursive reader in a debug build.
    let walk = |text: &str| -> Lexed<usize> {
        let mut lex = Lexer::new(text);
        let (mut open, mut deepest) = (0usize, 0usize);
        let mut item = lex.value()?;
        loop {
            if item == (Item::Array { empty: false }) {
                open += 1;
                deepest = deepest.max(open);
                item = lex.value()?;
                continue;
            }
            while open > 0 && !lex.more(false)? {
                open -= 1;
            }
            if open == 0 {
                lex.finish()?;
                return Ok(deepest);
            }
            item = lex.value()?;
        }
    };
    let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(walk(&nest(3)), Ok(3));
    assert_eq!(walk(&nest(MAX_DEPTH - 1)), Ok(MAX_DEPTH - 1), "PHP's json_encode writes up to 512 levels");
    assert_eq!(walk(&nest(MAX_DEPTH)), Err(Bail));
}

#[test]
fn lone_surrogates_read_as_the_replacement_character() {
    for (text, want) in [
        (r#""a\ud800b""#, "a\u{FFFD}b"),
        (r#""\udc00""#, "\u{FFFD}"),
        (r#""\ud800\u0041""#, "\u{FFFD}A"),
        (r#""\ud800\ud83d\ude00""#, "\u{FFFD}\u{1F600}"),
        (r#""\ud83d\ude00\udfff""#, "\u{1F600}\u{FFFD}"),
        (r#""\ud800\u+c00""#, ""),
        (r#""\ud800""#, "\u{FFFD}"),
        (r#""\ud800\""#, ""),
    ] {
        let got = read(text);
        if want.is_empty() {
            assert_eq!(got, Err(Bail), "{text}: an invalid escape after a lone surrogate");
        } else {
            assert_eq!(got, Ok(serde_json::Value::String(want.into())), "{text}");
        }
    }
}

#[test]
fn lists_of_like_objects_follow_and_leave_the_prediction() {
    for text in [
        r#"[{"a":1,"b":2},{"a":3,"b":4},{"a":5,"b":6}]"#,
        r#"[{"a":1,"b":2},{"a":3},{"a":5,"b":6,"c":7}]"#,
        r#"[{"a":1,"b":2},{"b":3,"a":4},{"ab":5,"b":6},{"a":7, "b":8}]"#,
        r#"[{"a":{"x":1},"b":[{"x":2}]},{"a":{"x":3},"b":[{"x":4},{"y":5}]}]"#,
        r#"[{"a\u0062":1,"b":2},{"a\u0062":3,"b":4},{"ab":5,"b":6}]"#,
        "[{\"a\" : 1,\n \"b\":2},{\"a\" : 3,\n \"b\":4},{\"a\":3,\"b\":4}]",
    ] {
        let want: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(read(text), Ok(want), "{text}");
    }
    for text in [
        r#"[{"a":1,"b":2},{"a":3,"a":4}]"#,
        r#"[{"a":1,"b":2},{"a":3,"b":4,"a":5}]"#,
        r#"[{"a":1,"b":2},{"b":3,"a":4},{"b":5,"a":6,"b":7}]"#,
    ] {
        assert_eq!(read(text), Err(Bail), "a duplicate after predicted keys: {text}");
    }
    for text in [r#"[{"a":1,"b":2},{"a":3,"b""#, r#"[{"a":1,"b":2},{"a":3,"b":"#, r#"[{"a":1},{"a""#] {
        assert_eq!(read(text), Err(Bail), "cut inside a predicted stretch: {text}");
    }
}

/// A list of objects drawn from a few keys (one of them escaped, one a prefix of another),
/// written with varying layout: the lexer reads what serde_json reads, and gives up exactly
/// when an object repeats a key.
fn like_objects() -> impl proptest::strategy::Strategy<Value = (String, bool)> {
    use proptest::prelude::*;
    const KEYS: [(&str, &str); 5] = [("a", "\"a\""), ("b", "\"b\""), ("ab", "\"ab\""), ("ab", "\"a\\u0062\""), ("c", "\"c\"")];
    const SPACE: [&str; 4] = ["", " ", "\n    ", "\t"];
    let member = (0..KEYS.len(), 0..SPACE.len(), 0..3u8, any::<u8>());
    let object = prop::collection::vec(member, 0..5);
    prop::collection::vec(object, 1..6).prop_map(|objects| {
        let mut duplicate = false;
        let items: Vec<String> = objects
            .iter()
            .map(|members| {
                let mut names: Vec<&str> = Vec::new();
                let parts: Vec<String> = members
                    .iter()
                    .map(|&(k, s, kind, n)| {
                        let (name, raw) = KEYS[k];
                        duplicate |= names.contains(&name);
                        names.push(name);
                        let value = match kind {
                            0 => n.to_string(),
                            1 => format!("\"v{n}\""),
                            _ => format!("{{{raw}:{n}}}"),
                        };
                        format!("{sp}{raw}{sp}:{value}", sp = SPACE[s])
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            })
            .collect();
        (format!("[{}]", items.join(",")), duplicate)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    #[test]
    fn like_objects_read_as_serde_json_reads((text, duplicate) in like_objects()) {
        let want: serde_json::Value = serde_json::from_str(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
        if duplicate {
            proptest::prop_assert_eq!(read(&text), Err(Bail), "{}", text);
        } else {
            proptest::prop_assert_eq!(read(&text), Ok(want), "{}", text);
        }
    }
}
