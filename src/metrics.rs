//! Owns the gateway's Prometheus metrics: names (a contract with dashboards and alerts),
//! label sets (always bounded), and registration into a registry passed in.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from 1 ms to 30 s.
pub const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Every metric of the gateway.
#[derive(Clone)]
pub struct Metrics {
    pub requests_total: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub upstream_errors: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub key_requests: IntCounterVec,
    pub transcode_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub open_connections: IntGauge,
    pub connections_refused: IntCounter,
    pub keys_loaded: IntGauge,
    pub config_reloads: IntCounterVec,
    pub redis_errors: IntCounter,
    /// When each served certificate expires (Unix seconds), by listener.
    pub tls_cert_expiry: IntGaugeVec,
    pub tls_handshake_failures: IntCounter,
    pub build_info: IntGaugeVec,
    /// Seconds until each key stops admitting requests (keys that expire only); set when
    /// `/metrics` is read.
    pub key_expiry: IntGaugeVec,
    /// Requests counted and allowed in the current day and month, by key; set when `/metrics`
    /// is read, from Redis when quotas are shared.
    pub quota_used: IntGaugeVec,
    pub quota_limit: IntGaugeVec,
    /// Access lines dropped because the writer could not keep up.
    pub access_log_dropped: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()), labels)?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    pub fn new(r: &Registry) -> prometheus::Result<Self> {
        let in_flight = IntGauge::new("liveagent_gateway_in_flight_requests", "Requests being served now")?;
        r.register(Box::new(in_flight.clone()))?;
        let open_connections = IntGauge::new("liveagent_gateway_open_connections", "Client connections open now")?;
        r.register(Box::new(open_connections.clone()))?;
        let connections_refused =
            IntCounter::new("liveagent_gateway_connections_refused_total", "Client connections refused over client.max_connections")?;
        r.register(Box::new(connections_refused.clone()))?;
        let keys_loaded = IntGauge::new("liveagent_gateway_keys_loaded", "Client keys in the running configuration")?;
        r.register(Box::new(keys_loaded.clone()))?;
        let redis_errors = IntCounter::new("liveagent_gateway_redis_errors_total", "Failed Redis quota calls")?;
        r.register(Box::new(redis_errors.clone()))?;
        let tls_cert_expiry = IntGaugeVec::new(
            Opts::new("liveagent_gateway_tls_certificate_expiry_timestamp_seconds", "When the certificate a TLS listener serves expires"),
            &["listener"],
        )?;
        r.register(Box::new(tls_cert_expiry.clone()))?;
        let tls_handshake_failures =
            IntCounter::new("liveagent_gateway_tls_handshake_failures_total", "Client TLS handshakes that failed or timed out")?;
        r.register(Box::new(tls_handshake_failures.clone()))?;
        let build_info =
            IntGaugeVec::new(Opts::new("liveagent_gateway_build_info", "Always 1; the version label tells the build"), &["version"])?;
        r.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let gauge = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntGaugeVec> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let key_expiry = gauge(
            "liveagent_gateway_key_expires_in_seconds",
            "Seconds until the key stops admitting requests (keys that expire)",
            &["key_id"],
        )?;
        let quota_used = gauge("liveagent_gateway_quota_used", "Requests counted in the current quota period", &["key_id", "window"])?;
        let access_log_dropped =
            IntCounter::new("liveagent_gateway_access_log_dropped_total", "Access-log lines dropped because the writer could not keep up")?;
        r.register(Box::new(access_log_dropped.clone()))?;
        let quota_limit = gauge("liveagent_gateway_quota_limit", "Requests allowed in a quota period", &["key_id", "window"])?;
        let metrics = Metrics {
            requests_total: counter(
                r,
                "liveagent_gateway_requests_total",
                "Requests answered",
                &["endpoint", "method", "status", "format"],
            )?,
            request_duration: histogram(
                r,
                "liveagent_gateway_request_duration_seconds",
                "Time from request to response end",
                &["endpoint", "method", "format"],
            )?,
            upstream_duration: histogram(
                r,
                "liveagent_gateway_upstream_duration_seconds",
                "Time LiveAgent took to answer",
                &["endpoint", "method"],
            )?,
            upstream_errors: counter(r, "liveagent_gateway_upstream_errors_total", "LiveAgent calls that failed", &["endpoint", "kind"])?,
            auth_failures: counter(r, "liveagent_gateway_auth_failures_total", "Refused authentications", &["reason"])?,
            rate_limited: counter(r, "liveagent_gateway_rate_limited_total", "Requests refused by a quota", &["key_id", "limit"])?,
            key_requests: counter(r, "liveagent_gateway_key_requests_total", "Authenticated requests per key", &["key_id", "status"])?,
            transcode_duration: histogram(r, "liveagent_gateway_transcode_duration_seconds", "Time spent transcoding bodies", &["format"])?,
            in_flight,
            open_connections,
            connections_refused,
            keys_loaded,
            config_reloads: counter(r, "liveagent_gateway_config_reloads_total", "Configuration and keys file reloads", &["result"])?,
            redis_errors,
            tls_cert_expiry,
            tls_handshake_failures,
            build_info,
            key_expiry,
            quota_used,
            quota_limit,
            access_log_dropped,
        };
        // The series alerts and dashboards watch exist from the start, at 0: `increase()`
        // sees the first bad reload after a restart, which a series born at 1 would hide.
        for result in ["ok", "error"] {
            metrics.config_reloads.with_label_values(&[result]);
        }
        for reason in AUTH_FAILURE_REASONS {
            metrics.auth_failures.with_label_values(&[reason]);
        }
        Ok(metrics)
    }

    /// Deletes the per-key series of every key id `keep` rejects: a key removed by a reload
    /// leaves `/metrics` with it, instead of staying until a restart.
    pub fn forget_keys(&self, keep: impl Fn(&str) -> bool) {
        for vec in [&self.key_requests, &self.rate_limited] {
            for family in prometheus::core::Collector::collect(vec) {
                for metric in family.get_metric() {
                    let labels: Vec<(&str, &str)> = metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
                    let Some((_, id)) = labels.iter().find(|(name, _)| *name == "key_id") else { continue };
                    if !keep(id) {
                        let by_name: std::collections::HashMap<&str, &str> = labels.iter().copied().collect();
                        let _ = vec.remove(&by_name);
                    }
                }
            }
        }
    }
}

/// Every `reason` of `liveagent_gateway_auth_failures_total` (`admit::auth::AuthError::reason`).
pub const AUTH_FAILURE_REASONS: [&str; 6] = ["missing", "ambiguous", "invalid", "forbidden", "expired", "not_yet_valid"];

/// What one finished request contributes to metrics and the access log. No key material.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub request_id: &'a str,
    pub endpoint: &'static str,
    pub method: &'static str,
    pub format: &'static str,
    pub status: u16,
    pub key_id: Option<&'a str>,
    pub duration: f64,
    pub upstream_secs: Option<f64>,
    pub upstream_error: Option<&'a str>,
}

/// The metric handles of a connection's last request, reused while its requests carry the
/// same labels (a keep-alive client mostly repeats itself): each label lookup hashes every
/// value and takes a lock.
#[derive(Default)]
pub struct LastHandles(Option<Handles>);

struct Handles {
    endpoint: &'static str,
    method: &'static str,
    format: &'static str,
    status: u16,
    key_id: Option<String>,
    requests: IntCounter,
    duration: Histogram,
    key: Option<IntCounter>,
    /// Looked up on the first request that reached LiveAgent.
    upstream: Option<Histogram>,
}

impl Handles {
    fn fit(&self, f: &RequestFacts<'_>) -> bool {
        (self.endpoint, self.method, self.format, self.status, self.key_id.as_deref())
            == (f.endpoint, f.method, f.format, f.status, f.key_id)
    }
}

impl Metrics {
    /// Counts a finished request; `last` holds the handles of the connection's previous one.
    pub fn record(&self, f: &RequestFacts<'_>, last: &mut LastHandles) {
        let h = match &mut last.0 {
            Some(h) if h.fit(f) => h,
            slot => slot.insert(self.handles(f)),
        };
        h.requests.inc();
        h.duration.observe(f.duration);
        if let Some(key) = &h.key {
            key.inc();
        }
        if let Some(secs) = f.upstream_secs {
            h.upstream.get_or_insert_with(|| self.upstream_duration.with_label_values(&[f.endpoint, f.method])).observe(secs);
        }
        if let Some(kind) = f.upstream_error {
            self.upstream_errors.with_label_values(&[f.endpoint, kind]).inc();
        }
    }

    fn handles(&self, f: &RequestFacts<'_>) -> Handles {
        let mut digits = itoa::Buffer::new();
        let status = digits.format(f.status);
        Handles {
            endpoint: f.endpoint,
            method: f.method,
            format: f.format,
            status: f.status,
            key_id: f.key_id.map(str::to_string),
            requests: self.requests_total.with_label_values(&[f.endpoint, f.method, status, f.format]),
            duration: self.request_duration.with_label_values(&[f.endpoint, f.method, f.format]),
            key: f.key_id.map(|id| self.key_requests.with_label_values(&[id, status])),
            upstream: None,
        }
    }
}

/// The bounded `method` label: the methods HTTP defines, everything else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    KNOWN.iter().find(|m| **m == method).copied().unwrap_or("OTHER")
}

/// The text exposition of everything in `registry`.
pub fn encode(registry: &Registry) -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for well-formed metric families.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_contract_name() {
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap_or_else(|e| panic!("{e}"));
        m.requests_total.with_label_values(&["/api/customers", "GET", "200", "json"]).inc();
        m.request_duration.with_label_values(&["/api/customers", "GET", "json"]).observe(0.002);
        let text = String::from_utf8_lossy(&encode(&r)).into_owned();
        assert!(
            text.contains("liveagent_gateway_requests_total{endpoint=\"/api/customers\",format=\"json\",method=\"GET\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("liveagent_gateway_build_info{version="));
        assert!(text.contains(
            "liveagent_gateway_request_duration_seconds_bucket{endpoint=\"/api/customers\",format=\"json\",method=\"GET\",le=\"0.0025\"} 1"
        ));
        assert_eq!(method_label("BREW"), "OTHER");
    }

    #[test]
    fn alerted_series_start_at_zero_and_removed_keys_leave() {
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&encode(&r)).into_owned();
        for series in
            ["liveagent_gateway_config_reloads_total{result=\"error\"} 0", "liveagent_gateway_auth_failures_total{reason=\"invalid\"} 0"]
        {
            assert!(text.contains(series), "{series} in {text}");
        }
        for id in ["gone", "kept"] {
            m.key_requests.with_label_values(&[id, "200"]).inc();
            m.key_requests.with_label_values(&[id, "429"]).inc();
            m.rate_limited.with_label_values(&[id, "rate"]).inc();
        }
        m.forget_keys(|id| id == "kept");
        let text = String::from_utf8_lossy(&encode(&r)).into_owned();
        assert!(!text.contains("key_id=\"gone\""), "{text}");
        assert_eq!(text.matches("key_id=\"kept\"").count(), 3, "{text}");
    }

    /// Reused handles must never count a request under the previous request's labels.
    #[test]
    fn handles_follow_every_label() {
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap_or_else(|e| panic!("{e}"));
        let base = RequestFacts {
            request_id: "r",
            endpoint: "/api/customers",
            method: "GET",
            format: "json",
            status: 200,
            key_id: Some("a"),
            duration: 0.001,
            upstream_secs: None,
            upstream_error: None,
        };
        let mut last = LastHandles::default();
        let changes = [
            base,
            base,
            RequestFacts { endpoint: "/api/tickets", ..base },
            RequestFacts { method: "POST", ..base },
            RequestFacts { format: "xml", ..base },
            RequestFacts { status: 404, ..base },
            RequestFacts { key_id: Some("b"), ..base },
            RequestFacts { key_id: None, upstream_secs: Some(0.5), ..base },
            RequestFacts { upstream_secs: Some(0.25), ..base },
        ];
        for f in &changes {
            m.record(f, &mut last);
        }
        let total = |labels: [&str; 4]| m.requests_total.with_label_values(&labels).get();
        assert_eq!(total(["/api/customers", "GET", "200", "json"]), 5);
        assert_eq!(total(["/api/tickets", "GET", "200", "json"]), 1);
        assert_eq!(total(["/api/customers", "POST", "200", "json"]), 1);
        assert_eq!(total(["/api/customers", "GET", "200", "xml"]), 1);
        assert_eq!(total(["/api/customers", "GET", "404", "json"]), 1);
        let per_key = |id: &str, status: &str| m.key_requests.with_label_values(&[id, status]).get();
        assert_eq!((per_key("a", "200"), per_key("a", "404"), per_key("b", "200")), (6, 1, 1));
        let upstream = m.upstream_duration.with_label_values(&["/api/customers", "GET"]);
        assert_eq!((upstream.get_sample_count(), upstream.get_sample_sum()), (2, 0.75));
    }
}
