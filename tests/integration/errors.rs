//! Every failure a client can see is an error envelope in its format, with the right status,
//! `X-Request-Id`, and the request id in `debugmessage`.

use crate::util::*;

const FORMATS: [(&str, &str); 3] = [("", "application/json"), (".xml", "application/xml"), (".yaml", "application/yaml")];

struct Case {
    name: &'static str,
    status: u16,
    message: &'static str,
    path: String,
    method: &'static str,
    body: Option<String>,
    fault: Option<&'static str>,
}

fn case(name: &'static str, status: u16, message: &'static str, method: &'static str, path: String) -> Case {
    Case { name, status, message, path, method, body: None, fault: None }
}

async fn check(gw: &GatewayProc, c: &Case, suffix: &str, content_type: &str) {
    let client = reqwest::Client::new();
    let path = c.path.replace("{fmt}", suffix);
    let mut req = client.request(c.method.parse().unwrap(), gw.url(&path)).header("x-request-id", format!("req-{}", c.status));
    if let Some(b) = &c.body {
        req = req.header("content-type", "application/x-www-form-urlencoded").body(b.clone());
    }
    if let Some(f) = c.fault {
        req = req.header("x-sim-fault", f);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{} {suffix}: {e}", c.name));
    assert_eq!(resp.status().as_u16(), c.status, "{} {suffix}", c.name);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with(content_type), "{} {suffix}: {ct}", c.name);
    assert_eq!(resp.headers()["x-request-id"], format!("req-{}", c.status).as_str());
    let body = resp.bytes().await.unwrap();
    let doc = parse_any(&ct, &body);
    let r = &doc["response"];
    assert_eq!(r["status"], "ERROR", "{} {suffix}", c.name);
    assert_eq!(r["statuscode"].to_string().trim_matches('"'), c.status.to_string(), "{} {suffix}", c.name);
    assert_eq!(r["errormessage"], c.message, "{} {suffix}", c.name);
    assert_eq!(r["debugmessage"], format!("request_id=req-{}", c.status).as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_and_upstream_failures_in_every_format() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &format!("{}max_request_bytes: 1024\n", substituted_keys())).await;
    let k = format!("apikey={CLIENT_KEY}");
    let mut cases = vec![
        case("missing key", 401, "Api key is not found in request", "GET", "/api/customers{fmt}".into()),
        case("unknown key", 401, "Invalid API key", "GET", "/api/customers{fmt}?apikey=nope".into()),
        case(
            "read-only key writing",
            403,
            "API key is not allowed to call this endpoint",
            "DELETE",
            format!("/api/tags/tag1{{fmt}}?apikey={READER_KEY}"),
        ),
        case("outside /api/", 404, "Not found", "GET", format!("/admin{{fmt}}?{k}")),
        case("dot segments", 404, "Not found", "GET", format!("/api/../admin{{fmt}}?{k}")),
        case("LiveAgent's own 404", 404, "Customer not found", "GET", format!("/api/customers/nobody@example.com{{fmt}}?{k}")),
        case("LiveAgent's own 400", 400, "Missing required parameter: name", "POST", format!("/api/customers/cid00001/groups{{fmt}}?{k}")),
    ];
    cases.push(Case {
        body: Some(format!("{k}&note={}", "x".repeat(2000))),
        ..case("body too large", 413, "Request body too large", "POST", "/api/customers{fmt}".into())
    });
    cases.push(Case {
        fault: Some("html:500"),
        ..case("HTML error page", 500, "Internal Server Error", "GET", format!("/api/customers{{fmt}}?{k}"))
    });
    cases.push(Case {
        fault: Some("html:503"),
        ..case("maintenance page", 503, "Service Unavailable", "GET", format!("/api/customers{{fmt}}?{k}"))
    });
    cases.push(Case {
        fault: Some("error:500"),
        ..case("LiveAgent error envelope", 500, "Internal server error: Undefined variable: ticket", "GET", format!("/api/tags{{fmt}}?{k}"))
    });
    cases.push(Case { fault: Some("cut"), ..case("connection cut", 502, "Upstream unavailable", "GET", format!("/api/tags{{fmt}}?{k}")) });
    cases.push(Case { fault: Some("slow:3000"), ..case("slow upstream", 504, "Upstream timeout", "GET", format!("/api/tags{{fmt}}?{k}")) });
    for c in &cases {
        for (suffix, ct) in FORMATS {
            check(&gw, c, suffix, ct).await;
        }
    }
    // Only a transcoded success can be found invalid: JSON successes stream through untouched.
    for (suffix, ct) in &FORMATS[1..] {
        let c = Case {
            fault: Some("invalid-json"),
            ..case("200 that is not JSON", 502, "Invalid upstream response", "GET", format!("/api/customers{{fmt}}?{k}"))
        };
        check(&gw, &c, suffix, ct).await;
    }
    let metrics = gw.metrics().await;
    for series in [
        "liveagent_gateway_upstream_errors_total{endpoint=\"/api/tags\",kind=\"timeout\"} 3",
        "liveagent_gateway_upstream_errors_total{endpoint=\"/api/tags\",kind=\"connect\"} 3",
        "liveagent_gateway_upstream_errors_total{endpoint=\"/api/customers\",kind=\"invalid_response\"} 2",
        "liveagent_gateway_auth_failures_total{reason=\"missing\"} 3",
        "liveagent_gateway_auth_failures_total{reason=\"forbidden\"} 3",
    ] {
        assert!(metrics.contains(series), "missing {series} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_down_is_502_quickly() {
    let gw = gateway(&format!("http://127.0.0.1:{}", free_port()), &default_keys()).await;
    for (suffix, ct) in FORMATS {
        let c = case("upstream down", 502, "Upstream unavailable", "GET", format!("/api/customers{{fmt}}?apikey={CLIENT_KEY}"));
        let started = std::time::Instant::now();
        check(&gw, &c, suffix, ct).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    let ready = reqwest::get(format!("http://{}/readyz", gw.admin)).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("upstream unreachable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_upstream_bodies_are_refused_when_transcoding() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let client = reqwest::Client::new();
    let url = gw.url(&format!("/api/conversations.xml?apikey={CLIENT_KEY}"));
    let big = client.get(&url).header("x-sim-fault", "large:1000").send().await.unwrap();
    assert_eq!(big.status(), 200, "the 16 MiB default cap holds 1,000 conversations");
    assert_eq!(big.text().await.unwrap().matches("<conversation>").count(), 1000);
    // Lower the cap through a live reload, then the same answer is too large to transcode.
    let config = std::fs::read_to_string(gw.config_path())
        .unwrap()
        .replace("  read_timeout: \"1s\"\n", "  read_timeout: \"1s\"\n  max_response_bytes: 10000\n");
    std::fs::write(gw.config_path(), config).unwrap();
    let reloaded = eventually(10, || async { gw.metric("liveagent_gateway_config_reloads_total{result=\"ok\"}").await >= 1.0 }).await;
    assert!(reloaded, "{}", gw.logs());
    let too_big = client.get(&url).header("x-sim-fault", "large:1000").send().await.unwrap();
    assert_eq!(too_big.status(), 502);
    assert!(too_big.text().await.unwrap().contains("<errormessage>Invalid upstream response</errormessage>"));
    assert!(gw.metrics().await.contains("kind=\"too_large\"} 1"));
}
