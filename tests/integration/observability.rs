//! A real Prometheus scraping a real gateway: every dashboard panel query returns a series,
//! the dashboard and alert rules name only exported metrics, promtool accepts the scrape and
//! the rules, and label sets stay bounded whatever clients send.

use crate::util::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct PrometheusProc {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for PrometheusProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn prometheus(target: std::net::SocketAddr) -> PrometheusProc {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: liveagent-gateway\n    static_configs: [{{targets: [\"{target}\"]}}]\n");
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is needed (the test command installs it)");
    let url = format!("http://127.0.0.1:{port}");
    let ready = format!("{url}/-/ready");
    assert!(
        eventually(30, || {
            let u = ready.clone();
            async move { reqwest::get(u).await.is_ok_and(|r| r.status() == 200) }
        })
        .await,
        "prometheus did not start"
    );
    PrometheusProc { child, url, _dir: dir }
}

async fn series(prom: &str, expr: &str) -> usize {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    let Ok(resp) = reqwest::get(format!("{prom}/api/v1/query?query={q}")).await else { return 0 };
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_ne!(body["status"], "error", "{expr}: {body}");
    body["data"]["result"].as_array().map_or(0, Vec::len)
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The panel queries of the dashboard, with template variables as "All" and a 1 m rate window.
fn panel_queries() -> Vec<(String, String)> {
    let dash: serde_json::Value = serde_json::from_slice(&std::fs::read(repo("dashboards/liveagent-gateway.json")).unwrap()).unwrap();
    let names: Vec<&str> = dash["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    for want in ["datasource", "endpoint", "key_id", "format"] {
        assert!(names.contains(&want), "dashboard lacks the {want} variable");
    }
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let expr = expr
                .replace("$endpoint", ".*")
                .replace("$key_id", ".*")
                .replace("$format", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "5m");
            out.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    out
}

/// Sends one of everything: each format, each error class, throttled and refused keys.
async fn traffic_mix(gw: &GatewayProc) {
    let client = reqwest::Client::new();
    let k = format!("apikey={CLIENT_KEY}");
    let mut calls: Vec<(String, Option<&str>)> = Vec::new();
    for p in ["/api/customers", "/api/customers.xml", "/api/customers/john@example.com.yaml", "/api/tags.xml", "/api/nothing/here"] {
        calls.push((format!("{p}?{k}"), None));
    }
    calls.push(("/api/customers".into(), None));
    calls.push(("/api/customers?apikey=wrong".into(), None));
    calls.push(("/outside".into(), None));
    calls.push((format!("/api/tags?apikey={TINY_KEY}"), None));
    calls.push((format!("/api/tags?apikey={TINY_KEY}"), None));
    calls.push((format!("/api/tags.xml?{k}"), Some("slow:3000")));
    calls.push((format!("/api/tags?{k}"), Some("cut")));
    calls.push((format!("/api/tags.yaml?{k}"), Some("invalid-json")));
    calls.push((format!("/api/tags?{k}"), Some("html:503")));
    for (path, fault) in calls {
        let mut req = client.get(gw.url(&path));
        if let Some(f) = fault {
            req = req.header("x-sim-fault", f);
        }
        let _ = req.send().await;
    }
    let forbidden = client.delete(gw.url(&format!("/api/tags/tag1?apikey={READER_KEY}"))).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_query_returns_a_series_from_a_real_prometheus() {
    let sim = sim().await;
    // With a TLS listener too, so its certificate's expiry is exported.
    let certs = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_file, key_file) = (certs.path().join("tls.crt"), certs.path().join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let tls = format!(
        "listen_tls: \"127.0.0.1:{}\"\ntls: {{cert_file: \"{}\", key_file: \"{}\"}}\n",
        free_port(),
        cert_file.display(),
        key_file.display()
    );
    // A key with calendar quotas and an expiry, for the quota and expiry panels.
    let quota_key = "  - {id: quota, key: quota-key-1, limits: {per_day: 1000, per_month: 30000}, expires_at: \"2999-01-01T00:00:00Z\"}\n";
    let gw = gateway(&sim.base_url(), &(substituted_keys() + quota_key + &tls)).await;
    // The series alerts use exist from the start, at 0.
    let scrape = gw.metrics().await;
    for series in [
        "liveagent_gateway_config_reloads_total{result=\"ok\"} 0",
        "liveagent_gateway_config_reloads_total{result=\"error\"} 0",
        "liveagent_gateway_auth_failures_total{reason=\"expired\"} 0",
    ] {
        assert!(scrape.lines().any(|l| l == series), "{series} is not in:\n{scrape}");
    }
    let prom = prometheus(gw.admin).await;
    traffic_mix(&gw).await;
    assert_eq!(reqwest::get(gw.url("/api/tags?apikey=quota-key-1")).await.unwrap().status(), 200);
    // A reload, so the reload counter has a series.
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    std::fs::write(gw.config_path(), format!("{config}# reloaded\n")).unwrap();
    assert!(eventually(10, || async { gw.metric("liveagent_gateway_config_reloads_total{result=\"ok\"}").await >= 1.0 }).await);
    for (title, expr) in panel_queries() {
        let found = eventually(30, || {
            let (p, e) = (prom.url.clone(), expr.clone());
            async move { series(&p, &e).await > 0 }
        })
        .await;
        assert!(found, "panel {title:?}: no series for {expr}\n{}", gw.metrics().await);
    }

    // Names in the dashboard and the alert rules all exist in the scrape.
    let scrape = gw.metrics().await;
    let mut named = String::from_utf8(std::fs::read(repo("dashboards/liveagent-gateway.json")).unwrap()).unwrap();
    named.push_str(&std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap());
    let mut checked = 0;
    for word in named.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("liveagent_gateway_")) {
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| word.strip_suffix(s)).unwrap_or(word);
        assert!(scrape.contains(&format!("# TYPE {base} ")), "{word} is named but not exported");
        checked += 1;
    }
    assert!(checked > 20, "{checked} names checked");

    // promtool on a real scrape, the rules and their unit tests.
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
        let out = Command::new("promtool").args(args).current_dir(repo("deploy/prometheus")).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A reload that removes a key takes its series with it.
    assert!(scrape.contains("key_id=\"tiny\""), "tiny was throttled: it has series");
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    let without_tiny: String = config.lines().filter(|l| !l.contains("id: tiny")).map(|l| format!("{l}\n")).collect();
    assert_ne!(without_tiny, config);
    std::fs::write(gw.config_path(), without_tiny).unwrap();
    assert!(eventually(10, || async { gw.metric("liveagent_gateway_config_reloads_total{result=\"ok\"}").await >= 2.0 }).await);
    let scrape = gw.metrics().await;
    assert!(!scrape.contains("key_id=\"tiny\""), "a removed key's series stayed:\n{scrape}");
    assert!(scrape.contains("key_id=\"quota\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn label_sets_stay_bounded_whatever_clients_send() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let before = gw.metrics().await.lines().filter(|l| l.starts_with("liveagent_gateway_")).count();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for t in 0..50u32 {
        let (client, base) = (client.clone(), gw.url(""));
        tasks.push(tokio::spawn(async move {
            for i in 0..200u32 {
                let n = t * 1000 + i;
                let path = match n % 4 {
                    0 => format!("/api/r{n}/x{n}?apikey=k{n}"),
                    1 => format!("/api/customers/u{n}@example.com.xml?apikey=k{n}"),
                    2 => format!("/p{n}?apikey={CLIENT_KEY}"),
                    _ => format!("/api/customers/u{n}@example.com?apikey={CLIENT_KEY}&x={n}"),
                };
                let _ = client
                    .request(
                        if n % 5 == 0 {
                            reqwest::Method::from_bytes(format!("M{}", n % 7).as_bytes()).unwrap()
                        } else {
                            reqwest::Method::GET
                        },
                        format!("{base}{path}"),
                    )
                    .send()
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let metrics = gw.metrics().await;
    let after = metrics.lines().filter(|l| l.starts_with("liveagent_gateway_")).count();
    let requests: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("liveagent_gateway_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(requests >= 10_000.0, "{requests} requests counted");
    assert!(after < before + 400, "10,000 distinct paths and keys grew /metrics from {before} to {after} lines");
    assert!(!metrics.contains("example.com") && !metrics.contains("/r1") && !metrics.contains("k12"), "a client value became a label");
}
