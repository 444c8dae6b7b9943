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

/// JSON documents as LiveAgent could send them, as text: numbers past 64 bits and past the
/// double range, exponent forms, `-0`, lone surrogates, keys no XML name can carry, PHP's
/// deepest nesting, and the shared tricky strings as values and keys.
fn tricky_documents() -> Vec<String> {
    let mut docs: Vec<String> = vec![
        r#"{"response":{"u":18446744073709551616,"big":10000000000000000000000,"neg":-0,"over":1e400,"under":-1e400,"edge":1.7976931348623159e308,"max":1.7976931348623157e308,"tiny":1e-400,"sub":4.9e-324,"exp":1E5,"exp2":2.5e5,"exp3":1e+5,"frac":1.50,"negz":-0.0,"i":-9223372036854775809,"ints":[0,-1,9007199254740993]}}"#.into(),
        r#"{"response":{"s":"a\ud800b","t":"\udfff","pair":"\ud83d\ude00","two":"\ud800\ud800","mixed":"\ud800\ud83d\ude00"}}"#.into(),
        r#"{"response":{"a\tb":1,"a\nb":2,"a\rb":3,"🎉":4,"x‿":5,"٣x":6,"顧客":7,"xml":8,"a:b":9,"":10," ":11,"é":12,"a\u0001b":13}}"#.into(),
        r#"[1,"two",{"three":[3.0]}]"#.into(),
        r#""a scalar""#.into(),
    ];
    for objects in [false, true] {
        let (open, close) = if objects { (r#"{"k":"#, "}") } else { ("[", "]") };
        docs.push(format!(r#"{{"response":{}{{"leaf":1.5e3}}{}}}"#, open.repeat(512), close.repeat(512)));
    }
    for doc in corpus() {
        docs.push(serde_json::to_string(&doc).unwrap());
    }
    docs
}

#[test]
fn python_readers_read_what_json_reads() {
    use liveagent_gateway::request::format::Format;
    use liveagent_gateway::transcode::transcode;
    let cases: Vec<Value> = tricky_documents()
        .into_iter()
        .map(|json| {
            let written = |format| String::from_utf8(transcode(json.as_bytes(), format).unwrap_or_else(|e| panic!("{e}: {json}"))).unwrap();
            json!({"json": json, "xml": written(Format::Xml), "yaml": written(Format::Yaml)})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/readers.py");
    let out = Command::new("python3").arg(&script).arg(&path).output().expect("python3 is needed (the test command installs it)");
    assert!(
        out.status.success(),
        "the readers failed (the test command installs PyYAML and ruamel.yaml): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disagreements = String::from_utf8_lossy(&out.stdout);
    assert!(disagreements.is_empty(), "{} documents; disagreements:\n{disagreements}", cases.len());
}
