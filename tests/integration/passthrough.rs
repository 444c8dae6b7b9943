//! Successful calls: JSON byte for byte, the documented XML pairs, YAML, formats and URL forms.

use crate::util::*;

fn with_key(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}apikey={CLIENT_KEY}")
}

#[tokio::test(flavor = "multi_thread")]
async fn json_passes_through_byte_for_byte() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let via_gateway = reqwest::get(gw.url(&with_key("/api/customers?limitcount=2"))).await.unwrap();
    assert_eq!(via_gateway.status(), 200);
    assert_eq!(via_gateway.headers()["content-type"], "application/json");
    let body = via_gateway.bytes().await.unwrap();
    assert_eq!(body.as_ref(), fixture("customers-list.json").as_slice(), "the simulator answers the documented example");
    for path in ["/api/conversations?limit=50", "/api/customers/john@example.com", "/api/knowledgebase/entries", "/api/departments"] {
        let direct = reqwest::get(format!("{}{path}{}apikey={SIM_KEY}", sim.base_url(), if path.contains('?') { '&' } else { '?' }))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let proxied = reqwest::get(gw.url(&with_key(path))).await.unwrap().bytes().await.unwrap();
        assert_eq!(direct, proxied, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn documented_xml_pairs_through_the_proxy() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    for (path, fixture_name) in
        [("/api/customers.xml?limitcount=2", "customers-list.xml"), ("/api/customers/cid00001/groups.xml", "customer-groups.xml")]
    {
        let resp = reqwest::get(gw.url(&with_key(path))).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/xml; charset=utf-8");
        let len: usize = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
        let body = resp.bytes().await.unwrap();
        assert_eq!(len, body.len());
        assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(&fixture(fixture_name)), "{path}");
    }
    // The documented customer is an abridged example: the answer starts with it, then carries
    // the fields later LiveAgent versions added.
    let documented = String::from_utf8(fixture("customer.xml")).unwrap();
    let served = reqwest::get(gw.url(&with_key("/api/customers/john@example.com.xml"))).await.unwrap().text().await.unwrap();
    let head = documented.strip_suffix("</response>\n").unwrap();
    assert!(served.starts_with(head) && served.len() > documented.len(), "{served}");
    assert!(served.contains("\n <customfields/>\n") && served.contains("\n <uniquefields>\n  <uniquefield>\n"), "{served}");
    let ok = post_form(gw.url("/api/customers/john@example.com/groups.xml"), format!("name=Newsletter&apikey={CLIENT_KEY}")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), fixture("ok.xml").as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn email_identifiers_formats_and_url_forms() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let client = reqwest::Client::new();
    let get = |path: &str, accept: Option<&str>| {
        let mut req = client.get(gw.url(&with_key(path)));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        req.send()
    };
    let json = get("/api/customers/john@example.com", None).await.unwrap();
    assert_eq!(json.headers()["content-type"], "application/json");
    assert!(json.text().await.unwrap().contains("\"email\":\"john@example.com\""));
    let yaml = get("/api/customers/john@example.com.yaml", None).await.unwrap();
    assert_eq!(yaml.headers()["content-type"], "application/yaml; charset=utf-8");
    let doc: serde_json::Value = serde_norway::from_str(&yaml.text().await.unwrap()).unwrap();
    assert_eq!(doc["response"]["authtoken"], "4fsd5f4s6f4s56f4s56f4s56f4sd56");
    let negotiated = get("/api/customers/john@example.com/", Some("application/xml")).await.unwrap();
    assert_eq!(negotiated.headers()["content-type"], "application/xml; charset=utf-8");
    let suffix_wins = get("/api/customers/john@example.com.json", Some("application/xml")).await.unwrap();
    assert_eq!(suffix_wins.headers()["content-type"], "application/json");
    let front = get("/api/index.php?handler=customers/john@example.com/groups.xml", None).await.unwrap();
    assert_eq!(front.status(), 200);
    assert_eq!(front.bytes().await.unwrap().as_ref(), fixture("customer-groups.xml").as_slice());
    let seen = sim.requests();
    assert!(seen.iter().all(|r| r.accept.as_deref() == Some("application/json")), "LiveAgent is always asked for JSON");
    assert!(seen.iter().any(|r| r.uri.starts_with("/api/index.php?handler=customers%2Fjohn%40example.com%2Fgroups&")), "{seen:?}");
    assert!(seen.iter().all(|r| !r.uri.contains(".xml") && !r.uri.contains(".yaml")), "suffixes never reach LiveAgent");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_visible_to_later_reads() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let created = post_form(
        gw.url("/api/customers.yaml"),
        format!("apikey={CLIENT_KEY}&email=new.person%40example.org&name=New+Person&gender=F&role=R"),
    )
    .await;
    assert_eq!(created.status(), 200);
    let doc: serde_json::Value = serde_norway::from_str(&created.text().await.unwrap()).unwrap();
    assert_eq!(doc["response"]["firstname"], "New");
    let listed = reqwest::get(gw.url(&with_key("/api/customers?email=new.person"))).await.unwrap().text().await.unwrap();
    assert!(listed.contains("new.person@example.org"), "{listed}");
}
