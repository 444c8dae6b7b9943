//! The simulator over real HTTP: every resource's happy path, authentication, 404s, paging and
//! filters, the ways to send a key, both URL forms, and each fault mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveagent_sim::{start, SimOptions, Simulator};
use serde_json::Value;
use std::time::{Duration, Instant};

const KEY: &str = "k-123";

async fn sim() -> Simulator {
    start("127.0.0.1:0".parse().unwrap(), SimOptions { apikey: KEY.into() }).await.unwrap()
}

struct Resp {
    status: u16,
    body: Value,
}

async fn call(sim: &Simulator, method: &str, path_and_query: &str, form: Option<&str>) -> Resp {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{}{path_and_query}", sim.base_url()));
    if let Some(f) = form {
        req = req.header("content-type", "application/x-www-form-urlencoded").body(f.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Resp { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

async fn get(sim: &Simulator, path: &str) -> Resp {
    let sep = if path.contains('?') { '&' } else { '?' };
    call(sim, "GET", &format!("{path}{sep}apikey={KEY}"), None).await
}

#[tokio::test]
async fn every_resource_reads() {
    let s = sim().await;
    for (path, key) in [
        ("/api/agents/agent1@example.com", "authtoken"),
        ("/api/application/status", "liveagentversion"),
        ("/api/conversations", "conversations"),
        ("/api/conversations/c000001", "code"),
        ("/api/conversations/c000002/messages", "groups"),
        ("/api/conversations/c000002/tags", "tags"),
        ("/api/customers", "customers"),
        ("/api/customers/john@example.com", "authtoken"),
        ("/api/customers/cid00001/groups", "groups"),
        ("/api/customers/cid00001/fields", "customfields"),
        ("/api/customersgroups", "groups"),
        ("/api/customersgroups/ag0h", "bg_color"),
        ("/api/companies", "companies"),
        ("/api/companies/comp004", "language"),
        ("/api/departments", "departments"),
        ("/api/departments/dep01", "presetstatus"),
        ("/api/departments/dep02/agents", "agents"),
        ("/api/onlinestatus/agents", "agentsOnlineStates"),
        ("/api/onlinestatus/departments", "departmentsOnlineStates"),
        ("/api/chats/overview", "chatsOverview"),
        ("/api/calls/overview", "callsOverview"),
        ("/api/tags", "tags"),
        ("/api/tags/tag1", "name"),
        ("/api/knowledgebase/entries", "entries"),
        ("/api/knowledgebase/articles", "entries"),
        ("/api/knowledgebase/search?query=password", "entries"),
        ("/api/knowledgebase/knowledgebases", "knowledgebases"),
        ("/api/suggestioncategories", "suggestioncategories"),
        ("/api/widgets", "widgets"),
        ("/api/widgets/w0001", "integration_code"),
        ("/api/files/f000001", "downloadUrl"),
        ("/api/reports/agents", "agents"),
        ("/api/reports/ranking", "ranks"),
        ("/api/reports/calls/load", "loads"),
        ("/api/reports/tickets/slalog", "slalogs"),
    ] {
        let r = get(&s, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.body["response"].get(key).is_some(), "{path} lacks {key}: {}", r.body);
    }
}

/// The documented customer record is an abridged example: what a current LiveAgent answers
/// starts with it (see `the_documented_customer_starts_as_documented`).
#[tokio::test]
async fn customers_match_the_documentation_byte_for_byte() {
    let s = sim().await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/seed");
    for (path, file) in [("/api/customers?limitcount=2", "customers-list.json"), ("/api/customers/cid00001/groups", "customer-groups.json")]
    {
        let sep = if path.contains('?') { '&' } else { '?' };
        let body = reqwest::get(format!("{}{path}{sep}apikey={KEY}", s.base_url())).await.unwrap().text().await.unwrap();
        assert_eq!(body, std::fs::read_to_string(fixtures.join(file)).unwrap(), "{path}");
    }
    let ok = call(&s, "DELETE", &format!("/api/customers/john@example.com/groups?name=VIP&apikey={KEY}"), None).await;
    assert_eq!(ok.body, serde_json::json!({"response": {"status": "OK", "statuscode": 0}}));
}

#[tokio::test]
async fn auth_failures() {
    let s = sim().await;
    let missing = call(&s, "GET", "/api/customers", None).await;
    assert_eq!((missing.status, missing.body["response"]["errormessage"].as_str()), (401, Some("Api key is not found in request")));
    let wrong = call(&s, "GET", "/api/customers?apikey=nope", None).await;
    assert_eq!((wrong.status, wrong.body["response"]["statuscode"].as_u64()), (401, Some(401)));
    // A form key on a GET is not read, as PHP's $_POST is empty for a GET.
    let get_form = call(&s, "GET", "/api/customers", Some(&format!("apikey={KEY}"))).await;
    assert_eq!(get_form.status, 401);
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404() {
    let s = sim().await;
    for path in ["/api/customers/nobody@example.com", "/api/conversations/zzz", "/api/tags/none", "/api/reports/mail/load", "/api/nothing"]
    {
        let r = get(&s, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["response"]["status"], "ERROR", "{path}");
    }
    let head = reqwest::Client::new().head(format!("{}/api/tags?apikey={KEY}", s.base_url())).send().await.unwrap();
    assert_eq!(head.status(), 200, "HEAD is answered like GET");
    let outside = reqwest::get(format!("{}/index.html", s.base_url())).await.unwrap();
    assert_eq!(outside.status(), 404);
}

#[tokio::test]
async fn paging_and_filters() {
    let s = sim().await;
    let count = |r: &Resp, key: &str| r.body["response"][key].as_array().map_or(0, Vec::len);
    assert_eq!(count(&get(&s, "/api/customers").await, "customers"), 100, "default limitcount");
    assert_eq!(count(&get(&s, "/api/customers?limitcount=5000").await, "customers"), 300, "max 1000, 300 exist");
    let page = get(&s, "/api/customers?limitcount=3&limitfrom=1").await;
    assert_eq!(page.body["response"]["customers"][0]["contactid"], "cid00002");
    assert_eq!(count(&page, "customers"), 3);
    let bad = get(&s, "/api/customers?limitcount=ten").await;
    assert_eq!(bad.status, 400);
    let by_mail = get(&s, "/api/customers?email=JOHN@").await;
    assert_eq!(count(&by_mail, "customers"), 1, "case-insensitive substring");
    let dated = get(&s, "/api/customers?datecreatedfrom=2024-01-01%2000:00:00&datecreatedto=2024-01-01%2005:00:00").await;
    assert_eq!(count(&dated, "customers"), 2, "{}", dated.body);
    let japanese = get(&s, "/api/customers?lastname=%E5%B1%B1%E7%94%B0").await;
    assert!(count(&japanese, "customers") > 0);
    assert_eq!(count(&get(&s, "/api/conversations?limit=10&offset=5").await, "conversations"), 10);
    let first = get(&s, "/api/conversations?limit=1&offset=5").await;
    assert_eq!(first.body["response"]["conversations"][0]["conversationid"], "c000006");
    let by_status = get(&s, "/api/conversations?status=R&limit=1000").await;
    assert!(by_status.body["response"]["conversations"].as_array().unwrap().iter().all(|c| c["status"] == "R"));
}

#[tokio::test]
async fn keys_in_form_multipart_header_and_both_url_forms() {
    let s = sim().await;
    let form = call(&s, "POST", "/api/customers/cid00002/groups", Some(&format!("name=VIP&apikey={KEY}"))).await;
    assert_eq!(form.status, 200);
    let boundary = "b0undary";
    let body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\n{KEY}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nWholesale\r\n--{boundary}--\r\n");
    let mp = reqwest::Client::new()
        .put(format!("{}/api/customers/cid00002/groups", s.base_url()))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(mp.status(), 404, "PUT is not a method of this route, but the multipart key was accepted");
    let header =
        reqwest::Client::new().get(format!("{}/api/customers/cid00002/groups/", s.base_url())).header("apikey", KEY).send().await.unwrap();
    let groups: Value = header.json().await.unwrap();
    assert_eq!(groups["response"]["groups"].as_array().map(Vec::len), Some(2), "Premium and the new VIP: {groups}");
    let front = get(&s, "/api/index.php?handler=customers/cid00002/groups").await;
    assert_eq!(front.body, groups);
}

#[tokio::test]
async fn writes_then_reads() {
    let s = sim().await;
    let created = call(
        &s,
        "POST",
        &format!("/api/customers?apikey={KEY}"),
        Some("email=sato%40example.jp&name=%E4%BD%90%E8%97%A4+%E8%8A%B1%E5%AD%90&gender=F&role=R"),
    )
    .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body["response"]["lastname"], "花子");
    assert_eq!(get(&s, "/api/customers?email=sato@example.jp").await.body["response"]["customers"][0]["firstname"], "佐藤");
    let dup = call(&s, "POST", &format!("/api/customers?apikey={KEY}"), Some("email=sato%40example.jp")).await;
    assert_eq!(dup.status, 400);
    let conv =
        call(&s, "POST", &format!("/api/conversations?apikey={KEY}"), Some("message=Help&useridentifier=john%40example.com&subject=Hi"))
            .await;
    let id = conv.body["response"]["conversationid"].as_str().unwrap().to_string();
    call(&s, "POST", &format!("/api/conversations/{id}/messages?apikey={KEY}"), Some("message=Reply&type=N")).await;
    let msgs = get(&s, &format!("/api/conversations/{id}/messages")).await;
    assert_eq!(msgs.body["response"]["groups"].as_array().map(Vec::len), Some(2));
    call(&s, "PUT", &format!("/api/conversations/{id}/status?apikey={KEY}"), Some("status=R")).await;
    assert_eq!(get(&s, &format!("/api/conversations/{id}")).await.body["response"]["status"], "R");
    let missing = call(&s, "POST", &format!("/api/conversations?apikey={KEY}"), Some("subject=x")).await;
    assert_eq!((missing.status, missing.body["response"]["errormessage"].as_str()), (400, Some("Missing required parameter: message")));
}

#[tokio::test]
async fn fault_modes() {
    let s = sim().await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/tags?apikey={KEY}", s.base_url());
    let with_fault = |f: &'static str| client.get(&url).header("x-sim-fault", f).send();
    let started = Instant::now();
    assert_eq!(with_fault("slow:300").await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let err = with_fault("error:503").await.unwrap();
    assert_eq!(err.status(), 503);
    assert_eq!(err.json::<Value>().await.unwrap()["response"]["statuscode"], 503);
    let html = with_fault("html").await.unwrap();
    assert_eq!((html.status().as_u16(), html.headers()["content-type"].to_str().unwrap()), (500, "text/html; charset=UTF-8"));
    let invalid = with_fault("invalid-json").await.unwrap();
    assert!(serde_json::from_slice::<Value>(&invalid.bytes().await.unwrap()).is_err());
    assert!(with_fault("cut").await.is_err(), "the connection closes without an answer");
    let large = with_fault("large:1000").await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(large["response"]["conversations"].as_array().map(Vec::len), Some(1000));
    // A share of requests, through the control route.
    let set =
        client.post(format!("{}/_sim/faults", s.base_url())).body(r#"{"fault":"error:500","ratio":0.5,"count":2}"#).send().await.unwrap();
    assert_eq!(set.status(), 200);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(client.get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![200, 500, 200, 500, 200, 200]);
    let bad = client.post(format!("{}/_sim/faults", s.base_url())).body(r#"{"fault":"explode"}"#).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let seen: Vec<Value> = client.get(format!("{}/_sim/requests", s.base_url())).send().await.unwrap().json().await.unwrap();
    assert!(seen.len() >= 12);
    s.shutdown().await;
}

/// The fields each record carries, per route, from the route catalog: the public clients read
/// them, so an answer without one would pass against the simulator and fail against LiveAgent.
#[tokio::test]
async fn records_have_the_catalogs_fields() {
    let s = sim().await;
    let catalog: &[(&str, &str, &str)] = &[
        ("/api/agents/agent1@example.com", "", "contactid userid email firstname lastname gender role authtoken"),
        ("/api/application/status", "", "liveagentversion current_server_time datelatestupdate"),
        ("/api/conversations", "conversations", "conversationid code publicurlcode departmentid departmentname status channel_type datecreated datechanged datedue ownername owneremail subject tags"),
        ("/api/conversations/c000001", "", "conversationid code publicurlcode departmentid status subject datecreated"),
        ("/api/conversations/c000002/messages", "groups", "messagegroupid userid rtype rstatus datecreated datefinished messages"),
        ("/api/customers/john@example.com", "", "contactid email firstname lastname systemname authtoken browsercookiename role gender companyid userid datecreated note customfields uniquefields"),
        ("/api/customers/cid00003", "", "contactid email firstname lastname systemname authtoken browsercookiename role gender companyid userid datecreated note customfields uniquefields"),
        ("/api/customers/cid00001/groups", "groups", "groupid groupname"),
        ("/api/customersgroups", "groups", "id name"),
        ("/api/customersgroups/ag0h", "", "id name color bg_color"),
        ("/api/companies", "companies", "id name emails datecreated"),
        ("/api/companies/comp004", "", "id name datecreated language emails phones"),
        ("/api/departments", "departments", "departmentid name description onlinestatus presetstatus deleted"),
        ("/api/departments/dep01", "", "departmentid name description onlinestatus presetstatus deleted"),
        ("/api/departments/dep02/agents", "agents", "userid firstname lastname email onlinestatus presetstatus"),
        ("/api/onlinestatus/agents", "agentsOnlineStates", "id contactid username firstname lastname avatar_url onlineStatus"),
        ("/api/onlinestatus/departments", "departmentsOnlineStates", "id name onlineStatus presetStatus chat_count new_count customer_reply_count total_count max_count"),
        ("/api/calls/overview", "callsOverview", "running ringing inqueue"),
        ("/api/tags", "tags", "id name"),
        ("/api/tags/tag1", "", "id name color bg_color"),
        ("/api/knowledgebase/entries", "entries", "kb_id kb_entry_id parent_entry_id rtype rstatus access access_inherited urlcode treepath rorder title metadescription keywords content conversationid departmentid views votes datecreated datechanged deleted description"),
        ("/api/knowledgebase/search?query=password", "entries", "kb_id kb_entry_id rtype rstatus access access_inherited urlcode treepath title title_clear content_text content_simple_html conversationid votesCount datechanged url"),
        ("/api/knowledgebase/knowledgebases", "knowledgebases", "kb_id name"),
        ("/api/suggestioncategories", "suggestioncategories", "id title path"),
        ("/api/widgets", "widgets", "contactwidgetid name integration_code onlinecode"),
        ("/api/files/f000001", "", "fileid created filename filesize filetype downloads downloadUrl"),
        ("/api/reports/agents", "agents", "id contactid firstname lastname answers chat_answers chats calls rewards punishments"),
        ("/api/reports/channels", "channels", "id channelName answers chat_answers chats calls rewards punishments"),
        ("/api/reports/departments", "departments", "id departmentName answers"),
        ("/api/reports/tags", "tags", "id tagName answers"),
        ("/api/reports/ranking", "ranks", "id rankingType datecreated conversationid agentcontactid agentEmail agent contactid requesterEmail requester comment"),
        ("/api/reports/chats/agentsavailability", "agentsavailability", "id userid firstname lastname contactid departmentid department_name hours_online from_date to_date"),
        ("/api/reports/chats/availability", "availability", "date mins pct"),
        ("/api/reports/calls/load", "loads", "date avgQueue maxQueue minQueue avgSlots maxSlots minSlots avgService maxService minService"),
        ("/api/reports/tickets/slacompliance", "slacompliances", "date fulfilled avgFulfilledTime maxFulfilledTime minFulfilledTime unfulfilled avgUnfulfilledTime maxUnfulfilledTime minUnfulfilledTime"),
        ("/api/reports/tickets/slalog", "slalogs", "id conversationid departmentid levelid sla date_created date_closed server_date_closed date_due server_date_due sla_level_id agentid req_contactid"),
    ];
    let mut missing = Vec::new();
    for (path, list, fields) in catalog {
        let r = get(&s, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let record = if list.is_empty() { &r.body["response"] } else { &r.body["response"][*list][0] };
        assert!(record.is_object(), "{path}: no record in {}", r.body);
        for field in fields.split(' ').filter(|f| record.get(*f).is_none()) {
            missing.push(format!("{path} {field}"));
        }
    }
    let created = [
        ("/api/customers", "email=new-fields@example.com&name=New%20Person&customfields=%5B%7B%22code%22%3A%22plan%22%2C%22value%22%3A%22gold%22%7D%5D", "contactid email customfields datecreated uniquefields"),
        ("/api/knowledgebase/articles", "title=Fields&content=%3Cp%3EAll%3C%2Fp%3E", "kb_id kb_entry_id parent_entry_id urlcode title content content_text content_simple_html treepath rstatus access access_inherited rorder keywords datecreated datechanged views"),
        ("/api/knowledgebase/categories", "title=Fields", "kb_id kb_entry_id parent_entry_id urlcode title treepath rtype rstatus access access_inherited rorder keywords datecreated datechanged departmentid views description"),
    ];
    for (path, form, fields) in created {
        let r = call(&s, "POST", &format!("{path}?apikey={KEY}"), Some(form)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        for field in fields.split(' ').filter(|f| r.body["response"].get(*f).is_none()) {
            missing.push(format!("POST {path} {field}"));
        }
    }
    assert!(missing.is_empty(), "missing fields:\n{}", missing.join("\n"));
}

/// The documented customer keeps the documented example's fields, order and values first.
#[tokio::test]
async fn the_documented_customer_starts_as_documented() {
    let s = sim().await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/seed/customer.json");
    let documented: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let documented = documented["response"].as_object().unwrap();
    let r = get(&s, "/api/customers/john@example.com").await;
    let served = r.body["response"].as_object().unwrap();
    let head: Vec<(&String, &Value)> = served.iter().take(documented.len()).collect();
    assert_eq!(head, documented.iter().collect::<Vec<_>>());
    assert!(served.len() > documented.len());
}
