//! Fuzzes JSON → YAML: any JSON input serde_json reads becomes YAML that reads back to the same
//! data (numbers compared by value). The lexer also takes JSON serde_json refuses (nesting past
//! 128, numbers past the double range, lone surrogates). Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveagent_gateway::request::format::Format;
use liveagent_gateway::transcode;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let transcoded = transcode::transcode(data, Format::Yaml);
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        if let Ok(out) = transcoded {
            std::str::from_utf8(&out).expect("YAML output is UTF-8");
        }
        return;
    };
    let out = transcoded.expect("valid JSON transcodes");
    let text = std::str::from_utf8(&out).expect("YAML output is UTF-8");
    let back: Value = serde_norway::from_str(text).unwrap_or_else(|e| panic!("unreadable YAML ({e}):\n{text}"));
    assert!(transcode::same_data(&back, &input), "{input} read back as {back}:\n{text}");
});
