//! Walks every route template of the v1 catalog against the simulator: each documented method
//! answers with a valid envelope, not a 404.

use crate::util::*;
use liveagent_gateway::request::routes::CATALOG;

/// A seeded id for each path parameter.
fn fill(template: &str) -> String {
    [
        ("{agentidentifier}", "agent1@example.com"),
        ("{conversationid}", "c000001"),
        ("{customeridentifier}", "cid00001"),
        ("{groupid}", "ag0h"),
        ("{companyid}", "comp001"),
        ("{departmentid}", "dep01"),
        ("{tagid}", "tag1"),
        ("{kb_entry_id}", "kbe002"),
        ("{contactwidgetid}", "w0001"),
        ("{fileid}", "f000001"),
        ("{channel}", "chats"),
    ]
    .iter()
    .fold(template.to_string(), |path, (param, value)| path.replace(param, value))
}

/// Parameters that satisfy every write of the catalog.
fn params(template: &str) -> String {
    let name = match template {
        "/api/conversations/{conversationid}/tags" => "urgent",
        _ => "VIP",
    };
    let fields = form_urlencoded::byte_serialize(br#"[{"code":"x","value":"y"}]"#).collect::<String>();
    format!(
        "apikey={SIM_KEY}&name={name}&message=Hello&status=R&title=T&content=C&customfields={fields}&code=x&email=new%40example.org&downloadUrl=https%3A%2F%2Fx.example%2Fy&query=help&useridentifier=john%40example.com&department=dep01"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_catalog_route_answers_with_an_envelope() {
    let client = reqwest::Client::new();
    let mut walked = 0;
    for route in CATALOG {
        for method in route.methods {
            // A fresh simulator per call, so a DELETE cannot hide a later route's data.
            let sim = sim().await;
            let url = format!("{}{}", sim.base_url(), fill(route.template));
            let req = match *method {
                "GET" => client.get(format!("{url}?{}", params(route.template))),
                m => client
                    .request(m.parse().unwrap(), &url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(params(route.template)),
            };
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or_else(|e| panic!("{method} {}: {e}", route.template));
            let inner = &body["response"];
            assert!(inner.is_object(), "{method} {}: {body}", route.template);
            let expected = if (*method, route.template) == ("DELETE", "/api/files/{fileid}") { 403 } else { 200 };
            assert_eq!(status, expected, "{method} {}: {body}", route.template);
            walked += 1;
            sim.shutdown().await;
        }
    }
    assert!(walked >= 73, "walked {walked} method/route pairs");
}
