//! Owns the environment overrides: the settings operators change per environment, and
//! secrets that should not sit in a configuration file (each has a `_FILE` form that reads the
//! value from a file, as container secrets are mounted).

use super::file::{FileConfig, RedisFile};
use super::Problem;

/// Every variable read, and the field it sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("LIVEAGENT_GATEWAY_LISTEN", "listen"),
    ("LIVEAGENT_GATEWAY_ADMIN_LISTEN", "admin_listen"),
    ("LIVEAGENT_GATEWAY_UPSTREAM_URL", "upstream.url"),
    ("LIVEAGENT_GATEWAY_UPSTREAM_APIKEY", "upstream.apikey"),
    ("LIVEAGENT_GATEWAY_REDIS_URL", "redis.url"),
    ("LIVEAGENT_GATEWAY_REDIS_PASSWORD", "redis.password"),
    ("LIVEAGENT_GATEWAY_KEYS_FILE", "keys_file"),
    ("LIVEAGENT_GATEWAY_ADMIN_TOKEN", "admin.token"),
];

/// The value of `name`, or the trimmed content of the file named by `name_FILE`.
fn value(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<String>, Problem> {
    if let Some(v) = env(name).filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    let file_var = format!("{name}_FILE");
    match env(&file_var).filter(|v| !v.is_empty()) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| Problem::new(file_var, format!("cannot read {path}: {e}"))),
        None => Ok(None),
    }
}

/// Applies the overrides found in `env` to the file model, before validation.
pub fn apply_env(file: &mut FileConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut get = |name: &str| value(env, name).map_err(|p| problems.push(p)).ok().flatten();
    if let Some(v) = get("LIVEAGENT_GATEWAY_LISTEN") {
        file.listen = Some(v);
    }
    if let Some(v) = get("LIVEAGENT_GATEWAY_ADMIN_LISTEN") {
        file.admin_listen = v;
    }
    if let Some(v) = get("LIVEAGENT_GATEWAY_UPSTREAM_URL") {
        file.upstream.url = v;
    }
    if let Some(v) = get("LIVEAGENT_GATEWAY_UPSTREAM_APIKEY") {
        file.upstream.apikey = Some(v);
    }
    if let Some(v) = get("LIVEAGENT_GATEWAY_REDIS_URL") {
        match &mut file.redis {
            Some(r) => r.url = Some(v),
            None => file.redis = Some(RedisFile { url: Some(v), on_error: "local".into(), timeout: "50ms".into(), ..RedisFile::default() }),
        }
    }
    let password = get("LIVEAGENT_GATEWAY_REDIS_PASSWORD");
    if let Some(v) = get("LIVEAGENT_GATEWAY_ADMIN_TOKEN") {
        // The environment wins over the file, as for every other setting.
        file.admin.token = Some(v);
        file.admin.token_file = None;
    }
    if let Some(v) = get("LIVEAGENT_GATEWAY_KEYS_FILE") {
        file.keys_file = Some(v.into());
    }
    if let Some(v) = password {
        match &mut file.redis {
            Some(r) => r.password = Some(v),
            None => problems.push(Problem::new("LIVEAGENT_GATEWAY_REDIS_PASSWORD", "is set but no redis is configured")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::from_yaml_with_env;
    use std::collections::HashMap;
    use std::path::Path;

    #[test]
    fn overrides_and_file_secrets() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let secret = dir.path().join("apikey");
        std::fs::write(&secret, "from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
        let vars: HashMap<&str, String> = [
            ("LIVEAGENT_GATEWAY_LISTEN", "0.0.0.0:8000".to_string()),
            ("LIVEAGENT_GATEWAY_UPSTREAM_URL", "https://la.example.com".to_string()),
            ("LIVEAGENT_GATEWAY_UPSTREAM_APIKEY_FILE", secret.display().to_string()),
            ("LIVEAGENT_GATEWAY_REDIS_URL", "redis://redis:6379".to_string()),
        ]
        .into();
        let env = |name: &str| vars.get(name).cloned();
        let loaded = from_yaml_with_env("upstream: {url: \"http://127.0.0.1:1\"}\nkeys: [{id: a, key: k}]\n", Path::new("."), &env);
        let c = loaded.unwrap_or_else(|p| panic!("{p:?}")).config;
        assert_eq!(c.listen.map(|l| l.to_string()).as_deref(), Some("0.0.0.0:8000"));
        assert_eq!((c.upstream.host.as_str(), c.upstream.tls), ("la.example.com", true));
        assert_eq!(c.upstream.apikey.as_deref(), Some("from-a-file"));
        assert_eq!(c.redis.map(|r| r.topology), Some(crate::config::RedisTopology::Single("redis://redis:6379".to_string())));
    }

    #[test]
    fn a_bad_override_is_reported_by_name() {
        let env = |name: &str| match name {
            "LIVEAGENT_GATEWAY_ADMIN_LISTEN" => Some("nowhere".to_string()),
            "LIVEAGENT_GATEWAY_UPSTREAM_APIKEY_FILE" => Some("/no/such/file".to_string()),
            _ => None,
        };
        let problems = from_yaml_with_env("upstream: {url: \"http://h\"}\n", Path::new("."), &env).err().unwrap_or_default();
        assert!(problems.iter().any(|p| p.path == "LIVEAGENT_GATEWAY_UPSTREAM_APIKEY_FILE"), "{problems:?}");
    }
}
