//! Owns live reloads: the configuration file and its keys file are polled for changes; a
//! file that fails to load leaves the running configuration in force.

use super::state::{runtime, Shared, StartError};
use crate::config;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct Reloader {
    pub shared: Arc<Shared>,
    pub config_path: PathBuf,
    pub interval: Duration,
}

fn mtime(path: Option<&Path>) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path?).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last = self.stamps();
        let mut tick = tokio::time::interval(self.interval);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {
                    let now = self.stamps();
                    if now != last {
                        last = now;
                        self.reload();
                    }
                }
            }
        }
    }
}

impl Reloader {
    /// The files a reload reads: the configuration, its keys file, the TLS certificate and key
    /// (a renewed certificate is picked up as a changed key file is).
    fn stamps(&self) -> [Option<(SystemTime, u64)>; 4] {
        let rt = self.shared.runtime.load();
        let tls = rt.config.tls.as_ref();
        [
            mtime(Some(&self.config_path)),
            mtime(rt.config.keys_file.as_deref()),
            mtime(tls.map(|t| t.cert_file.as_path())),
            mtime(tls.map(|t| t.key_file.as_path())),
        ]
    }

    fn reload(&self) {
        let metrics = &self.shared.metrics;
        let loaded = config::load(&self.config_path).map_err(StartError::Config);
        let old = self.shared.runtime.load_full();
        match loaded.and_then(|l| runtime(l.config, Some(&old))) {
            Ok(rt) => {
                if old.config.auth_guard != rt.config.auth_guard {
                    tracing::warn!("auth_guard changes apply after a restart or upgrade");
                }
                if old.config.log != rt.config.log {
                    tracing::warn!("log changes apply after a restart or upgrade");
                }
                let listeners = |c: &config::Config| (c.listen, c.listen_tls, c.admin_listen);
                if listeners(&old.config) != listeners(&rt.config) {
                    tracing::warn!("listen addresses changed: they apply after a restart or upgrade");
                }
                self.shared.quotas.retain(&rt.config.keys);
                metrics.forget_keys(|id| rt.config.keys.iter().any(|k| k.id == id));
                super::state::publish(metrics, &rt);
                tracing::info!(keys = rt.store.len(), "configuration reloaded");
                self.shared.runtime.store(Arc::new(rt));
                metrics.config_reloads.with_label_values(&["ok"]).inc();
            }
            Err(problems) => {
                tracing::error!(%problems, "configuration reload failed; the running configuration stays in force");
                metrics.config_reloads.with_label_values(&["error"]).inc();
            }
        }
    }
}
