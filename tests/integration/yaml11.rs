//! YAML output reads back to the same data in a YAML 1.1 parser (PyYAML), not only in the
//! YAML 1.2 reader the property tests use.

use liveagent_gateway::transcode::yaml::to_yaml;
use serde_json::{json, Value};
use std::process::Command;

const TRICKY: &[&str] = &[
    "no",
    "Yes",
    "ON",
    "off",
    "y",
    "n",
    "~",
    "null",
    "true",
    "False",
    "0123",
    "1e3",
    "1E3",
    "0x1F",
    "0o17",
    "0b101",
    ".inf",
    "-.inf",
    ".NaN",
    "1:20",
    "190:20:30",
    "2009-11-12 05:02:01",
    "2002-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "1_000",
    "+1",
    "-1.5",
    "=",
    "<<",
    "- x",
    "? x",
    "a: b",
    "a #b",
    "#c",
    "&a",
    "*a",
    "!t",
    "%x",
    "@x",
    "`x",
    "|",
    ">",
    "'q'",
    "\"q\"",
    "[x]",
    "{x}",
    "a,b",
    " lead",
    "trail ",
    "multi\nline",
    "tab\there",
    "cr\rhere",
    "nel\u{85}",
    "ls\u{2028}",
    "bom\u{FEFF}",
    "\u{1}\u{1F}\u{7F}",
    "😀 emoji",
    "山田 太郎",
    "john@example.com",
    "a&b<c>\"d'e",
    "",
    "V_auth",
    "cid00001",
];

fn corpus() -> Vec<Value> {
    let mut docs: Vec<Value> = TRICKY.iter().map(|s| json!({"response": {"value": s, "list": [s, s], (*s): s}})).collect();
    docs.push(json!({"response": {"n": [0, -1, 1.5, 1e300, 1e-7, -2.5e-12, 100.0, u64::MAX, i64::MIN], "b": [true, false, null], "e": [], "o": {}, "deep": [[["x"]], [{}]]}}));
    docs.push(json!(["top", "level", {"list": true}]));
    docs.push(json!("scalar document"));
    docs
}

/// Numbers compare by value: PyYAML has one integer type, JSON keeps i64 and u64 apart.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => json!({"float": n.as_f64().map(|f| format!("{f:e}"))}),
        Value::Number(n) => json!({"int": n.to_string()}),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn pyyaml_reads_back_the_same_data() {
    let docs = corpus();
    let stream: String = docs.iter().map(to_yaml).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docs.yaml");
    std::fs::write(&path, &stream).unwrap();
    let script =
        "import sys, json, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8'))), ensure_ascii=False))";
    let out = Command::new("python3").arg("-c").arg(script).arg(&path).output().expect("python3 is needed (the test command installs it)");
    assert!(out.status.success(), "PyYAML failed (the test command installs it with pip): {}", String::from_utf8_lossy(&out.stderr));
    let back: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back.len(), docs.len());
    for (i, (b, d)) in back.iter().zip(&docs).enumerate() {
        assert_eq!(normalise(b), normalise(d), "document {i}:\n{}", to_yaml(d));
    }
}
