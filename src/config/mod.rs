//! Owns the gateway configuration: loading the YAML file (and keys file), validating it with
//! every problem named by its field path, and the typed runtime `Config` the rest uses.

mod admin;
mod check;
mod env;
pub mod file;
mod key;
mod keys;
pub mod keys_edit;
mod log;

pub use key::{Allow, KeyDigest, KeySpec, Validity};
pub mod pem;
pub mod tls;
mod validate;

pub use env::{apply_env, ENV_OVERRIDES};

pub use crate::admit::quota::window::Zone;
pub use check::{parse_duration, parse_time};
pub use validate::validate;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A secret setting: its debug output does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// One thing wrong (or worth a warning) in a configuration, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A configuration that loaded, with the warnings `check` prints.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Plain HTTP for clients, unless turned off.
    pub listen: Option<SocketAddr>,
    /// HTTPS for clients, presenting `tls`.
    pub listen_tls: Option<SocketAddr>,
    pub tls: Option<tls::TlsIdentity>,
    pub admin_listen: SocketAddr,
    pub upstream: Upstream,
    pub limits: Limits,
    pub redis: Option<Redis>,
    pub keys: Vec<KeySpec>,
    pub keys_file: Option<PathBuf>,
    /// The admin listener's bearer token; required when it listens beyond loopback.
    pub admin_token: Option<Secret>,
    pub max_request_bytes: usize,
    pub threads: usize,
    /// tokio's work-stealing scheduler instead of one single-threaded runtime per thread.
    pub work_stealing: bool,
    pub log: Log,
    pub auth_guard: Option<GuardSettings>,
    /// Clients' time limits and how many may be connected at once.
    pub client: ClientLimits,
    /// The proxies in front of the gateway whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: Vec<Cidr>,
    pub shutdown: Shutdown,
}

/// The brute-force guard's settings (`auth_guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Failures forgiven per minute.
    pub per_minute: u32,
    /// Failures allowed at once before the address is refused.
    pub burst: u32,
    pub max_clients: usize,
    pub client_ip: ClientIp,
}

/// A client's time limits, and how many clients may be connected at once. Each limit is a
/// total from the moment it starts, not a limit per read: a client sending a byte at a time
/// cannot stretch one (slowloris).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// From the first byte of a request head to its end.
    pub header: Duration,
    /// From the end of the head to the end of the body.
    pub body: Duration,
    /// How long a fresh connection may take to start its first request, and a keep-alive
    /// connection may sit idle between requests.
    pub idle: Duration,
    /// Open client connections at most; `None`: as many as the open-files limit leaves room
    /// for (see `proxy::server`).
    pub max_connections: Option<usize>,
}

/// An address block (`10.0.0.0/8`, `::1/128`; a bare address is one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address block like 10.0.0.0/8 or 2001:db8::/32");
        let (addr, prefix) = text.trim().split_once('/').map_or((text.trim(), None), |(a, p)| (a, Some(p)));
        let net: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is the IPv4 address.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32u8),
            std::net::IpAddr::V6(a) => (u128::from(a), 128u8),
        };
        let ((net, width), (addr, addr_width)) = (bits(self.net), bits(ip));
        if width != addr_width {
            return false;
        }
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        net & mask == addr & mask
    }
}

/// Where the client's address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIp {
    /// The TCP peer.
    Peer,
    /// `X-Forwarded-For`: the right-most entry that is not a trusted proxy (`trusted_proxies`;
    /// without any, the right-most entry: the one the load balancer in front added).
    ForwardedFor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    pub grace_period: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Prefix before `/api/...`, without a trailing `/` (empty for a root install).
    pub base_path: String,
    pub apikey: Option<String>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// How long a pooled connection may sit idle: below LiveAgent's server's keep-alive limit
    /// (Apache's default is 5 s), so a request is not written into a connection it is closing.
    pub idle_timeout: Duration,
    pub max_response_bytes: usize,
    pub ca_file: Option<PathBuf>,
}

impl Upstream {
    /// The `Host` header value: the port is shown only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    pub per_day: Option<u64>,
    pub per_month: Option<u64>,
}

impl Limits {
    /// A rate with its burst, and no daily or monthly quota.
    pub fn rate(per_second: NonZeroU32, burst: NonZeroU32) -> Limits {
        Limits { per_second, burst, per_day: None, per_month: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    Local,
    Allow,
    Deny,
}

/// Where the shared quota lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server, by its `redis://` or `rediss://` URL.
    Single(String),
    /// The master that Sentinel names, followed through failovers.
    Sentinel { sentinels: Vec<String>, master: String },
    /// A Redis Cluster, found from any of these nodes.
    Cluster(Vec<String>),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Redis {
    pub topology: RedisTopology,
    /// TLS to every node (and sentinel).
    pub tls: bool,
    /// PEM: the CA certificates to trust (else the system's roots), and a client certificate.
    pub ca_pem: Option<Vec<u8>>,
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub on_error: OnRedisError,
    pub timeout: Duration,
}

impl Redis {
    /// One plain server, no credentials beyond the URL's.
    pub fn single(url: impl Into<String>, on_error: OnRedisError, timeout: Duration) -> Self {
        Redis {
            topology: RedisTopology::Single(url.into()),
            tls: false,
            ca_pem: None,
            client_pem: None,
            username: None,
            password: None,
            on_error,
            timeout,
        }
    }
}

/// Without the password and the client key.
impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("topology", &self.topology)
            .field("tls", &self.tls)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("client_pem", &self.client_pem.is_some())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub level: String,
    pub json: bool,
    /// Where access lines go (`log.access`).
    pub access: AccessTo,
    /// Pending access lines that wake the writer before `flush` is due (`log.buffer`).
    pub buffer: usize,
    /// The longest an access line waits in memory (`log.flush`).
    pub flush: Duration,
}

/// The access log's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTo {
    Stdout,
    Stderr,
    /// A file, appended to and reopened on SIGUSR1.
    File(PathBuf),
    Off,
}

/// Reads and validates the configuration file at `path` (and its keys file, if any).
pub fn load(path: &Path) -> Result<Loaded, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![Problem::new(path.display().to_string(), format!("cannot read: {e}"))])?;
    let base = path.parent().unwrap_or(Path::new("."));
    from_yaml(&text, base)
}

/// Validates configuration text; a relative `keys_file` is resolved against `base`.
pub fn from_yaml(text: &str, base: &Path) -> Result<Loaded, Vec<Problem>> {
    from_yaml_with_env(text, base, &|name| std::env::var(name).ok())
}

/// As `from_yaml`, with the environment overrides read through `env`.
pub fn from_yaml_with_env(text: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Vec<Problem>> {
    let (file, keys_file) = parse(text, base, env)?;
    let extra = match &keys_file {
        Some(p) => load_keys_file(p)?,
        None => Vec::new(),
    };
    validate(file, keys_file, extra)
}

/// The keys file the configuration at `path` names (resolved against its directory).
pub fn keys_file_of(path: &Path) -> Result<Option<PathBuf>, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![Problem::new(path.display().to_string(), format!("cannot read: {e}"))])?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(parse(&text, base, &|name| std::env::var(name).ok())?.1)
}

/// Validates the configuration at `path` as it would load with `keys_text` as its keys file:
/// `keys` checks an edit before it replaces the file.
pub fn load_with_keys_text(path: &Path, keys_text: &str) -> Result<Loaded, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![Problem::new(path.display().to_string(), format!("cannot read: {e}"))])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (file, keys_file) = parse(&text, base, &|name| std::env::var(name).ok())?;
    let parsed: file::KeysFile = serde_norway::from_str(keys_text).map_err(|e| {
        let p = yaml_problem(&e);
        vec![Problem::new(format!("keys_file.{}", p.path), p.message)]
    })?;
    validate(file, keys_file, parsed.keys)
}

/// The file model with the environment applied and relative paths resolved, and the keys file.
fn parse(text: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<(file::FileConfig, Option<PathBuf>), Vec<Problem>> {
    let mut file: file::FileConfig = serde_norway::from_str(text).map_err(|e| vec![yaml_problem(&e)])?;
    apply_env(&mut file, env)?;
    file.upstream.ca_file = file.upstream.ca_file.map(|p| base.join(p));
    if let Some(t) = &mut file.tls {
        t.cert_file = base.join(&t.cert_file);
        t.key_file = base.join(&t.key_file);
    }
    if let Some(r) = &mut file.redis {
        for path in [&mut r.ca_file, &mut r.cert_file, &mut r.key_file].into_iter().flatten() {
            *path = base.join(&*path);
        }
    }
    if !["stderr", "stdout", "off", ""].contains(&file.log.access.as_str()) {
        file.log.access = base.join(&file.log.access).display().to_string();
    }
    if let Some(t) = &mut file.admin.token_file {
        *t = base.join(&*t);
    }
    let keys_file = file.keys_file.as_ref().map(|p| base.join(p));
    Ok((file, keys_file))
}

/// Reads a keys file into its raw entries.
pub fn load_keys_file(path: &Path) -> Result<Vec<file::KeyFile>, Vec<Problem>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![Problem::new("keys_file", format!("cannot read {}: {e}", path.display()))])?;
    let parsed: file::KeysFile = serde_norway::from_str(&text).map_err(|e| {
        let p = yaml_problem(&e);
        vec![Problem::new(format!("keys_file({}).{}", path.display(), p.path), p.message)]
    })?;
    Ok(parsed.keys)
}

/// serde_norway (a fork of serde_yaml) puts the field path in front of its message
/// (`keys[0]: unknown field …`).
fn yaml_problem(e: &serde_norway::Error) -> Problem {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') => Problem::new(path, msg),
        _ => Problem::new("(file)", text),
    }
}
