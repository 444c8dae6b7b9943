//! Fuzzes JSON → YAML: any JSON input becomes YAML that reads back to the same data (numbers
//! compared by value). Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveagent_gateway::format::Format;
use liveagent_gateway::transcode;
use serde_json::Value;

fn normalise(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => serde_json::json!({ "f": n.as_f64().map(f64::to_bits) }),
        Value::Number(n) => serde_json::json!({ "i": n.to_string() }),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
        other => other.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        assert!(transcode::transcode(data, Format::Yaml).is_err());
        return;
    };
    let out = transcode::transcode(data, Format::Yaml).expect("valid JSON transcodes");
    let text = std::str::from_utf8(&out).expect("YAML output is UTF-8");
    let back: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("unreadable YAML ({e}):\n{text}"));
    assert_eq!(normalise(&back), normalise(&input), "{text}");
});
