//! Owns the conversations (tickets) API: list with filters and paging, create, read, delete,
//! messages, status, transfer, tags and custom fields.

use super::customers::parse_fields;
use super::{page, unknown, Reply};
use crate::data::{self, fields_list, Db, Rng, STATUSES};
use crate::request::Call;
use serde_json::{json, Value};

pub fn dispatch(db: &mut Db, call: &Call, segs: &[&str]) -> Reply {
    match (call.method.as_str(), segs) {
        ("GET", ["conversations"]) => list(db, call),
        ("POST", ["conversations"]) => create(db, call),
        ("GET", ["conversations", id]) => {
            find(db, id).map_or_else(|| Reply::not_found("Conversation"), |i| Reply::ok(db.conversations[i].clone()))
        }
        ("DELETE", ["conversations", id]) => with(db, id, |db, i| {
            db.conversations[i]["status"] = json!("X");
            Reply::done()
        }),
        ("GET", ["conversations", id, "messages"]) => with(db, id, |db, i| {
            let cid = db.conversations[i]["conversationid"].as_str().unwrap_or_default().to_string();
            Reply::ok(json!({"groups": db.messages.get(&cid).cloned().unwrap_or_default()}))
        }),
        ("POST", ["conversations", id, "messages"]) => add_message(db, id, call),
        ("PUT", ["conversations", id, "status"]) => {
            let Some(status) = call.param("status").map(str::to_string) else { return Reply::missing("status") };
            if !STATUSES.contains(&status.as_str()) && !["I", "P", "X", "B"].contains(&status.as_str()) {
                return Reply::error(400, &format!("Unknown status {status}"));
            }
            with(db, id, |db, i| {
                db.conversations[i]["status"] = json!(status);
                Reply::done()
            })
        }
        ("PUT", ["conversations", id, "attendants"]) => {
            let department = call.param("department").map(str::to_string);
            with(db, id, |db, i| {
                if let Some(dep) = department {
                    let Some(d) = db.departments.iter().find(|d| d["departmentid"] == dep.as_str()).cloned() else {
                        return Reply::not_found("Department");
                    };
                    db.conversations[i]["departmentid"] = d["departmentid"].clone();
                    db.conversations[i]["departmentname"] = d["name"].clone();
                }
                Reply::done()
            })
        }
        ("GET", ["conversations", id, "tags"]) => with(db, id, |db, i| {
            let ids = tag_ids(&db.conversations[i]);
            let tags: Vec<Value> = db.tags.iter().filter(|t| ids.iter().any(|id| t["id"] == id.as_str())).cloned().collect();
            Reply::ok(json!({ "tags": tags }))
        }),
        ("POST" | "DELETE", ["conversations", id, "tags"]) => tag(db, id, call),
        ("POST", ["conversations", id, "fields"]) => {
            let Some(text) = call.param("customfields") else { return Reply::missing("customfields") };
            let fields = match parse_fields(text) {
                Ok(f) => f,
                Err(r) => return r,
            };
            with(db, id, |db, i| {
                let cid = db.conversations[i]["conversationid"].as_str().unwrap_or_default().to_string();
                db.conversation_fields.entry(cid).or_default().extend(fields);
                Reply::done()
            })
        }
        ("DELETE", ["conversations", id, "fields"]) => {
            let Some(code) = call.param("code").map(str::to_string) else { return Reply::missing("code") };
            with(db, id, |db, i| {
                let cid = db.conversations[i]["conversationid"].as_str().unwrap_or_default().to_string();
                let fields = db.conversation_fields.entry(cid).or_default();
                fields.remove(&code);
                Reply::ok(json!({"status": "OK", "statuscode": 0, "customfields": fields_list(fields)}))
            })
        }
        _ => unknown(call),
    }
}

/// A conversation is found by id, ticket code or public URL code.
fn find(db: &Db, id: &str) -> Option<usize> {
    db.conversations.iter().position(|c| c["conversationid"] == id || c["code"] == id || c["publicurlcode"] == id)
}

fn with(db: &mut Db, id: &str, f: impl FnOnce(&mut Db, usize) -> Reply) -> Reply {
    match find(db, id) {
        Some(i) => f(db, i),
        None => Reply::not_found("Conversation"),
    }
}

fn tag_ids(c: &Value) -> Vec<String> {
    c["tags"].as_str().map(|t| t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

fn list(db: &Db, call: &Call) -> Reply {
    let eq = |c: &Value, field: &str, param: &str| call.param(param).is_none_or(|p| c[field] == p);
    let items: Vec<Value> = db
        .conversations
        .iter()
        .filter(|c| c["status"] != "X")
        .filter(|c| eq(c, "departmentid", "departmentid") && eq(c, "status", "status"))
        .filter(|c| call.param("owneridentifier").is_none_or(|o| c["owneremail"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(o))))
        .filter(|c| call.param("subject").is_none_or(|s| c["subject"].as_str().is_some_and(|x| x.contains(s))))
        .filter(|c| call.param("channel_type").is_none_or(|t| t.split(',').any(|t| c["channel_type"] == t)))
        .filter(|c| {
            let created = c["datecreated"].as_str().unwrap_or("");
            call.param("datefrom").is_none_or(|f| created >= f) && call.param("dateto").is_none_or(|t| created <= t)
        })
        .cloned()
        .collect();
    match page(items, call, "limit", "offset", 100, 1000) {
        Ok(conversations) => Reply::ok(json!({ "conversations": conversations })),
        Err(e) => e,
    }
}

/// A list of `n` generated conversations (the `large` fault).
pub fn large(db: &Db, n: usize) -> Value {
    let mut rng = Rng::new(n as u64);
    let owner = &db.customers[0];
    let conversations: Vec<Value> = (1..=n).map(|i| data::conversation(&mut rng, i, owner, &db.departments)).collect();
    json!({ "conversations": conversations })
}

fn create(db: &mut Db, call: &Call) -> Reply {
    let Some(message) = call.param("message").map(str::to_string) else { return Reply::missing("message") };
    let owner_ident = call.param("useridentifier").unwrap_or("").to_string();
    if !owner_ident.is_empty() && !owner_ident.contains('@') && db.customer(&owner_ident).is_none() {
        return Reply::error(400, &format!("Given e-mail address {owner_ident} is invalid: No domain part found"));
    }
    let department = call.param("department").unwrap_or("dep01").to_string();
    let Some(dep) = db.departments.iter().find(|d| d["departmentid"] == department.as_str()).cloned() else {
        return Reply::not_found("Department");
    };
    let n = db.conversations.len() + 1;
    let owner = db.customer(&owner_ident).cloned().unwrap_or_else(|| {
        let mut c = db.customers[0].clone();
        c.email = owner_ident.clone();
        c.firstname = owner_ident.split('@').next().unwrap_or("").to_string();
        c.lastname = String::new();
        c
    });
    let mut rng = Rng::new(n as u64 + 7);
    let mut conv = data::conversation(&mut rng, n, &owner, std::slice::from_ref(&dep));
    let id = db.new_id("c");
    conv["conversationid"] = json!(id);
    conv["status"] = json!(call.param("status").unwrap_or("N"));
    conv["subject"] = json!(call.param("subject").unwrap_or(""));
    conv["tags"] = Value::Null;
    conv["datecreated"] = json!("2026-11-21 00:00:00");
    db.messages.insert(id.clone(), vec![json!({"messagegroupid": db.next_id.to_string(), "userid": owner.userid, "rtype": "M", "rstatus": "P",
        "datecreated": "2026-11-21 00:00:00", "datefinished": "2026-11-21 00:00:00",
        "messages": [{"messageid": format!("m{}", db.next_id), "userid": owner.userid, "rtype": "M", "datecreated": "2026-11-21 00:00:00", "message": message}]})]);
    db.conversations.push(conv.clone());
    Reply::ok(conv)
}

fn add_message(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(message) = call.param("message").map(str::to_string) else { return Reply::missing("message") };
    let rtype = call.param("type").unwrap_or("M").to_string();
    if !["M", "N"].contains(&rtype.as_str()) {
        return Reply::error(400, "type must be M or N");
    }
    let user = call.param("useridentifier").unwrap_or("").to_string();
    with(db, id, |db, i| {
        let cid = db.conversations[i]["conversationid"].as_str().unwrap_or_default().to_string();
        let mid = db.new_id("m");
        let at = "2026-11-21 00:00:00";
        db.messages.entry(cid).or_default().push(json!({"messagegroupid": mid.replace('m', "mg"), "userid": user, "rtype": rtype, "rstatus": "P",
            "datecreated": at, "datefinished": at, "messages": [{"messageid": mid, "userid": user, "rtype": rtype, "datecreated": at, "message": message}]}));
        Reply::done()
    })
}

fn tag(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(name) = call.param("name").map(str::to_string) else { return Reply::missing("name") };
    let Some(tag_id) = db.tags.iter().find(|t| t["name"] == name.as_str()).and_then(|t| t["id"].as_str()).map(str::to_string) else {
        return Reply::not_found("Tag");
    };
    let adding = call.method == "POST";
    with(db, id, |db, i| {
        let mut ids = tag_ids(&db.conversations[i]);
        ids.retain(|t| *t != tag_id);
        if adding {
            ids.push(tag_id);
        }
        db.conversations[i]["tags"] = if ids.is_empty() { Value::Null } else { json!(ids.join(",")) };
        Reply::done()
    })
}
