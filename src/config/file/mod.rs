//! Owns the YAML file model of the configuration: exactly what users write, with defaults.
//! Nothing here is validated; `config::validate` turns it into the runtime `Config`.

mod keys;

pub use keys::*;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Plain HTTP for clients; `null` turns it off (then `listen_tls` must be set).
    #[serde(default = "default_listen")]
    pub listen: Option<String>,
    /// HTTPS for clients, with the certificate in `tls`.
    #[serde(default)]
    pub listen_tls: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsFile>,
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    pub upstream: UpstreamFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub redis: Option<RedisFile>,
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    #[serde(default)]
    pub keys_file: Option<PathBuf>,
    /// The IANA zone whose midnights bound daily and monthly quotas (a key may name its own).
    #[serde(default = "default_zone")]
    pub quota_timezone: String,
    /// The admin listener's access.
    #[serde(default)]
    pub admin: AdminFile,
    /// Largest request body the gateway buffers (to find a form `apikey`); larger is a 413.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u64,
    /// Worker threads of the proxy service.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// One work-stealing runtime for all threads, instead of one single-threaded runtime per
    /// thread (the default: fair to every connection).
    #[serde(default)]
    pub work_stealing: bool,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub shutdown: ShutdownFile,
    /// The brute-force guard; `null` turns it off.
    #[serde(default = "default_auth_guard")]
    pub auth_guard: Option<AuthGuardFile>,
    #[serde(default)]
    pub client: ClientFile,
    /// Address blocks of the proxies in front whose `X-Forwarded-For` entries are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// Who may use the admin listener: a bearer token, required when it listens beyond loopback
/// (`/healthz` and `/readyz` stay open for probes).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// Better set through `LIVEAGENT_GATEWAY_ADMIN_TOKEN(_FILE)` or `token_file`.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// How a SIGTERM (or the end of an upgrade) stops the process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownFile {
    /// After the listeners close, how long in-flight requests may still run.
    #[serde(default = "default_grace")]
    pub grace_period: String,
    /// Then, how long the runtimes get to finish before the process exits.
    #[serde(default = "default_grace")]
    pub timeout: String,
}

impl Default for ShutdownFile {
    fn default() -> Self {
        ShutdownFile { grace_period: default_grace(), timeout: default_grace() }
    }
}

fn default_grace() -> String {
    "5s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthGuardFile {
    #[serde(default = "default_guard_rate")]
    pub per_minute: u32,
    #[serde(default = "default_guard_rate")]
    pub burst: u32,
    #[serde(default = "default_guard_clients")]
    pub max_clients: usize,
    /// `peer` or `x-forwarded-for`.
    #[serde(default = "default_guard_ip")]
    pub client_ip: String,
}

fn default_auth_guard() -> Option<AuthGuardFile> {
    Some(AuthGuardFile {
        per_minute: default_guard_rate(),
        burst: default_guard_rate(),
        max_clients: default_guard_clients(),
        client_ip: default_guard_ip(),
    })
}
fn default_guard_rate() -> u32 {
    30
}
fn default_guard_clients() -> usize {
    100_000
}
fn default_guard_ip() -> String {
    "peer".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    #[serde(default = "default_header_timeout")]
    pub header_timeout: String,
    #[serde(default = "default_body_timeout")]
    pub body_timeout: String,
    #[serde(default = "default_client_idle")]
    pub idle_timeout: String,
    #[serde(default)]
    pub max_connections: Option<usize>,
}

impl Default for ClientFile {
    fn default() -> Self {
        ClientFile {
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_client_idle(),
            max_connections: None,
        }
    }
}

fn default_header_timeout() -> String {
    "10s".into()
}
fn default_body_timeout() -> String {
    "30s".into()
}
fn default_client_idle() -> String {
    "60s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    pub url: String,
    #[serde(default)]
    pub apikey: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    #[serde(default = "default_read_timeout")]
    pub read_timeout: String,
    /// How long a pooled connection to LiveAgent may sit idle.
    #[serde(default = "default_upstream_idle")]
    pub idle_timeout: String,
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// PEM file of the CAs trusted for an https LiveAgent; `None` trusts the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    #[serde(default = "default_per_second")]
    pub per_second: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    #[serde(default)]
    pub per_day: Option<u64>,
    #[serde(default)]
    pub per_month: Option<u64>,
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile { per_second: default_per_second(), burst: default_burst(), per_day: None, per_month: None }
    }
}

/// The client-facing certificate: its chain (leaf first) and its key, PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisFile {
    /// One server, `redis://` or `rediss://`.
    #[serde(default)]
    pub url: Option<String>,
    /// Sentinels (`host:port`) and the name of the master they watch.
    #[serde(default)]
    pub sentinels: Vec<String>,
    #[serde(default)]
    pub master: Option<String>,
    /// Nodes of a Redis Cluster (`host:port`); the rest are found from them.
    #[serde(default)]
    pub cluster: Vec<String>,
    /// TLS to sentinels and cluster nodes (a `rediss://` URL says so itself).
    #[serde(default)]
    pub tls: bool,
    /// CA certificates (PEM) that sign the servers' certificates; else the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key (PEM), for servers that require one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub username: Option<String>,
    /// Better set through `LIVEAGENT_GATEWAY_REDIS_PASSWORD(_FILE)`.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_on_error")]
    pub on_error: String,
    #[serde(default = "default_redis_timeout")]
    pub timeout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default = "default_log_format")]
    pub format: String,
    /// Where access lines go: `stderr`, `stdout`, `off`, or a file path.
    #[serde(default = "default_access")]
    pub access: String,
    /// Bytes of pending access lines that wake the writer before `flush` is due.
    #[serde(default = "default_log_buffer")]
    pub buffer: u64,
    /// The longest an access line waits in memory before it is written.
    #[serde(default = "default_log_flush")]
    pub flush: String,
}

impl Default for LogFile {
    fn default() -> Self {
        LogFile {
            level: default_log_level(),
            format: default_log_format(),
            access: default_access(),
            buffer: default_log_buffer(),
            flush: default_log_flush(),
        }
    }
}

fn default_access() -> String {
    "stderr".into()
}
fn default_log_buffer() -> u64 {
    64 * 1024
}
fn default_log_flush() -> String {
    "1s".into()
}

fn default_listen() -> Option<String> {
    Some("127.0.0.1:8080".into())
}
fn default_admin_listen() -> String {
    "127.0.0.1:9100".into()
}
fn default_connect_timeout() -> String {
    "2s".into()
}
fn default_read_timeout() -> String {
    "30s".into()
}
fn default_upstream_idle() -> String {
    "4s".into()
}
fn default_max_response_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_max_request_bytes() -> u64 {
    1024 * 1024
}
fn default_threads() -> usize {
    2
}
fn default_per_second() -> u32 {
    10
}
fn default_burst() -> u32 {
    20
}
fn default_on_error() -> String {
    "local".into()
}
fn default_redis_timeout() -> String {
    "50ms".into()
}
fn default_zone() -> String {
    "UTC".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_log_format() -> String {
    "json".into()
}
