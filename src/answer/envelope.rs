//! Owns LiveAgent's error envelope: every failure a client can see, from the gateway or from
//! LiveAgent, becomes `{"response":{"status":"ERROR","statuscode":N,...}}` in its format.

use super::error::GatewayError;
use crate::request::format::Format;
use crate::transcode;
use serde_json::{json, Value};

/// An error response: HTTP status plus the envelope's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub status: u16,
    pub statuscode: u16,
    pub errormessage: String,
    pub debugmessage: String,
}

impl Envelope {
    pub fn for_error(e: GatewayError, request_id: &str) -> Self {
        Envelope { status: e.status(), statuscode: e.status(), errormessage: e.to_string(), debugmessage: debug_message(request_id) }
    }

    /// Normalises an upstream error response: LiveAgent's own envelope keeps its message (and
    /// its `statuscode`, filled in when missing); any other body (HTML page, PHP fatal, empty)
    /// is replaced by the status's reason phrase and never reaches the client.
    pub fn from_upstream(status: u16, body: &[u8], request_id: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let inner = parsed.as_ref().and_then(|v| v.get("response"));
        let message = inner.and_then(|r| r.get("errormessage")).and_then(Value::as_str);
        let code = inner
            .and_then(|r| r.get("statuscode"))
            .and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())))
            .and_then(|c| u16::try_from(c).ok());
        let errormessage = match message {
            Some(m) => m.to_string(),
            None => reason_phrase(status).to_string(),
        };
        Envelope { status, statuscode: code.unwrap_or(status), errormessage, debugmessage: debug_message(request_id) }
    }

    pub fn to_value(&self) -> Value {
        json!({"response": {
            "status": "ERROR",
            "statuscode": self.statuscode,
            "errormessage": self.errormessage,
            "debugmessage": self.debugmessage,
        }})
    }

    pub fn render(&self, format: Format) -> Vec<u8> {
        // Two levels of nesting: rendering cannot meet the depth limit, its only failure.
        transcode::render(&self.to_value(), format).unwrap_or_default()
    }
}

fn debug_message(request_id: &str) -> String {
    format!("request_id={request_id}")
}

pub fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_errors_render_in_every_format() {
        let e = Envelope::for_error(GatewayError::MissingKey, "r1");
        assert_eq!(
            String::from_utf8_lossy(&e.render(Format::Json)),
            r#"{"response":{"status":"ERROR","statuscode":401,"errormessage":"Api key is not found in request","debugmessage":"request_id=r1"}}"#
        );
        let xml = String::from_utf8_lossy(&e.render(Format::Xml)).into_owned();
        assert!(xml.contains(" <statuscode>401</statuscode>\n"), "{xml}");
        let yaml = String::from_utf8_lossy(&e.render(Format::Yaml)).into_owned();
        assert!(yaml.contains("  errormessage: Api key is not found in request\n"), "{yaml}");
        assert_eq!(Envelope::for_error(GatewayError::RateLimited { retry_after: 3 }, "x").status, 429);
    }

    #[test]
    fn upstream_envelopes_keep_their_message() {
        let e = Envelope::from_upstream(404, br#"{"response":{"status":"ERROR","errormessage":"Customer not found"}}"#, "r");
        assert_eq!((e.status, e.statuscode, e.errormessage.as_str()), (404, 404, "Customer not found"));
        let e = Envelope::from_upstream(
            500,
            br#"{"response":{"status":"ERROR","statuscode":"503","errormessage":"x","debugmessage":"/var/www/secret.php"}}"#,
            "r",
        );
        assert_eq!((e.statuscode, e.debugmessage.as_str()), (503, "request_id=r"));
    }

    #[test]
    fn foreign_bodies_never_pass() {
        for body in [&b"<html>Fatal error: /var/www</html>"[..], b"", b"{\"a\":1}", b"\xff\xfe"] {
            let e = Envelope::from_upstream(500, body, "r");
            assert_eq!(e.errormessage, "Internal Server Error");
        }
        assert_eq!(Envelope::from_upstream(599, b"", "r").errormessage, "Error");
    }
}
