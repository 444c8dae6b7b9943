//! Owns turning the file model into the runtime `Config`, collecting every problem with the
//! path of the field it is about instead of stopping at the first.

use super::admin::admin_token;
use super::check::Check;
use super::file::{FileConfig, KeyFile, LimitsFile};
use super::keys::{validate_keys, Defaults, Seen};
use super::tls::TlsIdentity;
use super::{
    Cidr, ClientIp, ClientLimits, Config, GuardSettings, Limits, Loaded, OnRedisError, Problem, Redis, RedisTopology, Shutdown, Upstream,
    Zone,
};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

/// Validates the whole file plus the entries of its keys file.
pub fn validate(file: FileConfig, keys_file: Option<PathBuf>, extra_keys: Vec<KeyFile>) -> Result<Loaded, Vec<Problem>> {
    let mut c = Check::default();
    let listen = file.listen.as_ref().map(|l| c.addr("listen", l));
    let listen_tls = file.listen_tls.as_ref().map(|l| c.addr("listen_tls", l));
    let admin_listen = c.addr("admin_listen", &file.admin_listen);
    let tls = listeners(&mut c, &file, listen.flatten(), listen_tls.flatten(), admin_listen);
    let upstream = upstream(&mut c, &file);
    let limits = default_limits(&mut c, &file.limits);
    let redis = file.redis.as_ref().and_then(|r| redis(&mut c, r));
    if file.max_request_bytes == 0 {
        c.fail("max_request_bytes", "must be at least 1");
    }
    if !(1..=256).contains(&file.threads) {
        c.fail("threads", "must be between 1 and 256");
    }
    let log = super::log::log(&mut c, &file.log);
    let auth_guard = file.auth_guard.as_ref().and_then(|g| guard(&mut c, g));
    let client = client(&mut c, &file.client);
    let trusted_proxies: Vec<Cidr> = file
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Cidr::parse(t).map_err(|m| c.fail(format!("trusted_proxies[{i}]"), m)).ok())
        .collect();
    let grace_period = c.duration("shutdown.grace_period", &file.shutdown.grace_period);
    let shutdown_timeout = c.duration("shutdown.timeout", &file.shutdown.timeout);
    // Keys are checked even when the defaults are broken, so every problem shows at once.
    let zone = Zone::named(&file.quota_timezone).map_err(|m| c.fail("quota_timezone", m)).unwrap_or_else(|()| Zone::utc());
    let key_defaults = Defaults { limits: limits.unwrap_or(Limits::rate(NonZeroU32::MIN, NonZeroU32::MIN)), zone: &zone };
    let admin_token = admin_token(&mut c, &file.admin, admin_listen);
    let mut seen = Seen::default();
    let mut keys = validate_keys(&mut c, &file.keys, key_defaults, "keys", &mut seen);
    keys.extend(validate_keys(&mut c, &extra_keys, key_defaults, "keys_file.keys", &mut seen));
    if keys.is_empty() && c.problems.is_empty() {
        c.warn("keys", "no keys configured: every request will be refused with 401");
    }
    let shutdown = grace_period.zip(shutdown_timeout).map(|(grace_period, timeout)| Shutdown { grace_period, timeout });
    match (admin_listen, upstream, limits, log, shutdown, client) {
        (Some(admin_listen), Some(upstream), Some(limits), Some(log), Some(shutdown), Some(client)) if c.problems.is_empty() => {
            Ok(Loaded {
                config: Config {
                    listen: listen.flatten(),
                    listen_tls: listen_tls.flatten(),
                    tls,
                    admin_listen,
                    upstream,
                    limits,
                    redis,
                    keys,
                    keys_file,
                    admin_token,
                    max_request_bytes: usize::try_from(file.max_request_bytes).unwrap_or(usize::MAX),
                    threads: file.threads,
                    work_stealing: file.work_stealing,
                    log,
                    auth_guard,
                    client,
                    trusted_proxies,
                    shutdown,
                },
                warnings: c.warnings,
            })
        }
        _ => Err(c.problems),
    }
}

fn client(c: &mut Check, f: &super::file::ClientFile) -> Option<ClientLimits> {
    let header = c.duration("client.header_timeout", &f.header_timeout);
    let body = c.duration("client.body_timeout", &f.body_timeout);
    let idle = c.duration("client.idle_timeout", &f.idle_timeout);
    if f.max_connections == Some(0) {
        c.fail("client.max_connections", "must be at least 1 (or null: from the open-files limit)");
    }
    Some(ClientLimits { header: header?, body: body?, idle: idle?, max_connections: f.max_connections })
}

fn upstream(c: &mut Check, file: &FileConfig) -> Option<Upstream> {
    let u = &file.upstream;
    let connect_timeout = c.duration("upstream.connect_timeout", &u.connect_timeout);
    let read_timeout = c.duration("upstream.read_timeout", &u.read_timeout);
    let idle_timeout = c.duration("upstream.idle_timeout", &u.idle_timeout);
    if u.max_response_bytes == 0 {
        c.fail("upstream.max_response_bytes", "must be at least 1");
    }
    if u.apikey.as_deref() == Some("") {
        c.fail("upstream.apikey", "must not be empty (use null for no key substitution)");
    }
    if let Some(ca) = &u.ca_file {
        if !ca.is_file() {
            c.fail("upstream.ca_file", format!("{} is not a readable file", ca.display()));
        }
    }
    let url = parse_url(&u.url).map_err(|m| c.fail("upstream.url", m)).ok()?;
    if u.ca_file.is_some() && !url.0 {
        c.warn("upstream.ca_file", "is only used for an https upstream");
    }
    Some(Upstream {
        tls: url.0,
        host: url.1,
        port: url.2,
        base_path: url.3,
        apikey: u.apikey.clone(),
        connect_timeout: connect_timeout?,
        read_timeout: read_timeout?,
        idle_timeout: idle_timeout?,
        max_response_bytes: usize::try_from(u.max_response_bytes).unwrap_or(usize::MAX),
        ca_file: u.ca_file.clone(),
    })
}

/// Splits an `http(s)://host[:port][/base]` URL into (tls, host, port, base path).
fn parse_url(text: &str) -> Result<(bool, String, u16, String), String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{text:?} must start with http:// or https://")),
    };
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("{text:?} has no host"))?;
    if uri.query().is_some() {
        return Err(format!("{text:?} must not have a query string"));
    }
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let base = uri.path().trim_end_matches('/').to_string();
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((tls, host, port, base))
}

fn default_limits(c: &mut Check, l: &LimitsFile) -> Option<Limits> {
    let per_second = c.nonzero("limits.per_second", l.per_second);
    let burst = c.nonzero("limits.burst", l.burst);
    if l.per_day == Some(0) {
        c.fail("limits.per_day", "must be at least 1, or null for no daily quota");
    }
    if l.per_month == Some(0) {
        c.fail("limits.per_month", "must be at least 1, or null for no monthly quota");
    }
    Some(Limits { per_second: per_second?, burst: burst?, per_day: l.per_day, per_month: l.per_month })
}

/// Client listeners: at least one, all distinct, and a certificate for the TLS one, which is
/// loaded and checked here. Warns when it expires within `EXPIRY_WARNING`.
fn listeners(
    c: &mut Check,
    file: &FileConfig,
    listen: Option<SocketAddr>,
    listen_tls: Option<SocketAddr>,
    admin: Option<SocketAddr>,
) -> Option<TlsIdentity> {
    if file.listen.is_none() && file.listen_tls.is_none() {
        c.fail("listen", "and listen_tls are both off: no client could connect");
    }
    if listen.is_some() && listen == admin {
        c.fail("admin_listen", "must differ from listen");
    }
    // The TLS listener is told apart by its port.
    if listen_tls.is_some_and(|t| listen.is_some_and(|l| l.port() == t.port()) || admin.is_some_and(|a| a.port() == t.port())) {
        c.fail("listen_tls", "must use another port than listen and admin_listen");
    }
    let Some(t) = &file.tls else {
        if file.listen_tls.is_some() {
            c.fail("tls", "listen_tls needs tls: {cert_file, key_file}");
        }
        return None;
    };
    if file.listen_tls.is_none() {
        c.warn("tls", "is only used with listen_tls");
    }
    match TlsIdentity::load(&t.cert_file, &t.key_file) {
        Ok(identity) => {
            let left = identity.not_after - now_unix();
            if left <= 0 {
                c.warn("tls.cert_file", format!("the certificate in {} has expired", t.cert_file.display()));
            } else if left < EXPIRY_WARNING.as_secs() as i64 {
                c.warn("tls.cert_file", format!("the certificate in {} expires in {} days", t.cert_file.display(), left / 86_400));
            }
            Some(identity)
        }
        Err((field, why)) => {
            c.fail(field, why);
            None
        }
    }
}

/// How long before a certificate expires `check` warns.
const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn redis(c: &mut Check, r: &super::file::RedisFile) -> Option<Redis> {
    let topology = redis_topology(c, r);
    let url_tls = r.url.as_deref().is_some_and(|u| u.starts_with("rediss://"));
    if r.tls && r.url.as_deref().is_some_and(|u| u.starts_with("redis://")) {
        c.fail("redis.tls", "a redis:// URL is plain TCP; write rediss:// for TLS");
    }
    let tls = r.tls || url_tls;
    let ca_pem = r.ca_file.as_ref().and_then(|path| super::pem::certificates(path).map_err(|e| c.fail("redis.ca_file", e)).ok());
    let client_pem = match (&r.cert_file, &r.key_file) {
        (Some(cert), Some(key)) => {
            let cert = super::pem::certificates(cert).map_err(|e| c.fail("redis.cert_file", e)).ok();
            let key = super::pem::private_key(key).map_err(|e| c.fail("redis.key_file", e)).ok();
            cert.zip(key)
        }
        (None, None) => None,
        (Some(_), None) => {
            c.fail("redis.key_file", "is needed with redis.cert_file");
            None
        }
        (None, Some(_)) => {
            c.fail("redis.cert_file", "is needed with redis.key_file");
            None
        }
    };
    if !tls && (r.ca_file.is_some() || r.cert_file.is_some()) {
        c.warn("redis.ca_file", "and redis.cert_file are only used with TLS (rediss:// or redis.tls)");
    }
    let on_error = match r.on_error.as_str() {
        "local" => Some(OnRedisError::Local),
        "allow" => Some(OnRedisError::Allow),
        "deny" => Some(OnRedisError::Deny),
        other => {
            c.fail("redis.on_error", format!("{other:?} is not one of local, allow, deny"));
            None
        }
    };
    let timeout = c.duration("redis.timeout", &r.timeout);
    Some(Redis {
        topology: topology?,
        tls,
        ca_pem,
        client_pem,
        username: r.username.clone(),
        password: r.password.clone(),
        on_error: on_error?,
        timeout: timeout?,
    })
}

/// Exactly one of `url`, `sentinels` with `master`, `cluster`.
fn redis_topology(c: &mut Check, r: &super::file::RedisFile) -> Option<RedisTopology> {
    let sentinel = !r.sentinels.is_empty() || r.master.is_some();
    match (&r.url, sentinel, r.cluster.is_empty()) {
        (Some(url), false, true) => {
            if url.starts_with("redis://") || url.starts_with("rediss://") {
                Some(RedisTopology::Single(url.clone()))
            } else {
                c.fail("redis.url", format!("{url:?} must start with redis:// or rediss://"));
                None
            }
        }
        (None, true, true) => {
            let master = r.master.clone().filter(|m| !m.is_empty());
            if master.is_none() {
                c.fail("redis.master", "names the master the sentinels watch; needed with redis.sentinels");
            }
            let sentinels = nodes(c, "redis.sentinels", &r.sentinels);
            Some(RedisTopology::Sentinel { sentinels: sentinels?, master: master? })
        }
        (None, false, false) => nodes(c, "redis.cluster", &r.cluster).map(RedisTopology::Cluster),
        _ => {
            c.fail("redis", "set exactly one of url, sentinels (with master) and cluster");
            None
        }
    }
}

/// A non-empty list of `host:port`.
fn nodes(c: &mut Check, field: &str, list: &[String]) -> Option<Vec<String>> {
    if list.is_empty() {
        c.fail(field, "lists at least one host:port");
        return None;
    }
    let bad: Vec<&String> = list
        .iter()
        .filter(|n| !n.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)))
        .collect();
    if bad.is_empty() {
        Some(list.to_vec())
    } else {
        c.fail(field, format!("{bad:?}: each entry is host:port"));
        None
    }
}

fn guard(c: &mut Check, g: &super::file::AuthGuardFile) -> Option<GuardSettings> {
    let per_minute = c.nonzero("auth_guard.per_minute", g.per_minute);
    let burst = c.nonzero("auth_guard.burst", g.burst);
    if g.max_clients == 0 {
        c.fail("auth_guard.max_clients", "must be at least 1");
    }
    let client_ip = match g.client_ip.as_str() {
        "peer" => Some(ClientIp::Peer),
        "x-forwarded-for" => Some(ClientIp::ForwardedFor),
        other => {
            c.fail("auth_guard.client_ip", format!("{other:?} is not one of peer, x-forwarded-for"));
            None
        }
    };
    Some(GuardSettings { per_minute: per_minute?.get(), burst: burst?.get(), max_clients: g.max_clients.max(1), client_ip: client_ip? })
}

#[cfg(test)]
mod tests {
    use crate::config::{from_yaml, Allow};
    use std::path::Path;
    use std::time::Duration;

    fn problems(yaml: &str) -> Vec<String> {
        match from_yaml(yaml, Path::new(".")) {
            Ok(_) => vec![],
            Err(p) => p.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let loaded = from_yaml("upstream: {url: \"https://support.example.com/la/\"}\nkeys: [{id: a, key: k}]\n", Path::new("."));
        let loaded = loaded.unwrap_or_else(|p| panic!("{p:?}"));
        let c = loaded.config;
        assert_eq!(c.listen.map(|l| l.to_string()).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!((c.upstream.tls, c.upstream.port, c.upstream.base_path.as_str()), (true, 443, "/la"));
        assert_eq!(c.upstream.read_timeout, Duration::from_secs(30));
        assert_eq!(c.limits.burst.get(), 20);
        assert!(!c.work_stealing, "one single-threaded runtime per thread unless asked");
        assert_eq!(loaded.warnings.len(), 1, "plain key warning");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let p = problems(
            "listen: nope\nupstream: {url: \"ftp://x\", read_timeout: 3}\nlimits: {per_second: 0}\nkeys:\n- {id: a, key: k}\n- {id: a, key_sha256: zz}\n- {id: \"b c\", key: k, allow: {endpoints: [/api/nope]}}\n",
        );
        let joined = p.join("\n");
        for want in [
            "listen:",
            "upstream.url:",
            "upstream.read_timeout:",
            "limits.per_second:",
            "keys[1].id:",
            "keys[1].key_sha256:",
            "keys[2].id:",
            "keys[2]: has the same key",
            "keys[2].allow.endpoints[0]:",
        ] {
            assert!(joined.contains(want), "missing {want} in\n{joined}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        let p = problems("upstream: {url: \"http://x\"}\nkeys: [{id: a, key: k, kye: 1}]\n");
        assert!(p.iter().any(|p| p.contains("keys[0]") && p.contains("kye")), "{p:?}");
    }

    #[test]
    fn allow_lists() {
        let a = Allow { methods: Some(vec!["GET".into()]), endpoints: Some(vec!["/api/customers*".into(), "/api/tags".into()]) };
        assert!(a.permits("GET", "/api/customers/{customeridentifier}"));
        assert!(a.permits("GET", "/api/tags"));
        assert!(!a.permits("POST", "/api/tags"));
        assert!(!a.permits("GET", "/api/tags/{tagid}"));
        assert!(Allow::default().permits("DELETE", "unmatched"));
    }
}
