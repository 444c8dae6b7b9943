//! Owns server assembly: pingora's server configuration, the proxy and admin services, the
//! reloader, and logging set-up.

use super::admin::Admin;
use super::reload::Reloader;
use super::serve::Gateway;
use super::state::{self, StartError};
use super::tls::Tls;
use crate::config::Config;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::time::Duration;

/// How the process was started.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    /// The file to watch for reloads; `None` for the embedded demo configuration.
    pub config_path: Option<PathBuf>,
    /// Take the listening sockets over from a running instance (pingora's graceful upgrade).
    pub upgrade: bool,
    pub daemon: bool,
    pub pid_file: Option<String>,
    pub upgrade_sock: Option<String>,
}

/// Sets up logging to stderr (JSON lines or text) at the configured level; `RUST_LOG` wins.
pub fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal, never into files or log collectors.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    // A second call (tests, demo) keeps the first subscriber.
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

/// Runs the gateway until it is told to stop. Only returns on a start-up error.
pub fn run(config: Config, opts: ServerOptions) -> Result<(), StartError> {
    let listen = config.listen.map(|l| l.to_string());
    let listen_tls = config.listen_tls;
    let admin_listen = config.admin_listen.to_string();
    let threads = config.threads;
    let work_stealing = config.work_stealing;
    let secs = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (grace, timeout) = (secs(config.shutdown.grace_period), secs(config.shutdown.timeout));
    let shared = state::shared(config)?;
    let access = shared.access.clone();
    let mut conf = ServerConf {
        threads,
        // By default one single-threaded runtime per thread, each connection on one of them (as
        // nginx's workers), instead of one work-stealing runtime: its run queue holds 256 tasks
        // and spills the rest to a global queue it serves one task per 61, so with 1,000 busy
        // connections some waited far longer than others (p99 2.3x nginx's at a lower p50).
        // The work-stealing runtime serves the connection woken last first, which keeps a
        // working client fast while thousands of slowloris connections churn: `work_stealing`.
        work_stealing,
        grace_period_seconds: Some(grace),
        graceful_shutdown_timeout_seconds: Some(timeout),
        ..ServerConf::default()
    };
    if let Some(p) = opts.pid_file {
        conf.pid_file = p;
    }
    if let Some(s) = opts.upgrade_sock {
        conf.upgrade_sock = s;
    }
    let opt = Opt { upgrade: opts.upgrade, daemon: opts.daemon, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let tls = listen_tls.map(|addr| Tls::new(shared.clone(), addr.port())).transpose().map_err(|e| StartError::Tls(e.to_string()))?;
    // One service for both client listeners, so they share its threads; TLS is told apart by
    // the port a connection arrived on.
    let mut proxy = Service::new("liveagent-gateway".to_string(), Gateway { shared: shared.clone(), tls });
    // The connection code buffers reads and coalesces writes itself (proxy::conn); a second
    // layer of buffers would copy every byte once more and hold memory per idle connection.
    for addr in listen.iter().cloned().chain(listen_tls.map(|a| a.to_string())) {
        proxy.add_listener(ListenerConfig::tcp(&addr).l4_buffer(L4BufferSettings::unbuffered()));
    }
    let mut admin = Service::new("liveagent-gateway admin".to_string(), Admin { shared: shared.clone() });
    admin.add_tcp(&admin_listen);
    server.add_service(proxy);
    server.add_service(admin);
    if shared.runtime.load().redis.is_some() {
        server.add_service(background_service("redis", WarmRedis { shared: shared.clone() }));
    }
    if let Some(config_path) = opts.config_path {
        server.add_service(background_service("reload", Reloader { shared, config_path, interval: Duration::from_secs(1) }));
    }
    server.add_service(background_service("access log", AccessLogService { access: access.clone() }));
    let (listen, listen_tls) = (listen.unwrap_or_else(|| "off".into()), listen_tls.map_or_else(|| "off".into(), |a| a.to_string()));
    tracing::info!(%listen, %listen_tls, %admin_listen, "liveagent-gateway starting");
    server.run(pingora::server::RunArgs::default());
    // The requests of the grace period have logged; what is pending is written before exit.
    access.flush();
    std::process::exit(0)
}

/// Starts the access log's writer once the server runs (after a `--daemon` fork, which keeps
/// no thread), and reopens its file on SIGUSR1 (logrotate's `postrotate`).
struct AccessLogService {
    access: crate::access::AccessLog,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for AccessLogService {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        self.access.run_writer();
        let Ok(mut usr1) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) else { return };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = usr1.recv() => self.access.reopen(),
            }
        }
    }
}

/// Connects to Redis as soon as the server runs, so the first requests find a connection.
struct WarmRedis {
    shared: std::sync::Arc<state::Shared>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for WarmRedis {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        if let Some((store, _)) = &self.shared.runtime.load().redis {
            store.warm();
        }
        // The connection's task runs on this service's runtime, which ends when this returns.
        let _ = shutdown.changed().await;
    }
}
