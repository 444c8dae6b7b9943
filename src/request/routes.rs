//! Owns request routing: which LiveAgent v1 endpoint template a request is for, its format
//! suffix, and the path that goes upstream.
//!
//! Matching splits the path into segments and compares them with the catalog's templates: no
//! regular expressions run on client input, and the cost is linear in the path length.

use super::format::Format;
use std::sync::LazyLock;

/// The template label for paths under `/api/` that match no catalog entry.
pub const UNMATCHED: &str = "unmatched";

/// One v1 route template with the methods LiveAgent documents for it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub template: &'static str,
    pub methods: &'static [&'static str],
}

const fn r(template: &'static str, methods: &'static [&'static str]) -> Route {
    Route { template, methods }
}

const G: &[&str] = &["GET"];
const GP: &[&str] = &["GET", "POST"];
const GPD: &[&str] = &["GET", "POST", "DELETE"];
const PD: &[&str] = &["POST", "DELETE"];
const GUD: &[&str] = &["GET", "PUT", "DELETE"];

/// The route catalog of LiveAgent REST API v1 (`shared/reference/liveagent-api-v1.md` §2).
pub static CATALOG: &[Route] = &[
    r("/api/agents/{agentidentifier}", G),
    r("/api/application/status", G),
    r("/api/conversations", GP),
    r("/api/conversations/{conversationid}", &["GET", "DELETE"]),
    r("/api/conversations/{conversationid}/messages", GP),
    r("/api/conversations/{conversationid}/status", &["PUT"]),
    r("/api/conversations/{conversationid}/attendants", &["PUT"]),
    r("/api/conversations/{conversationid}/tags", GPD),
    r("/api/conversations/{conversationid}/fields", PD),
    r("/api/customers", GP),
    r("/api/customers/{customeridentifier}", GUD),
    r("/api/customers/{customeridentifier}/groups", GPD),
    r("/api/customers/{customeridentifier}/fields", GPD),
    r("/api/customersgroups", GP),
    r("/api/customersgroups/{groupid}", GUD),
    r("/api/companies", G),
    r("/api/companies/{companyid}", G),
    r("/api/departments", G),
    r("/api/departments/{departmentid}", G),
    r("/api/departments/{departmentid}/agents", G),
    r("/api/onlinestatus/agents", G),
    r("/api/onlinestatus/departments", G),
    r("/api/chats/overview", G),
    r("/api/calls/overview", G),
    r("/api/tags", GP),
    r("/api/tags/{tagid}", GUD),
    r("/api/knowledgebase/entries", G),
    r("/api/knowledgebase/entries/{kb_entry_id}", &["DELETE"]),
    r("/api/knowledgebase/articles", GP),
    r("/api/knowledgebase/articles/{kb_entry_id}", &["PUT"]),
    r("/api/knowledgebase/categories", &["POST"]),
    r("/api/knowledgebase/categories/{kb_entry_id}", &["PUT"]),
    r("/api/knowledgebase/search", G),
    r("/api/knowledgebase/knowledgebases", G),
    r("/api/suggestioncategories", G),
    r("/api/widgets", GP),
    r("/api/widgets/{contactwidgetid}", GUD),
    r("/api/files", &["POST"]),
    r("/api/files/{fileid}", &["GET", "DELETE"]),
    r("/api/reports/agents", G),
    r("/api/reports/channels", G),
    r("/api/reports/departments", G),
    r("/api/reports/tags", G),
    r("/api/reports/ranking", G),
    r("/api/reports/{channel}/agentsavailability", G),
    r("/api/reports/{channel}/availability", G),
    r("/api/reports/{channel}/load", G),
    r("/api/reports/{channel}/slacompliance", G),
    r("/api/reports/{channel}/slalog", G),
];

enum Seg {
    Lit(&'static str),
    Param,
}

static COMPILED: LazyLock<Vec<(&'static str, Vec<Seg>)>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .map(|route| {
            let segs =
                route.template["/api/".len()..].split('/').map(|s| if s.starts_with('{') { Seg::Param } else { Seg::Lit(s) }).collect();
            (route.template, segs)
        })
        .collect()
});

/// Where a request goes: its endpoint template, the format its suffix chose, and the resource
/// path with the suffix and trailing `/` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub endpoint: &'static str,
    pub suffix_format: Option<Format>,
    /// `/api/<resource>` without suffix or trailing slash.
    pub resource_path: String,
    /// The request used `/api/index.php?handler=<resource>`; the handler carries the path.
    pub front_controller: bool,
}

/// Why a request is not proxied at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("path is outside /api/")]
    NotApi,
    #[error("path has a dot segment")]
    DotSegment,
}

/// Routes a request by its raw path and raw query string.
pub fn route(path: &str, query: Option<&str>) -> Result<Routed, RouteError> {
    let (resource, front_controller) = if path == "/api/index.php" {
        let handler = query.and_then(|q| query_param(q, "handler")).ok_or(RouteError::NotApi)?;
        (format!("/api/{}", handler.trim_start_matches('/')), true)
    } else if path.starts_with("/api/") {
        (path.to_string(), false)
    } else {
        return Err(RouteError::NotApi);
    };
    let trimmed = resource.trim_end_matches('/');
    let (stem, suffix_format) = Format::strip_suffix(trimmed);
    let rest = stem.strip_prefix("/api/").ok_or(RouteError::NotApi)?;
    if rest.is_empty() {
        return Err(RouteError::NotApi);
    }
    if rest.split('/').any(is_dot_segment) {
        // A gateway must not let `..` walk the upstream out of /api/.
        return Err(RouteError::DotSegment);
    }
    Ok(Routed { endpoint: match_template(rest), suffix_format, resource_path: stem.to_string(), front_controller })
}

fn is_dot_segment(seg: &str) -> bool {
    // At most two dots, each `.` or `%2e`: anything else is decided without allocating.
    if seg.len() > 6 || !seg.bytes().all(|b| matches!(b, b'.' | b'%' | b'2' | b'e' | b'E')) {
        return false;
    }
    let lower = seg.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

fn match_template(rest: &str) -> &'static str {
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return UNMATCHED;
    }
    let mut best: Option<(&'static str, usize)> = None;
    for (template, pattern) in COMPILED.iter() {
        if pattern.len() != segs.len() {
            continue;
        }
        let mut literals = 0;
        let fits = pattern.iter().zip(&segs).all(|(p, s)| match p {
            Seg::Lit(l) => {
                literals += 1;
                l == s
            }
            Seg::Param => true,
        });
        if fits && best.is_none_or(|(_, b)| literals > b) {
            best = Some((template, literals));
        }
    }
    best.map_or(UNMATCHED, |(t, _)| t)
}

/// The first value of `name` in a raw query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::format::Format::*;

    fn ok(path: &str, query: Option<&str>) -> Routed {
        route(path, query).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn templates() {
        for (path, template) in [
            ("/api/customers", "/api/customers"),
            ("/api/customers/", "/api/customers"),
            ("/api/customers/john@agent.com", "/api/customers/{customeridentifier}"),
            ("/api/customers/a.b+c@x.com/groups", "/api/customers/{customeridentifier}/groups"),
            ("/api/reports/chats/load", "/api/reports/{channel}/load"),
            ("/api/reports/agents", "/api/reports/agents"),
            ("/api/knowledgebase/entries", "/api/knowledgebase/entries"),
            ("/api/knowledgebase/entries/12", "/api/knowledgebase/entries/{kb_entry_id}"),
            ("/api/nothing/here", UNMATCHED),
            ("/api/customers//groups", UNMATCHED),
        ] {
            assert_eq!(ok(path, None).endpoint, template, "{path}");
        }
    }

    #[test]
    fn suffix_and_identifiers() {
        let r = ok("/api/customers/john@agent.com.xml", None);
        assert_eq!(r.endpoint, "/api/customers/{customeridentifier}");
        assert_eq!(r.suffix_format, Some(Xml));
        assert_eq!(r.resource_path, "/api/customers/john@agent.com");
        let r = ok("/api/customers/john@agent.com", None);
        assert_eq!((r.suffix_format, r.resource_path.as_str()), (None, "/api/customers/john@agent.com"));
        assert_eq!(ok("/api/customers.yaml/", None).suffix_format, Some(Yaml));
    }

    #[test]
    fn front_controller() {
        let r = ok("/api/index.php", Some("apikey=k&handler=customers%2Fa%40b.c%2Fgroups.xml"));
        assert!(r.front_controller);
        assert_eq!(r.endpoint, "/api/customers/{customeridentifier}/groups");
        assert_eq!(r.suffix_format, Some(Xml));
        assert_eq!(route("/api/index.php", Some("apikey=k")), Err(RouteError::NotApi));
    }

    #[test]
    fn outside_api_and_dot_segments() {
        for path in ["/", "/apix", "/api", "/api/", "/metrics", "/API/customers"] {
            assert_eq!(route(path, None), Err(RouteError::NotApi), "{path}");
        }
        for path in ["/api/../admin", "/api/customers/%2e%2E/x", "/api/./customers"] {
            assert_eq!(route(path, None), Err(RouteError::DotSegment), "{path}");
        }
    }

    #[test]
    fn catalog_templates_match_themselves() {
        for route_ in CATALOG {
            let concrete = route_.template.replace('{', "x").replace('}', "");
            assert_eq!(ok(&concrete, None).endpoint, route_.template);
        }
    }
}
