//! Owns the decisions for one request before LiveAgent is called: where it goes and in which
//! format, whether its key and quota admit it, and the exact request LiveAgent receives.
//! Pure functions over plain values; `proxy/` only moves bytes.

use crate::auth::{self, KeyStore};
use crate::config::KeySpec;
use crate::envelope::GatewayError;
use crate::form::{self, BodyKind};
use crate::format::Format;
use crate::routes::{self, RouteError, Routed};

/// Where a request goes and in which format it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub routed: Routed,
    pub format: Format,
}

/// The format of a request: its suffix, else its `Accept` header, else JSON.
pub fn format_of(suffix: Option<Format>, accept: Option<&str>) -> Format {
    suffix.or_else(|| accept.and_then(Format::from_accept)).unwrap_or(Format::Json)
}

/// Routes a request. A path that is not proxied gets `Err` with the format its 404 uses.
pub fn target(path: &str, query: Option<&str>, accept: Option<&str>) -> Result<Target, Format> {
    match routes::route(path, query) {
        Ok(routed) => Ok(Target { format: format_of(routed.suffix_format, accept), routed }),
        Err(RouteError::NotApi | RouteError::DotSegment) => Err(format_of(Format::strip_suffix(path).1, accept)),
    }
}

/// The parts of a request the decisions need.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub query: Option<&'a str>,
    /// The body's form encoding when the gateway reads it for a key: a POST, PUT, DELETE or
    /// PATCH with a urlencoded or multipart body (PHP reads `$_POST` only for those).
    pub form: Option<BodyKind>,
    pub apikey_header: Option<&'a str>,
    /// The whole request body, already read (empty when there is none).
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    pub fn new(
        method: &'a str,
        query: Option<&'a str>,
        content_type: Option<&str>,
        apikey_header: Option<&'a str>,
        body: &'a [u8],
    ) -> Self {
        let form = content_type
            .filter(|_| matches!(method, "POST" | "PUT" | "DELETE" | "PATCH"))
            .map(BodyKind::from_content_type)
            .filter(BodyKind::is_form);
        RequestParts { method, query, form, apikey_header, body }
    }
}

/// A refusal, with the key id when the key was known (for per-key metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub error: GatewayError,
    pub key_id: Option<String>,
    pub auth: Option<auth::AuthError>,
}

/// Authenticates and authorises. Quotas come next, in `quota::check`.
pub fn admit<'s>(t: &Target, req: &RequestParts<'_>, store: &'s KeyStore) -> Result<&'s KeySpec, Refused> {
    let form_body = req.form.as_ref().map(|kind| (kind, req.body));
    let presented = auth::find_key(req.query, form_body, req.apikey_header);
    store.authorize(presented.as_ref(), req.method, t.routed.endpoint).map_err(|e| Refused {
        error: match e {
            auth::AuthError::Missing => GatewayError::MissingKey,
            auth::AuthError::Invalid => GatewayError::InvalidKey,
            auth::AuthError::Forbidden => GatewayError::Forbidden,
        },
        key_id: None,
        auth: Some(e),
    })
}

/// What happens to the `apikey` header on the way upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKey {
    Keep,
    Replace(String),
}

/// The request LiveAgent receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub path_and_query: String,
    /// A replacement body when the key was substituted in a form; `None` sends the body as read.
    pub body: Option<Vec<u8>>,
    pub header_key: HeaderKey,
}

/// Builds the upstream request: suffix removed, and with key substitution (the key's own
/// upstream key, else the gateway's) every `apikey` place carries LiveAgent's key instead of
/// the client's.
pub fn upstream(t: &Target, req: &RequestParts<'_>, key: &KeySpec, gateway_key: Option<&str>, base_path: &str) -> Upstream {
    let substitute = key.upstream_apikey.as_deref().or(gateway_key);
    let mut query = req.query.map(str::to_string);
    if t.routed.front_controller {
        if let Some(q) = &query {
            let handler = t.routed.resource_path.trim_start_matches("/api/");
            query = Some(form::replace_pairs(q, "handler", handler).0);
        }
    }
    let mut body = None;
    let mut header_key = HeaderKey::Keep;
    if let Some(new_key) = substitute {
        if let Some(q) = &query {
            query = Some(form::replace_pairs(q, auth::APIKEY, new_key).0);
        }
        if let Some(kind) = &req.form {
            body = kind.replace_field(req.body, auth::APIKEY, new_key);
        }
        if req.apikey_header.is_some() {
            header_key = HeaderKey::Replace(new_key.to_string());
        }
    }
    let path = if t.routed.front_controller { "/api/index.php" } else { t.routed.resource_path.as_str() };
    let mut path_and_query = format!("{base_path}{path}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path_and_query.push('?');
        path_and_query.push_str(&q);
    }
    Upstream { path_and_query, body, header_key }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Allow, Limits};
    use sha2::{Digest, Sha256};
    use std::num::NonZeroU32;

    fn key(upstream: Option<&str>) -> KeySpec {
        KeySpec {
            id: "k".into(),
            digest: Sha256::digest(b"client").into(),
            limits: Limits { per_second: NonZeroU32::MIN, burst: NonZeroU32::MIN, per_day: None },
            upstream_apikey: upstream.map(str::to_string),
            enabled: true,
            allow: Allow::default(),
        }
    }

    fn parts<'a>(
        method: &'a str,
        query: Option<&'a str>,
        ct: Option<&'a str>,
        header: Option<&'a str>,
        body: &'a [u8],
    ) -> RequestParts<'a> {
        RequestParts::new(method, query, ct, header, body)
    }

    fn t(path: &str, query: Option<&str>) -> Target {
        target(path, query, None).unwrap_or_else(|_| panic!("{path} not routed"))
    }

    #[test]
    fn formats() {
        assert_eq!(target("/api/customers.xml", None, Some("application/yaml")).map(|t| t.format), Ok(Format::Xml));
        assert_eq!(target("/api/customers", None, Some("text/yaml")).map(|t| t.format), Ok(Format::Yaml));
        assert_eq!(target("/nope.xml", None, None), Err(Format::Xml));
    }

    #[test]
    fn passthrough_without_substitution() {
        let tg = t("/api/customers/a@b.com.xml", Some("apikey=client&x=%20"));
        let up = upstream(&tg, &parts("GET", Some("apikey=client&x=%20"), None, None, b""), &key(None), None, "");
        assert_eq!(
            up,
            Upstream { path_and_query: "/api/customers/a@b.com?apikey=client&x=%20".into(), body: None, header_key: HeaderKey::Keep }
        );
    }

    #[test]
    fn substitution_everywhere() {
        let q = Some("apikey=client");
        let ct = Some("application/x-www-form-urlencoded");
        let tg = t("/api/customers", q);
        let up = upstream(&tg, &parts("POST", q, ct, Some("client"), b"name=a&apikey=client"), &key(Some("LA")), Some("GW"), "/base");
        assert_eq!(up.path_and_query, "/base/api/customers?apikey=LA");
        assert_eq!(up.body.as_deref(), Some(&b"name=a&apikey=LA"[..]));
        assert_eq!(up.header_key, HeaderKey::Replace("LA".into()));
        let up = upstream(&tg, &parts("GET", q, None, None, b""), &key(None), Some("GW"), "");
        assert_eq!(up.path_and_query, "/api/customers?apikey=GW");
    }

    #[test]
    fn front_controller_keeps_its_form() {
        let q = Some("handler=customers%2Fa%40b.c.yaml&apikey=client");
        let tg = t("/api/index.php", q);
        assert_eq!(tg.format, Format::Yaml);
        let up = upstream(&tg, &parts("GET", q, None, None, b""), &key(None), None, "");
        assert_eq!(up.path_and_query, "/api/index.php?handler=customers%2Fa%40b.c&apikey=client");
    }

    #[test]
    fn admit_refusals() {
        let store = KeyStore::new(vec![key(None)]);
        let tg = t("/api/tags", None);
        let refuse = |req: RequestParts<'_>| admit(&tg, &req, &store).err().map(|r| r.error);
        assert_eq!(refuse(parts("GET", None, None, None, b"")), Some(GatewayError::MissingKey));
        assert_eq!(refuse(parts("GET", Some("apikey=bad"), None, None, b"")), Some(GatewayError::InvalidKey));
        // A form key on a GET is not read, as PHP would not read it.
        assert_eq!(
            refuse(parts("GET", None, Some("application/x-www-form-urlencoded"), None, b"apikey=client")),
            Some(GatewayError::MissingKey)
        );
        assert_eq!(refuse(parts("POST", None, Some("application/x-www-form-urlencoded"), None, b"apikey=client")), None);
        assert_eq!(refuse(parts("GET", None, None, Some("client"), b"")), None);
    }
}
