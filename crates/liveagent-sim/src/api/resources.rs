//! Owns the smaller resources: agents, application status, companies, departments, online
//! status, chat and call overviews, tags, knowledge base, suggestion categories, widgets, files.

use super::customers::by_id;
use super::{unknown, Reply};
use crate::data::Db;
use crate::request::Call;
use serde_json::{json, Value};

pub fn dispatch(db: &mut Db, call: &Call, segs: &[&str]) -> Reply {
    match (call.method.as_str(), segs) {
        ("GET", ["agents", id]) => {
            let agent = db
                .agents
                .iter()
                .find(|a| a["contactid"] == *id || a["userid"] == *id || a["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(id)));
            agent.map_or_else(
                || Reply::not_found("Agent"),
                |a| Reply::ok(json!({"contactid": a["contactid"], "userid": a["userid"], "email": a["email"], "firstname": a["firstname"], "lastname": a["lastname"], "gender": a["gender"], "role": a["role"], "authtoken": a["authtoken"]})),
            )
        }
        ("GET", ["application", "status"]) => Reply::ok(
            json!({"liveagentversion": "5.59.2.11", "current_server_time": "2026-11-21 00:00:00", "datelatestupdate": "2026-10-01 03:00:00"}),
        ),
        ("GET", ["companies"]) => {
            let name = call.param("name").map(str::to_lowercase);
            let companies: Vec<&Value> = db
                .companies
                .iter()
                .filter(|c| name.as_ref().is_none_or(|n| c["name"].as_str().is_some_and(|x| x.to_lowercase().contains(n))))
                .collect();
            Reply::ok(json!({ "companies": companies }))
        }
        ("GET", ["companies", id]) => found(by_id(&db.companies, "id", id), "Company"),
        ("GET", ["departments"]) => Reply::ok(json!({"departments": db.departments})),
        ("GET", ["departments", id]) => found(by_id(&db.departments, "departmentid", id), "Department"),
        ("GET", ["departments", id, "agents"]) => {
            if by_id(&db.departments, "departmentid", id).is_none() {
                return Reply::not_found("Department");
            }
            let agents: Vec<Value> = db
                .agents
                .iter()
                .filter(|a| a["departmentid"] == *id)
                .map(|a| json!({"userid": a["userid"], "firstname": a["firstname"], "lastname": a["lastname"], "email": a["email"], "onlinestatus": a["onlinestatus"], "presetstatus": "A"}))
                .collect();
            Reply::ok(json!({ "agents": agents }))
        }
        ("GET", ["onlinestatus", "agents"]) => {
            let states: Vec<Value> = db
                .agents
                .iter()
                .map(|a| json!({"id": a["userid"], "contactid": a["contactid"], "username": a["email"], "firstname": a["firstname"], "lastname": a["lastname"], "avatar_url": Value::Null, "onlineStatus": a["onlinestatus"]}))
                .collect();
            Reply::ok(json!({ "agentsOnlineStates": states }))
        }
        ("GET", ["onlinestatus", "departments"]) => {
            let states: Vec<Value> = db
                .departments
                .iter()
                .map(|d| {
                    let open = db.conversations.iter().filter(|c| c["departmentid"] == d["departmentid"] && c["status"] != "R" && c["status"] != "X").count();
                    json!({"id": d["departmentid"], "name": d["name"], "onlineStatus": d["onlinestatus"], "presetStatus": d["presetstatus"], "chat_count": "0", "new_count": open.to_string(), "customer_reply_count": "0", "total_count": open.to_string(), "max_count": "10"})
                })
                .collect();
            Reply::ok(json!({ "departmentsOnlineStates": states }))
        }
        ("GET", ["chats", "overview"]) => {
            Reply::ok(json!({"chatsOverview": [{"visitors": "12", "chatting": "3", "waiting": "1", "ringing": "0"}]}))
        }
        ("GET", ["calls", "overview"]) => Reply::ok(json!({"callsOverview": [{"running": "1", "ringing": "0", "inqueue": "2"}]})),
        ("GET", ["tags"]) => {
            let tags: Vec<&Value> = db.tags.iter().filter(|t| call.param("name").is_none_or(|n| t["name"] == n)).collect();
            Reply::ok(json!({ "tags": tags }))
        }
        ("POST", ["tags"]) => create_named(db, call, Collection::Tags),
        ("GET", ["tags", id]) => found(by_id(&db.tags, "id", id), "Tag"),
        ("PUT", ["tags", id]) => update(&mut db.tags, "id", id, call, &["name", "color", "bg_color"], "Tag"),
        ("DELETE", ["tags", id]) => remove(&mut db.tags, "id", id, "Tag"),
        ("GET", ["knowledgebase", "entries"] | ["knowledgebase", "articles"]) => {
            let articles_only = segs[1] == "articles";
            let entries: Vec<&Value> = db.kb_entries.iter().filter(|e| !articles_only || e["rtype"] == "A").collect();
            Reply::ok(json!({ "entries": entries }))
        }
        ("DELETE", ["knowledgebase", "entries", id]) => remove(&mut db.kb_entries, "kb_entry_id", id, "Entry"),
        ("POST", ["knowledgebase", "articles"]) => create_entry(db, call, "A"),
        ("POST", ["knowledgebase", "categories"]) => create_entry(db, call, "C"),
        ("PUT", ["knowledgebase", "articles" | "categories", id]) => {
            update(&mut db.kb_entries, "kb_entry_id", id, call, &["title", "content", "keywords", "rstatus", "access", "rorder"], "Entry")
        }
        ("GET", ["knowledgebase", "search"]) => {
            let Some(query) = call.param("query").map(str::to_lowercase) else { return Reply::missing("query") };
            let entries: Vec<Value> = db
                .kb_entries
                .iter()
                .filter(|e| ["title", "content"].iter().any(|f| e[*f].as_str().is_some_and(|t| t.to_lowercase().contains(&query))))
                .map(search_item)
                .collect();
            Reply::ok(json!({ "entries": entries }))
        }
        ("GET", ["knowledgebase", "knowledgebases"]) => Reply::ok(json!({"knowledgebases": db.knowledgebases})),
        ("GET", ["suggestioncategories"]) => Reply::ok(json!({"suggestioncategories": db.suggestioncategories})),
        ("GET", ["widgets"]) => {
            let widgets: Vec<&Value> = db.widgets.iter().filter(|w| call.param("rtype").is_none_or(|r| w["rtype"] == r)).collect();
            Reply::ok(json!({ "widgets": widgets }))
        }
        ("POST", ["widgets"]) => create_named(db, call, Collection::Widgets),
        ("GET", ["widgets", id]) => found(by_id(&db.widgets, "contactwidgetid", id), "Widget"),
        ("PUT", ["widgets", id]) => update(&mut db.widgets, "contactwidgetid", id, call, &["name", "status", "departmentid"], "Widget"),
        ("DELETE", ["widgets", id]) => remove(&mut db.widgets, "contactwidgetid", id, "Widget"),
        ("POST", ["files"]) => {
            let (Some(name), Some(url)) = (call.param("name"), call.param("downloadUrl")) else {
                return Reply::missing("name, downloadUrl");
            };
            let id = db.new_id("f");
            let file = json!({"fileid": id, "created": "2026-11-21 00:00:00", "filename": name, "filesize": "0", "filetype": call.param("type").unwrap_or("application/octet-stream"), "downloads": "0", "downloadUrl": url});
            db.files.push(file.clone());
            Reply::ok(file)
        }
        ("GET", ["files", id]) => found(by_id(&db.files, "fileid", id), "File"),
        // LiveAgent stopped allowing file deletion through the API in 4.30.12.2.
        ("DELETE", ["files", _]) => Reply::error(403, "Deleting files via API is not allowed"),
        _ => unknown(call),
    }
}

fn found(v: Option<Value>, what: &str) -> Reply {
    v.map_or_else(|| Reply::not_found(what), Reply::ok)
}

enum Collection {
    Tags,
    Widgets,
}

fn create_named(db: &mut Db, call: &Call, which: Collection) -> Reply {
    let Some(name) = call.param("name").map(str::to_string) else { return Reply::missing("name") };
    let item = match which {
        Collection::Tags => {
            json!({"id": db.new_id("tag"), "name": name, "color": call.param("color").unwrap_or("FFFFFF"), "bg_color": call.param("bg_color").unwrap_or("000000")})
        }
        Collection::Widgets => {
            json!({"contactwidgetid": db.new_id("w"), "name": name, "provide": call.param("provide").unwrap_or("BFC"), "rtype": call.param("rtype").unwrap_or("C"),
                                      "status": call.param("status").unwrap_or("A"), "departmentid": call.param("departmentid").unwrap_or("dep01"), "integration_code": "", "onlinecode": ""})
        }
    };
    match which {
        Collection::Tags => db.tags.push(item.clone()),
        Collection::Widgets => db.widgets.push(item.clone()),
    }
    Reply::ok(item)
}

fn create_entry(db: &mut Db, call: &Call, rtype: &str) -> Reply {
    let Some(title) = call.param("title").map(str::to_string) else { return Reply::missing("title") };
    let content = call.param("content").map(str::to_string);
    if rtype == "A" && content.is_none() {
        return Reply::missing("content");
    }
    let id = db.new_id("kbe");
    let entry = json!({"kb_id": call.param("kb_id").unwrap_or("kb01"), "kb_entry_id": id, "parent_entry_id": call.param("parent_entry_id"), "rtype": rtype,
        "rstatus": call.param("rstatus").unwrap_or("P"), "access": call.param("access").unwrap_or("P"), "access_inherited": "Y", "urlcode": id, "treepath": format!("/1/{id}"),
        "rorder": call.param("rorder").unwrap_or("0"), "title": title, "metadescription": "", "keywords": call.param("keywords").unwrap_or(""), "content": content.unwrap_or_default(),
        "conversationid": Value::Null, "departmentid": "dep01", "views": "0", "votes": "0", "datecreated": "2026-11-21 00:00:00", "datechanged": "2026-11-21 00:00:00", "deleted": "N", "description": ""});
    db.kb_entries.push(entry.clone());
    // The answer to a create also carries the derived forms of the content.
    let mut created = entry;
    if rtype == "A" {
        let content = created["content"].as_str().unwrap_or_default().to_string();
        created["content_text"] = json!(strip_tags(&content));
        created["content_simple_html"] = json!(content);
    }
    Reply::ok(created)
}

fn update(items: &mut [Value], field: &str, id: &str, call: &Call, editable: &[&str], what: &str) -> Reply {
    let Some(item) = items.iter_mut().find(|v| v[field] == id) else { return Reply::not_found(what) };
    for f in editable {
        if let Some(v) = call.param(f) {
            item[*f] = json!(v);
        }
    }
    Reply::done()
}

fn remove(items: &mut Vec<Value>, field: &str, id: &str, what: &str) -> Reply {
    let before = items.len();
    items.retain(|v| v[field] != id);
    if items.len() < before {
        Reply::done()
    } else {
        Reply::not_found(what)
    }
}

/// One hit of `GET /knowledgebase/search`, with every field LiveAgent returns for it.
fn search_item(e: &Value) -> Value {
    let content = e["content"].as_str().unwrap_or_default();
    let text = strip_tags(content);
    json!({"kb_id": e["kb_id"], "kb_entry_id": e["kb_entry_id"], "rtype": e["rtype"], "rstatus": e["rstatus"], "access": e["access"],
           "access_inherited": e["access_inherited"], "urlcode": e["urlcode"], "treepath": e["treepath"], "title": e["title"],
           "title_clear": strip_tags(e["title"].as_str().unwrap_or_default()), "content_text": text, "content_simple_html": content,
           "conversationid": e["conversationid"], "votesCount": e["votes"], "datechanged": e["datechanged"],
           "url": format!("/kb/{}", e["urlcode"].as_str().unwrap_or_default())})
}

/// Text without its markup, as LiveAgent's `*_text` and `*_clear` fields carry it.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}
