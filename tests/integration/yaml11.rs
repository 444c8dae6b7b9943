//! YAML output reads back to the same data in a YAML 1.1 parser (PyYAML), not only in the
//! YAML 1.2 reader the property tests use.

use liveagent_gateway::transcode::same_data;
use liveagent_gateway::transcode::yaml::to_yaml;
use serde_json::{json, Value};
use std::process::Command;

fn corpus() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tricky-strings.json");
    let tricky: Vec<String> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(tricky.len() > 50);
    let mut docs: Vec<Value> = tricky.iter().map(|s| json!({"response": {"value": s, "list": [s, s], s.as_str(): s}})).collect();
    docs.push(json!({"response": {"n": [0, -1, 1.5, 1e300, 1e-7, -2.5e-12, 100.0, u64::MAX, i64::MIN], "b": [true, false, null], "e": [], "o": {}, "deep": [[["x"]], [{}]]}}));
    docs.push(json!(["top", "level", {"list": true}]));
    // Keys past YAML's implicit-key limit once escaped (one was found by the fuzzer).
    docs.push(json!({"response": {"\u{7f}".repeat(300): [1, [2]], "k".repeat(1500): {"a": 1}, "after": "x"}}));
    docs.push(json!("scalar document"));
    docs
}

#[test]
fn pyyaml_reads_back_the_same_data() {
    let docs = corpus();
    let stream: String = docs.iter().map(|d| to_yaml(d).unwrap()).collect();
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
        assert!(same_data(b, d), "document {i} read back as {b}:\n{}", to_yaml(d).unwrap());
    }
}
