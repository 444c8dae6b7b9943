//! Owns the output format of a request: the path suffix, else the `Accept` header, else JSON.

/// One of the three formats a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Xml,
    Yaml,
}

impl Format {
    /// The label value used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
            Format::Yaml => "yaml",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
            Format::Yaml => "application/yaml; charset=utf-8",
        }
    }

    /// Splits a literal `.json`, `.xml` or `.yaml` off the end of `path`. Nothing else counts as
    /// a suffix, so `john@agent.com` stays an identifier.
    pub fn strip_suffix(path: &str) -> (&str, Option<Format>) {
        for (suffix, format) in [(".json", Format::Json), (".xml", Format::Xml), (".yaml", Format::Yaml)] {
            if let Some(stem) = path.strip_suffix(suffix) {
                if !stem.is_empty() && !stem.ends_with('/') {
                    return (stem, Some(format));
                }
            }
        }
        (path, None)
    }

    /// The format an `Accept` header prefers: the supported media type with the highest `q`,
    /// the first one on a tie; `None` when it names none of them.
    pub fn from_accept(accept: &str) -> Option<Format> {
        let mut best: Option<(Format, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let format = match media.as_str() {
                "application/json" => Format::Json,
                "application/xml" | "text/xml" => Format::Xml,
                "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Format::Yaml,
                _ => continue,
            };
            let q = parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((format, q));
            }
        }
        best.map(|(f, _)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::Format::{self, *};

    #[test]
    fn suffixes() {
        for (path, stem, fmt) in [
            ("/api/customers.xml", "/api/customers", Some(Xml)),
            ("/api/customers/john@agent.com", "/api/customers/john@agent.com", None),
            ("/api/customers/john@agent.com.xml", "/api/customers/john@agent.com", Some(Xml)),
            ("/api/customers.yaml", "/api/customers", Some(Yaml)),
            ("/api/customers.json", "/api/customers", Some(Json)),
            ("/api/customers.yml", "/api/customers.yml", None),
            ("/api/customers.XML", "/api/customers.XML", None),
            ("/api/.xml", "/api/.xml", None),
        ] {
            assert_eq!(Format::strip_suffix(path), (stem, fmt), "{path}");
        }
    }

    #[test]
    fn accept() {
        for (accept, want) in [
            ("application/xml", Some(Xml)),
            ("text/xml;q=0.5, application/yaml", Some(Yaml)),
            ("application/x-yaml;q=0.2, application/json;q=0.9", Some(Json)),
            ("*/*", None),
            ("text/html, application/xml;q=0", None),
            ("APPLICATION/XML", Some(Xml)),
            ("", None),
        ] {
            assert_eq!(Format::from_accept(accept), want, "{accept}");
        }
    }
}
