//! Owns the admin listener's access settings: its bearer token and when one is required.

use super::check::Check;
use super::file::AdminFile;
use super::Secret;
use std::net::SocketAddr;

/// Shortest admin token accepted: 128 bits as hex.
const MIN_ADMIN_TOKEN: usize = 32;

/// The admin token, from `admin.token` or `admin.token_file`; required when the admin listener
/// is reachable from beyond the machine, where `/metrics` and `/keys` would be open to anyone.
pub(super) fn admin_token(c: &mut Check, a: &AdminFile, listen: Option<SocketAddr>) -> Option<Secret> {
    let token = match (&a.token, &a.token_file) {
        (Some(_), Some(_)) => {
            c.fail("admin", "has both token and token_file: give one");
            return None;
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => {
                c.fail("admin.token_file", format!("cannot read {}: {e}", path.display()));
                return None;
            }
        },
        (None, None) => None,
    };
    match &token {
        Some(t) if t.len() < MIN_ADMIN_TOKEN || !t.bytes().all(|b| b.is_ascii_graphic()) => {
            c.fail("admin.token", format!("must be at least {MIN_ADMIN_TOKEN} visible ASCII characters (openssl rand -hex 32 makes one)"));
        }
        None if listen.is_some_and(|l| !l.ip().is_loopback()) => c.fail(
            "admin.token",
            "is required when admin_listen is not a loopback address: set admin.token_file or LIVEAGENT_GATEWAY_ADMIN_TOKEN(_FILE)",
        ),
        _ => {}
    }
    token.map(Secret)
}

#[cfg(test)]
mod tests {
    use crate::config::{from_yaml_with_env, Problem};
    use std::path::Path;

    fn load(admin: &str, env: &[(&str, &str)]) -> Result<Option<String>, Vec<Problem>> {
        let yaml = format!("upstream: {{url: \"http://x\"}}\nkeys: [{{id: a, key: k}}]\n{admin}");
        let env = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        from_yaml_with_env(&yaml, Path::new("."), &env).map(|l| l.config.admin_token.map(|t| t.0))
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_is_required_beyond_loopback() {
        assert_eq!(load("admin_listen: \"127.0.0.1:9100\"\n", &[]), Ok(None));
        assert_eq!(load("admin_listen: \"[::1]:9100\"\n", &[]), Ok(None));
        let refused = load("admin_listen: \"0.0.0.0:9100\"\n", &[]).err().unwrap_or_default();
        assert_eq!(refused.first().map(|p| p.path.as_str()), Some("admin.token"), "{refused:?}");
        let from_env = load("admin_listen: \"0.0.0.0:9100\"\n", &[("LIVEAGENT_GATEWAY_ADMIN_TOKEN", TOKEN)]);
        assert_eq!(from_env, Ok(Some(TOKEN.to_string())));
        let inline = load(&format!("admin_listen: \"10.0.0.5:9100\"\nadmin: {{token: \"{TOKEN}\"}}\n"), &[]);
        assert_eq!(inline, Ok(Some(TOKEN.to_string())));
    }

    #[test]
    fn weak_or_unreadable_tokens_are_refused() {
        let short = load("admin: {token: short}\n", &[]).err().unwrap_or_default();
        assert!(short.iter().any(|p| p.path == "admin.token" && p.message.contains("at least 32")), "{short:?}");
        let missing = load("admin: {token_file: /nonexistent/token}\n", &[]).err().unwrap_or_default();
        assert!(missing.iter().any(|p| p.path == "admin.token_file"), "{missing:?}");
        let both = load(&format!("admin: {{token: \"{TOKEN}\", token_file: x}}\n"), &[]).err().unwrap_or_default();
        assert!(both.iter().any(|p| p.path == "admin"), "{both:?}");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap_or_else(|e| panic!("{e}"));
        let from_file = load(&format!("admin: {{token_file: \"{}\"}}\n", file.display()), &[]);
        assert_eq!(from_file, Ok(Some(TOKEN.to_string())), "the file's newline is not part of it");
    }
}
