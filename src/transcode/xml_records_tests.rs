//! Tests of writing lists' records from templates: the output is the general writer's, byte
//! for byte, for lists whose records fit, differ, and break off anywhere.

use super::super::document_with;
use proptest::prelude::*;

/// Values as JSON text: plain and escaped strings, strings XML escapes, numbers, literals,
/// empty and nested containers, and text that is not JSON.
const VALUES: &[&str] = &[
    "\"cid00001\"",
    "\"customer123@example.com\"",
    "\"\"",
    "\"a string longer than one block of thirty-two bytes, to be copied whole\"",
    "\"caf\\u00e9\"",
    "\"a\\/b\"",
    "\"x\\\"y\"",
    "\"\\ud83d\\ude00\"",
    "\"Tom & Jerry <b>\"",
    "\"d'Artagnan\"",
    "\"naïve\"",
    "\"\u{FFFF}\"",
    "12",
    "-0.5e3",
    "true",
    "false",
    "null",
    "{}",
    "[]",
    "{\"k\":\"v\"}",
    "[1,\"two\"]",
    "01",
    "tru",
    "\"unterminated",
];

const KEYS: &[&str] = &["contactid", "email", "a", "b", "x y", "1st", "item"];

/// One record: key and value indexes, keys possibly repeated (a duplicate key).
fn record() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..5)
}

/// A list: a first record, then records that mostly repeat its keys with other values.
fn list() -> impl Strategy<Value = Vec<Vec<(usize, usize)>>> {
    (record(), prop::collection::vec((any::<bool>(), record(), prop::collection::vec(0..VALUES.len(), 5)), 0..8)).prop_map(
        |(first, rest)| {
            let mut records = vec![first.clone()];
            for (same_keys, other, values) in rest {
                if same_keys {
                    records.push(first.iter().zip(&values).map(|(&(k, _), &v)| (k, v)).collect());
                } else {
                    records.push(other);
                }
            }
            records
        },
    )
}

/// Writes the list in one of several layouts: compact, LiveAgent's (`"key":value`, two
/// spaces), serde_json's pretty (`"key": value`), and one with stray whitespace.
fn text(records: &[Vec<(usize, usize)>], layout: usize) -> String {
    let (nl, ind, colon) = match layout % 4 {
        0 => ("", "", ":"),
        1 => ("\n", "  ", ":"),
        2 => ("\n", "  ", ": "),
        _ => ("\n\t", " \r", " : "),
    };
    let pad = |n: usize| format!("{nl}{}", ind.repeat(n));
    let items: Vec<String> = records
        .iter()
        .map(|r| {
            if r.is_empty() {
                return "{}".to_string();
            }
            let members: Vec<String> = r.iter().map(|&(k, v)| format!("{}\"{}\"{colon}{}", pad(4), KEYS[k], VALUES[v])).collect();
            format!("{{{}{}}}", members.join(","), pad(3))
        })
        .collect();
    let items: Vec<String> = items.iter().map(|i| format!("{}{i}", pad(2))).collect();
    format!("{{{}\"response\"{colon}{{{}\"customers\"{colon}[{}{}]{}}}{}}}", pad(1), pad(2), items.join(","), pad(2), pad(1), pad(0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn records_from_templates_are_written_as_the_general_writer_writes_them(records in list(), layout in 0..4usize) {
        let text = text(&records, layout);
        let general = document_with(&text, false).map(|out| String::from_utf8_lossy(&out).into_owned());
        let templated = document_with(&text, true).map(|out| String::from_utf8_lossy(&out).into_owned());
        prop_assert_eq!(templated, general, "{}", text);
    }

    #[test]
    fn a_list_cut_off_anywhere_is_refused_or_written_alike(records in list(), layout in 0..4usize, cut in any::<prop::sample::Index>()) {
        let text = text(&records, layout);
        let cut = text.char_indices().map(|(i, _)| i).nth(cut.index(text.chars().count().max(1))).unwrap_or(0);
        let text = &text[..cut];
        prop_assert_eq!(document_with(text, true), document_with(text, false), "{}", text);
    }
}

#[test]
fn a_list_of_records_alike_is_written_from_its_template() {
    let records: Vec<Vec<(usize, usize)>> = (0..50).map(|i| vec![(0, i % 2), (1, 1), (2, 12 + i % 4)]).collect();
    for layout in 0..4 {
        let text = text(&records, layout);
        super::HITS.with(|h| h.set(0));
        let out = document_with(&text, true).map(|out| String::from_utf8_lossy(&out).into_owned());
        assert_eq!(out, document_with(&text, false).map(|out| String::from_utf8_lossy(&out).into_owned()));
        let out = out.unwrap_or_default();
        assert_eq!(out.matches("<customer>").count(), 50, "{out}");
        assert!(
            out.contains(
                "   <contactid>customer123@example.com</contactid>\n   <email>customer123@example.com</email>\n   <a>-0.5e3</a>\n"
            ),
            "{out}"
        );
        // The first record makes the template, the other 49 fit it.
        assert_eq!(super::HITS.with(|h| h.replace(0)), 50, "layout {layout}");
    }
}
