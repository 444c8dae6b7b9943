//! Owns how the simulator writes JSON: LiveAgent's own layout (two-space indentation,
//! `"key":value` without a space), so bodies match the documented examples byte for byte.

use serde_json::{json, Value};

/// `{"response": payload}` in LiveAgent's layout, with a final newline.
pub fn envelope(payload: Value) -> String {
    let mut out = String::with_capacity(256);
    write(&json!({ "response": payload }), 0, &mut out);
    out.push('\n');
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, val)) in map.iter().enumerate() {
                pad(out, indent + 2);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(val, indent + 2, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            pad(out, indent);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, indent + 2);
                write(item, indent + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, indent);
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The write-success envelope.
pub fn ok() -> Value {
    json!({"status": "OK", "statuscode": 0})
}

/// An error envelope's payload, as LiveAgent writes it.
pub fn error(status: u16, message: &str) -> Value {
    json!({"status": "ERROR", "statuscode": status, "errormessage": message, "debugmessage": ""})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let out = envelope(json!({"groups": [{"groupid": "ag0h"}], "e": [], "n": null}));
        assert_eq!(out, "{\n  \"response\":{\n    \"groups\":[\n      {\n        \"groupid\":\"ag0h\"\n      }\n    ],\n    \"e\":[],\n    \"n\":null\n  }\n}\n");
    }
}
