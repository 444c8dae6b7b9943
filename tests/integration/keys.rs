//! Keys: where a client may put one, key substitution, quotas, reloads, and that no key ever
//! shows up in a log line or a metric.

use crate::util::*;

const GATEWAY_KEY: &str = "la-upstream-key-from-gateway";

fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "XyZ-boundary-42";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn key_in_query_form_multipart_or_header() {
    let sim = sim().await;
    // Without substitution the client key is LiveAgent's key.
    let gw = gateway(&sim.base_url(), &format!("keys:\n  - {{id: direct, key: \"{SIM_KEY}\"}}\n")).await;
    let client = reqwest::Client::new();
    let q = client.get(gw.url(&format!("/api/tags?apikey={SIM_KEY}"))).send().await.unwrap();
    assert_eq!(q.status(), 200);
    let form = post_form(gw.url("/api/customers/cid00002/groups"), format!("name=VIP&apikey={SIM_KEY}")).await;
    assert_eq!(form.status(), 200);
    let (ct, body) = multipart(&[("name", "Wholesale"), ("apikey", SIM_KEY)]);
    let mp = client.post(gw.url("/api/customers/cid00002/groups")).header("content-type", ct).body(body).send().await.unwrap();
    assert_eq!(mp.status(), 200);
    let header = client.get(gw.url("/api/customers/cid00002/groups")).header("apikey", SIM_KEY).send().await.unwrap();
    assert_eq!(header.status(), 200);
    let groups = header.text().await.unwrap();
    assert!(groups.contains("VIP") && groups.contains("Wholesale"), "both writes reached LiveAgent: {groups}");
}

#[tokio::test(flavor = "multi_thread")]
async fn substitution_keeps_client_keys_away_from_liveagent() {
    let sim = sim().await;
    let extra = format!(
        "  apikey: \"{GATEWAY_KEY}\"\nkeys:\n  - {{id: client, key: \"{CLIENT_KEY}\", upstream_apikey: \"{SIM_KEY}\"}}\n  - {{id: other, key: \"other-client\"}}\n"
    );
    let gw = gateway(&sim.base_url(), &extra).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).send().await.unwrap().status(), 200);
    let form = post_form(gw.url("/api/tags"), format!("name=new-tag&apikey={CLIENT_KEY}")).await;
    assert_eq!(form.status(), 200);
    let (ct, body) = multipart(&[("apikey", CLIENT_KEY), ("name", "mp-tag")]);
    assert_eq!(client.post(gw.url("/api/tags")).header("content-type", ct).body(body).send().await.unwrap().status(), 200);
    assert_eq!(client.get(gw.url("/api/tags")).header("apikey", CLIENT_KEY).send().await.unwrap().status(), 200);
    // A key without its own upstream key gets the gateway-wide one, which the simulator refuses.
    let other = client.get(gw.url("/api/tags?apikey=other-client")).send().await.unwrap();
    assert_eq!(other.status(), 401);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&other.bytes().await.unwrap()).unwrap()["response"]["errormessage"],
        "Invalid API key"
    );
    let seen = sim.requests();
    assert_eq!(seen.len(), 5);
    for r in &seen {
        let all = format!("{} {:?} {}", r.uri, r.apikey_header, r.body);
        assert!(!all.contains(CLIENT_KEY) && !all.contains("other-client"), "client key reached LiveAgent: {all}");
    }
    assert!(seen[0].uri.ends_with(&format!("apikey={SIM_KEY}")));
    assert!(seen[1].body.contains(&format!("apikey={SIM_KEY}")));
    assert!(seen[2].body.contains(&format!("\r\n\r\n{SIM_KEY}\r\n")));
    assert_eq!(seen[3].apikey_header.as_deref(), Some(SIM_KEY));
    assert!(seen[4].uri.ends_with(&format!("apikey={GATEWAY_KEY}")));
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_refusals_never_reach_liveagent() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let url = gw.url(&format!("/api/tags.yaml?apikey={TINY_KEY}"));
    let first = reqwest::get(&url).await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit"], "1");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "0");
    let second = reqwest::get(&url).await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    assert!(second.text().await.unwrap().contains("errormessage: Rate limit exceeded"));
    assert_eq!(sim.requests().len(), 1);
    assert!(gw.metrics().await.contains("liveagent_gateway_rate_limited_total{key_id=\"tiny\",limit=\"rate\"} 1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_in_logs_or_metrics() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let client = reqwest::Client::new();
    for path in [
        format!("/api/customers?apikey={CLIENT_KEY}"),
        format!("/api/customers/john@example.com.xml?apikey={CLIENT_KEY}"),
        "/api/customers?apikey=guessed-key-0001".to_string(),
        format!("/api/tags?apikey={TINY_KEY}"),
        format!("/api/tags?apikey={TINY_KEY}"),
        format!("/nowhere?apikey={CLIENT_KEY}"),
    ] {
        client.get(gw.url(&path)).header("x-sim-fault", "html:500").send().await.unwrap();
    }
    client.get(gw.url("/api/tags")).header("apikey", CLIENT_KEY).header("x-sim-fault", "cut").send().await.unwrap();
    client.get(gw.url("/api/tags")).header("apikey", CLIENT_KEY).header("x-sim-fault", "slow:3000").send().await.unwrap();
    let metrics = gw.metrics().await;
    assert!(metrics.contains("key_id=\"client\""), "key ids are labels");
    // Access lines are written in batches, within `log.flush` (1 s).
    let written = eventually(5, || async { gw.logs().matches("\"request_id\"").count() >= 8 }).await;
    let logs = gw.logs();
    assert!(written, "one access line per request:\n{logs}");
    for secret in [CLIENT_KEY, TINY_KEY, SIM_KEY, "guessed-key-0001", "john@example.com"] {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
        assert!(!metrics.contains(secret), "{secret} in metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_file_reloads_and_a_broken_file_keeps_the_old_keys() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let keys_path = dir.path().join("keys.yaml");
    std::fs::write(&keys_path, format!("keys:\n  - {{id: first, key_sha256: \"{}\"}}\n", sha256_hex("first-key"))).unwrap();
    let gw = gateway(&sim.base_url(), &format!("  apikey: \"{SIM_KEY}\"\nkeys_file: \"{}\"\n", keys_path.display())).await;
    let status = |key: &'static str| {
        let url = gw.url(&format!("/api/tags?apikey={key}"));
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("first-key").await, 200);
    assert_eq!(status("second-key").await, 401);
    std::fs::write(
        &keys_path,
        format!("keys:\n  - {{id: first, key: first-key}}\n  - {{id: second, key_sha256: \"{}\"}}\n", sha256_hex("second-key")),
    )
    .unwrap();
    assert!(eventually(10, || async { status("second-key").await == 200 }).await, "{}", gw.logs());
    assert_eq!(gw.metric("liveagent_gateway_keys_loaded").await, 2.0);
    std::fs::write(&keys_path, "keys:\n  - {id: broken, key_sha256: \"not-hex\"}\n").unwrap();
    assert!(eventually(10, || async { gw.metric("liveagent_gateway_config_reloads_total{result=\"error\"}").await >= 1.0 }).await);
    assert_eq!(status("second-key").await, 200, "the previous keys stay in force");
    assert!(gw.logs().contains("keys_file.keys[0].key_sha256"), "the log names the field");
}

fn sha256_hex(key: &str) -> String {
    liveagent_gateway::admit::auth::hash_key(key)
}
