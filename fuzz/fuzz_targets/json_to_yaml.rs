//! Fuzzes JSON → YAML: any JSON input becomes YAML that reads back to the same data (numbers
//! compared by value), the same as rendering serde_json's reading of it. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveagent_gateway::request::format::Format;
use liveagent_gateway::transcode;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        assert!(transcode::transcode(data, Format::Yaml).is_err());
        return;
    };
    let out = transcode::transcode(data, Format::Yaml).expect("valid JSON transcodes");
    assert_eq!(transcode::render(&input, Format::Yaml).ok(), Some(out.clone()), "lexer and serde_json disagree");
    let text = std::str::from_utf8(&out).expect("YAML output is UTF-8");
    let back: Value = serde_norway::from_str(text).unwrap_or_else(|e| panic!("unreadable YAML ({e}):\n{text}"));
    assert!(transcode::same_data(&back, &input), "{input} read back as {back}:\n{text}");
});
