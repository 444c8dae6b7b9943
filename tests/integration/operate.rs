//! Operating keys: `keys new/list/rotate/disable/enable/remove` against a running gateway that
//! follows each change through its reload; expiry; usage on the admin listener (with its
//! token), from Redis when two replicas share it.

use crate::util::*;
use std::path::Path;
use std::process::Command;

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef0123456789";

/// `liveagent-gateway keys <args> --config <config>`: (exit code, stdout, stderr).
fn keys(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_liveagent-gateway")).arg("keys").args(args).arg("--config").arg(config).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A gateway whose keys live in `keys.yaml` beside its configuration, with an admin token.
async fn managed(upstream: &str, keys_yaml: &str, extra: &str) -> GatewayProc {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    std::fs::write(dir.path().join("keys.yaml"), keys_yaml).unwrap();
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nadmin_listen: \"127.0.0.1:{admin_port}\"\nlog: {{level: info, format: json}}\nupstream:\n  url: \"{upstream}\"\n  apikey: \"{SIM_KEY}\"\nkeys_file: keys.yaml\nadmin:\n  token: \"{ADMIN_TOKEN}\"\n{extra}"
    );
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    start_in(dir).await
}

async fn status(gw: &GatewayProc, key: &str) -> u16 {
    reqwest::get(gw.url(&format!("/api/tags?apikey={key}"))).await.unwrap().status().as_u16()
}

/// Waits for the reload to give `key` the status `want`.
async fn until_status(gw: &GatewayProc, key: &str, want: u16) {
    let reached = eventually(15, || async { status(gw, key).await == want }).await;
    assert!(reached, "{key} never got {want}; logs:\n{}", gw.logs());
}

async fn admin_get(gw: &GatewayProc, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("http://{}{path}", gw.admin));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn metrics(gw: &GatewayProc) -> String {
    admin_get(gw, "/metrics", Some(ADMIN_TOKEN)).await.text().await.unwrap()
}

async fn usage(gw: &GatewayProc, id: &str) -> serde_json::Value {
    let resp = admin_get(gw, &format!("/keys/{id}"), Some(ADMIN_TOKEN)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_command_reaches_the_running_gateway() {
    let sim = sim().await;
    let gw = managed(&sim.base_url(), "# integrations\nkeys:\n  - {id: seed, key: seed-key-1}\n", "").await;
    let config = gw.config_path();
    let keys_path = gw.dir.path().join("keys.yaml");

    // new: the key is printed once and works; the file holds only its digest.
    let (code, key, err) = keys(&config, &["new", "--id", "crm", "--per-day", "5", "--quota-timezone", "Asia/Tokyo", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_string();
    assert_eq!(key.len(), 64);
    assert!(err.contains("comments"), "the dropped comment is reported: {err}");
    let stored = std::fs::read_to_string(&keys_path).unwrap();
    assert!(!stored.contains(&key) && stored.contains(&liveagent_gateway::admit::auth::hash_key(&key)), "{stored}");
    until_status(&gw, &key, 200).await;
    let resp = reqwest::get(gw.url(&format!("/api/tags?apikey={key}"))).await.unwrap();
    assert_eq!(resp.headers()["x-ratelimit-limit-day"], "5");
    assert_eq!(resp.headers()["x-ratelimit-remaining-day"], "3", "the reload probe and this request");
    let policy = resp.headers()["ratelimit-policy"].to_str().unwrap().to_string();
    assert!(policy.starts_with("\"burst\";q=20;w=2, \"day\";q=5;w="), "{policy}");

    // An id that exists is refused, and nothing is written.
    let (code, out, err) = keys(&config, &["new", "--id", "crm"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(std::fs::read_to_string(&keys_path).unwrap(), stored);
    // An edit that would not load is refused with the field and the reason.
    let (code, _, err) = keys(&config, &["new", "--id", "bad", "--quota-timezone", "Mars/Olympus"]);
    assert_eq!(code, 1);
    assert!(err.contains("quota_timezone") && err.contains("nothing was written"), "{err}");

    // list: ids, state, limits, zone; never a key.
    let (code, listing, _) = keys(&config, &["list"]);
    assert_eq!(code, 0);
    let crm = listing.lines().find(|l| l.starts_with("crm ")).unwrap_or_else(|| panic!("{listing}"));
    let cols: Vec<&str> = crm.split_whitespace().collect();
    assert_eq!(&cols[..7], ["crm", "active", "10", "20", "5", "-", "Asia/Tokyo"], "{listing}");
    assert!(listing.starts_with("ID") && !listing.contains(&key), "{listing}");

    // rotate: both secrets work on the same id, and so the same quota.
    let (code, new_key, err) = keys(&config, &["rotate", "crm", "--overlap", "1h", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let new_key = new_key.trim().to_string();
    until_status(&gw, &new_key, 200).await;
    assert_eq!(status(&gw, &key).await, 200, "the old key works during the overlap");
    let u = usage(&gw, "crm").await;
    assert_eq!(u["usage"]["day"]["used"], 4, "{u}");
    assert_eq!(u["usage"]["day"]["remaining"], 1, "{u}");
    assert_eq!(u["digests"].as_array().map(Vec::len), Some(2));
    assert!(u["digests"][0]["expires_at"].is_string() && u["digests"][1]["expires_at"].is_null(), "{u}");
    // The day's five are spent, whichever secret spent them.
    assert_eq!(status(&gw, &new_key).await, 200);
    let refused = reqwest::get(gw.url(&format!("/api/tags?apikey={new_key}"))).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["x-ratelimit-limit"], "5", "the daily quota binds");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["response"]["errormessage"], "Daily quota exceeded");

    // disable, enable, remove.
    let (code, out, _) = keys(&config, &["disable", "crm"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("crm: disabled in "), "{out}");
    until_status(&gw, &new_key, 401).await;
    assert_eq!(status(&gw, &key).await, 401);
    assert_eq!(keys(&config, &["enable", "crm"]).0, 0);
    until_status(&gw, &new_key, 429).await;
    assert!(metrics(&gw).await.contains("key_id=\"crm\""));
    assert_eq!(keys(&config, &["remove", "crm"]).0, 0);
    until_status(&gw, &new_key, 401).await;
    let metrics = metrics(&gw).await;
    assert!(!metrics.contains("key_id=\"crm\""), "a removed key's series go with it:\n{metrics}");
    assert_eq!(keys(&config, &["remove", "crm"]).0, 1, "gone already");
    let logs = gw.logs();
    assert!(!logs.contains(&key) && !logs.contains(&new_key), "a key in the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_early_keys_get_their_own_401() {
    let sim = sim().await;
    let keys_yaml = "keys:\n  - {id: past, key: past-key-1, expires_at: \"2020-01-01T00:00:00Z\"}\n  - {id: future, key: future-key-1, not_before: \"2999-01-01T00:00:00+09:00\"}\n  - {id: soon, key: soon-key-1, expires_at: \"2999-01-01T00:00:00Z\"}\n";
    let gw = managed(&sim.base_url(), keys_yaml, "").await;
    for (key, message) in [("past-key-1", "API key has expired"), ("future-key-1", "API key is not valid yet")] {
        let resp = reqwest::get(gw.url(&format!("/api/tags?apikey={key}"))).await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["response"]["errormessage"], message);
    }
    assert_eq!(status(&gw, "soon-key-1").await, 200);
    let metrics = metrics(&gw).await;
    let sample = |series: &str| metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse::<f64>().ok()));
    assert_eq!(sample("liveagent_gateway_auth_failures_total{reason=\"expired\"}"), Some(1.0));
    assert_eq!(sample("liveagent_gateway_auth_failures_total{reason=\"not_yet_valid\"}"), Some(1.0));
    let left = sample("liveagent_gateway_key_expires_in_seconds{key_id=\"soon\"}").unwrap_or(0.0);
    assert!(left > 30_000_000_000.0, "{left}");
    assert!(sample("liveagent_gateway_key_expires_in_seconds{key_id=\"past\"}").is_some_and(|s| s < 0.0));
    assert!(sample("liveagent_gateway_key_expires_in_seconds{key_id=\"future\"}").is_none(), "it never expires");
    let u = usage(&gw, "past").await;
    assert_eq!((u["state"].as_str(), u["expires_at"].as_str()), (Some("expired"), Some("2020-01-01T00:00:00+00:00")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_listener_asks_for_its_token() {
    let sim = sim().await;
    let gw = managed(&sim.base_url(), "keys:\n  - {id: a, key: a-key-1}\n", "").await;
    for path in ["/metrics", "/keys", "/keys/a"] {
        let resp = admin_get(&gw, path, None).await;
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(admin_get(&gw, path, Some("wrong-token-0123456789abcdef0123456")).await.status(), 401, "{path}");
        assert_eq!(admin_get(&gw, path, Some(ADMIN_TOKEN)).await.status(), 200, "{path}");
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(admin_get(&gw, path, None).await.status(), 200, "{path} stays open for probes");
    }
    assert_eq!(admin_get(&gw, "/keys/nobody", Some(ADMIN_TOKEN)).await.status(), 404);
    let list: serde_json::Value = admin_get(&gw, "/keys", Some(ADMIN_TOKEN)).await.json().await.unwrap();
    assert_eq!(list["keys"][0]["id"], "a");
    assert_eq!(list["keys"][0]["usage"]["source"], "local");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_report_the_same_usage_from_redis() {
    let sim = sim().await;
    let redis = RedisProc::start(free_port()).await;
    let keys_yaml = "keys:\n  - {id: shop, key: shop-key-1, limits: {per_second: 100, burst: 100, per_day: 1000, per_month: 20000}}\n";
    let extra = format!("quota_timezone: America/New_York\nredis:\n  url: \"{}\"\n  on_error: deny\n", redis.url());
    let a = managed(&sim.base_url(), keys_yaml, &extra).await;
    let b = managed(&sim.base_url(), keys_yaml, &extra).await;
    for gw in [&a, &b] {
        assert!(eventually(10, || async { admin_get(gw, "/readyz", None).await.status() == 200 }).await);
    }
    for gw in [&a, &b, &a, &b] {
        assert_eq!(status(gw, "shop-key-1").await, 200);
    }
    let (ua, ub) = (usage(&a, "shop").await, usage(&b, "shop").await);
    assert_eq!(ua["usage"]["source"], "redis");
    assert_eq!(ua["usage"]["day"]["used"], 4);
    assert_eq!(ua["usage"]["month"]["used"], 4);
    assert_eq!(ua["usage"]["day"]["used"], ub["usage"]["day"]["used"]);
    assert_eq!(ua["quota_timezone"], "America/New_York");
    let resets = ua["usage"]["day"]["resets_at"].as_str().unwrap();
    assert!(resets.ends_with("T00:00:00-05:00") || resets.ends_with("T00:00:00-04:00"), "{resets}");
    // The gauges of the quota-use panel.
    let text = metrics(&b).await;
    assert!(text.contains("liveagent_gateway_quota_used{key_id=\"shop\",window=\"day\"} 4"), "{text}");
    assert!(text.contains("liveagent_gateway_quota_limit{key_id=\"shop\",window=\"month\"} 20000"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswering_redis_costs_a_scrape_one_wait_not_one_per_key() {
    // A Redis that accepts connections and never answers: every read of it waits its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis_addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let sim = sim().await;
    let keys_yaml: String = (0..12).map(|i| format!("  - {{id: k{i}, key: key-number-{i}, limits: {{per_day: 1000}}}}\n")).collect();
    let extra = format!("redis:\n  url: \"redis://{redis_addr}\"\n  timeout: 150ms\n  on_error: allow\n");
    let gw = managed(&sim.base_url(), &format!("keys:\n{keys_yaml}"), &extra).await;
    let warnings = |gw: &GatewayProc| gw.logs().matches("cannot read keys' usage from redis").count();

    let text = metrics(&gw).await;
    assert!(text.contains("liveagent_gateway_build_info"), "{text}");
    assert!(!text.contains("liveagent_gateway_quota_used{"), "no usage could be read: {text}");
    assert_eq!(warnings(&gw), 1, "one warning for the scrape, not one per key; logs:\n{}", gw.logs());

    let listing = admin_get(&gw, "/keys", Some(ADMIN_TOKEN)).await;
    assert_eq!(listing.status(), 200);
    let listing: serde_json::Value = listing.json().await.unwrap();
    let keys = listing["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 12);
    for key in keys {
        assert_eq!(key["usage"]["error"], "shared quota store unavailable", "{key}");
    }
    assert_eq!(warnings(&gw), 2, "one more for the listing; logs:\n{}", gw.logs());
}
