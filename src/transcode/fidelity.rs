//! Tests that whatever JSON LiveAgent can send comes out as XML and YAML that strict readers
//! take and read back as the same data: depth, numbers, lone surrogates, names and attributes.
//! The JSON is generated as text (not through `serde_json::Value`), so big integers, exponent
//! forms, `-0` and escapes reach the writers as LiveAgent would write them.

use super::{transcode, TranscodeError};
use crate::request::format::Format;
use proptest::prelude::*;
use yaml_rust2::{Yaml, YamlLoader};

/// A JSON value as generated: its text, and what a reader of the output must find.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    /// An integer's text, any size.
    Int(String),
    /// A float's text; readers find `text.parse::<f64>()` (infinite past the double range).
    Float(String),
    /// The string as readers find it (U+FFFD for a lone surrogate) and its JSON text.
    Str(String, String),
    Arr(Vec<J>),
    /// Keys as readers find them, with their JSON text; all distinct.
    Obj(Vec<(String, String, J)>),
}

impl J {
    fn text(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(t) | J::Float(t) | J::Str(_, t) => out.push_str(t),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.text(out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (_, key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(key);
                    out.push(':');
                    value.text(out);
                }
                out.push('}');
            }
        }
    }

    /// The document LiveAgent sends: this value under `response`.
    fn document(&self) -> String {
        let mut out = String::from("{\"response\":");
        self.text(&mut out);
        out.push('}');
        out
    }
}

/// Whether `y` (read by yaml-rust2, a YAML 1.2 reader) is the data `j` stands for.
fn yaml_matches(y: &Yaml, j: &J) -> Result<(), String> {
    let same = match (y, j) {
        (Yaml::Null, J::Null) => true,
        (Yaml::Boolean(a), J::Bool(b)) => a == b,
        // Past 64 bits the reader keeps the digits as a real's text.
        (Yaml::Integer(i), J::Int(t)) => t.parse::<i64>() == Ok(*i),
        (Yaml::Real(r), J::Int(t)) => r == t && t.parse::<i64>().is_err(),
        (Yaml::Real(r), J::Float(t)) => {
            let read = match r.as_str() {
                ".inf" => f64::INFINITY,
                "-.inf" => f64::NEG_INFINITY,
                r => r.parse().unwrap_or(f64::NAN),
            };
            t.parse::<f64>().is_ok_and(|want| want.to_bits() == read.to_bits())
        }
        (Yaml::String(a), J::Str(b, _)) => a == b,
        (Yaml::Array(a), J::Arr(b)) if a.len() == b.len() => return a.iter().zip(b).try_for_each(|(a, b)| yaml_matches(a, b)),
        (Yaml::Hash(a), J::Obj(b)) if a.len() == b.len() => {
            return a.iter().zip(b).try_for_each(|((ka, va), (kb, _, vb))| match ka {
                Yaml::String(k) if k == kb => yaml_matches(va, vb),
                other => Err(format!("key {other:?} for {kb:?}")),
            })
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!("{y:?} for {j:?}"))
    }
}

fn read_yaml(doc: &[u8]) -> Result<Yaml, String> {
    let text = std::str::from_utf8(doc).map_err(|e| e.to_string())?;
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| format!("{e}\n{text}"))?;
    match (docs.pop(), docs.is_empty()) {
        (Some(Yaml::Hash(mut top)), true) => top.remove(&Yaml::String("response".into())).ok_or_else(|| "no response key".into()),
        other => Err(format!("not one mapping: {other:?}")),
    }
}

/// Reads `doc` with quick-xml, checking end names, every escape, every attribute and every
/// element name; returns the greatest element depth.
fn read_xml(doc: &[u8]) -> Result<usize, String> {
    use quick_xml::events::{BytesStart, Event};
    let check = |e: &BytesStart<'_>| -> Result<(), String> {
        for a in e.attributes().with_checks(true) {
            a.map_err(|e| e.to_string())?.unescape_value().map_err(|e| e.to_string())?;
        }
        let name = e.name();
        let name = std::str::from_utf8(name.as_ref()).map_err(|e| e.to_string())?;
        if super::xml::is_xml_name(name) {
            Ok(())
        } else {
            Err(format!("element name {name:?}"))
        }
    };
    let mut reader = quick_xml::Reader::from_reader(doc);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut deepest, mut roots) = (0usize, 0usize, 0);
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        roots += usize::from(depth == 0 && matches!(event, Event::Start(_) | Event::Empty(_)));
        match event {
            Event::Start(e) => {
                check(&e)?;
                depth += 1;
                deepest = deepest.max(depth);
            }
            Event::Empty(e) => {
                check(&e)?;
                deepest = deepest.max(depth + 1);
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => {
                t.decode().map_err(|e| e.to_string())?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(deepest)
}

/// The text of `doc`'s first element named `name`, unescaped.
fn xml_text_of(doc: &[u8], name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut buf = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.name().as_ref() == name.as_bytes() => inside = true,
            Event::Text(t) if inside => {
                let raw = t.decode().ok()?;
                return quick_xml::escape::unescape(&raw).ok().map(|t| t.into_owned());
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// Characters that stress one writer or the other.
const TRICKY: &[char] = &[
    '<', '&', '"', '\'', '\t', '\n', '\r', '\u{0}', '\u{7F}', '\u{85}', '\u{2028}', '\u{FEFF}', '\u{FFFE}', '\u{203F}', '\u{663}', '🎉',
    ':', '#', '-', ' ', '.', '0', 'x', '\\', '/',
];

/// Appends `c` as JSON string text: escaped when JSON requires it, astral characters now and
/// then as a surrogate pair.
fn push_json_char(text: &mut String, c: char, as_pair: bool) {
    match c {
        '"' => text.push_str("\\\""),
        '\\' => text.push_str("\\\\"),
        c if (c as u32) < 0x20 => text.push_str(&format!("\\u{:04x}", c as u32)),
        c if (c as u32) > 0xFFFF && as_pair => {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                text.push_str(&format!("\\u{u:04X}"));
            }
        }
        c => text.push(c),
    }
}

/// A JSON string: its value as read, and its text. Pieces are characters of every class and
/// lone surrogate escapes (read as U+FFFD).
fn string() -> impl Strategy<Value = (String, String)> {
    let piece = prop_oneof![
        6 => any::<char>().prop_map(Some),
        3 => prop::sample::select(TRICKY).prop_map(Some),
        1 => Just(None),
    ];
    (prop::collection::vec((piece, 0xD800u32..0xE000, any::<bool>()), 0..8), prop::sample::select(vec!["", "yes", "1e3", "null", "0x1F"]))
        .prop_map(|(pieces, word)| {
            let mut value = String::from(word);
            let mut text = format!("\"{word}");
            let mut lone_before = false;
            for (piece, unit, pair) in pieces {
                match piece {
                    // A lone high surrogate right before a lone low one would make a pair.
                    None if lone_before => continue,
                    None => {
                        value.push('\u{FFFD}');
                        text.push_str(&format!("\\u{unit:04x}"));
                    }
                    Some(c) => {
                        value.push(c);
                        push_json_char(&mut text, c, pair);
                    }
                }
                lone_before = piece.is_none();
            }
            text.push('"');
            (value, text)
        })
}

fn number() -> impl Strategy<Value = J> {
    let exponent_form = (
        any::<bool>(),
        "[0-9]",
        prop::option::of("[0-9]{1,20}"),
        prop::sample::select(vec!["e", "E"]),
        prop::sample::select(vec!["", "+", "-"]),
        0u32..420,
    )
        .prop_map(|(neg, int, frac, e, sign, exp)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            J::Float(format!("{}{int}{frac}{e}{sign}{exp}", if neg { "-" } else { "" }))
        });
    prop_oneof![
        any::<i64>().prop_map(|n| J::Int(n.to_string())),
        (any::<bool>(), "[1-9][0-9]{0,40}").prop_map(|(neg, d)| J::Int(format!("{}{d}", if neg { "-" } else { "" }))),
        prop::sample::select(vec!["-0", "0"]).prop_map(|t| J::Int(t.into())),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| J::Float(format!("{f:?}"))),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| J::Float(format!("{f:e}"))),
        exponent_form,
        prop::sample::select(vec!["-0.0", "1.7976931348623159e308", "4.9e-324", "1.50"]).prop_map(|t| J::Float(t.into())),
    ]
}

fn value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![Just(J::Null), any::<bool>().prop_map(J::Bool), number(), string().prop_map(|(v, t)| J::Str(v, t))];
    leaf.prop_recursive(6, 80, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(J::Arr),
            prop::collection::vec((string(), inner), 0..8).prop_map(|members| {
                let mut seen = std::collections::HashSet::new();
                J::Obj(members.into_iter().filter(|((k, _), _)| seen.insert(k.clone())).map(|((k, t), v)| (k, t, v)).collect())
            }),
        ]
    })
}

/// `v` under `levels` more arrays or one-key objects.
fn deep(v: J, levels: usize, objects: bool) -> J {
    (0..levels).fold(v, |inner, _| if objects { J::Obj(vec![("k".into(), "\"k\"".into(), inner)]) } else { J::Arr(vec![inner]) })
}

fn both(json: &str) -> (Result<Vec<u8>, TranscodeError>, Result<Vec<u8>, TranscodeError>) {
    (transcode(json.as_bytes(), Format::Xml), transcode(json.as_bytes(), Format::Yaml))
}

fn text(out: Result<Vec<u8>, TranscodeError>) -> String {
    String::from_utf8(out.unwrap_or_default()).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn every_json_document_reads_back(v in value(), levels in prop_oneof![3 => Just(0usize), 1 => 0usize..600], objects in any::<bool>()) {
        let v = deep(v, levels, objects);
        let json = v.document();
        let (xml, yaml) = both(&json);
        let xml = xml.map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        read_xml(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&xml))))?;
        let yaml = yaml.map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        let back = read_yaml(&yaml).map_err(TestCaseError::fail)?;
        yaml_matches(&back, &v).map_err(|e| TestCaseError::fail(format!("{e}\n{json}\n{}", String::from_utf8_lossy(&yaml))))?;
    }
}

#[test]
fn php_depth_reads_and_ten_thousand_levels_end_cleanly() {
    for objects in [false, true] {
        // PHP's json_encode writes up to 512 levels; the envelope adds one.
        let v = deep(J::Int("1".into()), 512, objects);
        let (xml, yaml) = both(&v.document());
        assert_eq!(read_xml(text(xml).as_bytes()), Ok(513), "objects: {objects}");
        let back = read_yaml(text(yaml).as_bytes());
        assert_eq!(back.and_then(|back| yaml_matches(&back, &v)), Ok(()), "objects: {objects}");
        // Far past it: a clean refusal (a 502), not a crash.
        // Written as text: the model is recursive, as are its drop and its writer.
        let (open, close) = if objects { ("{\"k\":", "}") } else { ("[", "]") };
        let json = format!("{{\"response\":{}null{}}}", open.repeat(10_000), close.repeat(10_000));
        let (xml, yaml) = both(&json);
        assert!(xml.is_err() && yaml.is_err(), "objects: {objects}");
    }
}

#[test]
fn numbers_past_64_bits_and_the_double_range() {
    let json = r#"{"response":{"u":18446744073709551616,"big":10000000000000000000000,"neg":-0,"over":1e400,"edge":1.7976931348623159e308,"max":1.7976931348623157e308,"exp":1E5,"frac":1.50}}"#;
    let (xml, yaml) = both(json);
    assert_eq!(
        text(yaml),
        "---\nresponse:\n  u: 18446744073709551616\n  big: 10000000000000000000000\n  neg: -0\n  over: .inf\n  edge: .inf\n  max: 1.7976931348623157e+308\n  exp: 1.0E+5\n  frac: 1.50\n...\n"
    );
    let xml = text(xml);
    for (name, number) in [
        ("u", "18446744073709551616"),
        ("big", "10000000000000000000000"),
        ("neg", "-0"),
        ("over", "1e400"),
        ("exp", "1E5"),
        ("frac", "1.50"),
    ] {
        assert_eq!(xml_text_of(xml.as_bytes(), name).as_deref(), Some(number), "XML keeps {name} as LiveAgent sent it");
    }
}

#[test]
fn lone_surrogates_become_the_replacement_character() {
    let (xml, yaml) = both(r#"{"response":{"s":"a\ud800b","t":"\udfff","\ud800":"k"}}"#);
    let xml = text(xml);
    assert_eq!(xml_text_of(xml.as_bytes(), "s").as_deref(), Some("a\u{FFFD}b"));
    assert!(xml.contains("<item key=\"\u{FFFD}\">k</item>"), "{xml}");
    let yaml = text(yaml);
    assert!(yaml.contains("  s: \"a\u{FFFD}b\"\n  t: \"\u{FFFD}\"\n  \"\u{FFFD}\": k\n"), "{yaml}");
}

#[test]
fn attribute_values_keep_tab_newline_and_return() {
    let xml = text(both(r#"{"response":{"a\tb":1,"a\nb":2,"a\rb":3,"a b":4}}"#).0);
    for want in
        ["<item key=\"a&#9;b\">1</item>", "<item key=\"a&#10;b\">2</item>", "<item key=\"a&#13;b\">3</item>", "<item key=\"a b\">4</item>"]
    {
        assert!(xml.contains(want), "{want} in {xml}");
    }
    assert_eq!(read_xml(xml.as_bytes()), Ok(2));
}

#[test]
fn names_expat_refuses_take_the_key_attribute() {
    let xml = text(both(r#"{"response":{"🎉":1,"x‿":2,"٣x":3,"顧客":4,"name.ok-1_":5}}"#).0);
    for want in [
        "<item key=\"🎉\">1</item>",
        "<item key=\"x‿\">2</item>",
        "<item key=\"٣x\">3</item>",
        "<item key=\"顧客\">4</item>",
        "<name.ok-1_>5</name.ok-1_>",
    ] {
        assert!(xml.contains(want), "{want} in {xml}");
    }
}
