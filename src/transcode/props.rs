//! Property tests over arbitrary JSON: XML is always well-formed and keeps every key; YAML
//! always reads back to the same data.

use super::{xml, yaml};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// The shared list of strings that stress both writers (`tests/fixtures/tricky-strings.json`).
fn tricky_strings() -> Vec<String> {
    serde_json::from_str(include_str!("../../tests/fixtures/tricky-strings.json")).unwrap_or_default()
}

/// Strings that stress both writers: YAML's special words and number shapes, XML's forbidden
/// and escaped characters, and Unicode.
pub fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), prop::sample::select(tricky_strings()), any::<String>(), "[a-zA-Z0-9 _.@/+:#-]{0,12}",]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![0.0, -0.5, 1e300, 1e-300, 100.0, 0.1])
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool), number(), tricky_string().prop_map(Value::String)];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((tricky_string(), inner), 0..6).prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Parses `doc` completely with quick-xml, returning every `key` attribute and element name.
fn xml_names(doc: &str) -> Result<Vec<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut roots = 0;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) | Event::Empty(e) => {
                if depth == 0 {
                    roots += 1;
                }
                for a in e.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    names.push(a.unescape_value().map_err(|e| e.to_string())?.into_owned());
                }
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                depth += 1;
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) => {
                t.decode().map_err(|e| e.to_string())?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(names)
}

fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            keys(v, out);
        }),
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn xml_is_well_formed_and_keeps_keys(v in json_value()) {
        let doc = xml::to_xml(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
        let names = xml_names(&doc).map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
        let mut expected = Vec::new();
        keys(&v, &mut expected);
        for k in expected.iter().filter(|k| k.chars().all(|c| c != '\r' && xml_ok(c))) {
            prop_assert!(names.contains(k), "key {:?} lost in\n{}", k, doc);
        }
    }

    #[test]
    fn yaml_reads_back_equal(v in json_value()) {
        let doc = yaml::to_yaml(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(doc.starts_with("---") && doc.ends_with("...\n"));
        let back: Value = serde_norway::from_str(&doc).map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
        prop_assert!(super::same_data(&back, &v), "{:?} read back as {:?} from\n{}", v, back, doc);
    }
}

fn xml_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
