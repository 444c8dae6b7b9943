//! Owns the customers API (`/customers…`) and customer groups (`/customersgroups…`).

use super::{page, unknown, Reply};
use crate::data::{fields_list, Customer, Db};
use crate::request::Call;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn dispatch(db: &mut Db, call: &Call, segs: &[&str]) -> Reply {
    match (call.method.as_str(), segs) {
        ("GET", ["customers"]) => list(db, call),
        ("POST", ["customers"]) => create(db, call),
        ("GET", ["customers", id]) => db.customer(id).map_or_else(|| Reply::not_found("Customer"), |c| Reply::ok(c.detail())),
        ("PUT", ["customers", id]) => update(db, id, call),
        ("DELETE", ["customers", id]) => {
            let before = db.customers.len();
            db.customers.retain(|c| !c.matches(id));
            if db.customers.len() < before {
                Reply::done()
            } else {
                Reply::not_found("Customer")
            }
        }
        ("GET", ["customers", id, "groups"]) => groups_of(db, id),
        ("POST", ["customers", id, "groups"]) => add_group(db, id, call),
        ("DELETE", ["customers", id, "groups"]) => remove_group(db, id, call),
        ("GET", ["customers", id, "fields"]) => match db.customer(id) {
            Some(c) => Reply::ok(json!({"customfields": fields_list(&c.fields)})),
            None => Reply::not_found("Customer"),
        },
        ("POST", ["customers", id, "fields"]) => set_fields(db, id, call),
        ("DELETE", ["customers", id, "fields"]) => {
            let Some(code) = call.param("code").map(str::to_string) else { return Reply::missing("code") };
            match db.customer_mut(id) {
                Some(c) => {
                    c.fields.remove(&code);
                    Reply::done()
                }
                None => Reply::not_found("Customer"),
            }
        }
        ("GET", ["customersgroups"]) => Reply::ok(json!({"groups": db.groups})),
        ("POST", ["customersgroups"]) => {
            let Some(name) = call.param("name") else { return Reply::missing("name") };
            let id = db.new_id("g");
            let group = json!({"id": id, "name": name, "color": call.param("color").unwrap_or("FFFFFF"), "bg_color": call.param("bg_color").unwrap_or("000000")});
            db.groups.push(group.clone());
            Reply::ok(group)
        }
        ("GET", ["customersgroups", id]) => by_id(&db.groups, "id", id).map_or_else(|| Reply::not_found("Group"), Reply::ok),
        ("PUT", ["customersgroups", id]) => match db.groups.iter_mut().find(|g| g["id"] == *id) {
            Some(g) => {
                for field in ["name", "color", "bg_color"] {
                    if let Some(v) = call.param(field) {
                        g[field] = json!(v);
                    }
                }
                Reply::done()
            }
            None => Reply::not_found("Group"),
        },
        ("DELETE", ["customersgroups", id]) => {
            let before = db.groups.len();
            db.groups.retain(|g| g["id"] != *id);
            for c in &mut db.customers {
                c.groups.retain(|g| g != id);
            }
            if db.groups.len() < before {
                Reply::done()
            } else {
                Reply::not_found("Group")
            }
        }
        _ => unknown(call),
    }
}

pub fn by_id(items: &[Value], field: &str, id: &str) -> Option<Value> {
    items.iter().find(|v| v[field] == id).cloned()
}

fn list(db: &Db, call: &Call) -> Reply {
    let contains = |value: &str, param: &str| call.param(param).is_none_or(|p| value.to_lowercase().contains(&p.to_lowercase()));
    let from = call.param("datecreatedfrom");
    let to = call.param("datecreatedto");
    let items: Vec<Value> = db
        .customers
        .iter()
        .filter(|c| contains(&c.email, "email") && contains(&c.firstname, "firstname") && contains(&c.lastname, "lastname"))
        .filter(|c| call.param("phone").is_none_or(|p| c.phone.contains(p)))
        .filter(|c| call.param("companyid").is_none_or(|p| c.companyid.as_deref() == Some(p)))
        .filter(|c| from.is_none_or(|f| c.datecreated.as_str() >= f) && to.is_none_or(|t| c.datecreated.as_str() <= t))
        .map(Customer::list_item)
        .collect();
    match page(items, call, "limitcount", "limitfrom", 100, 1000) {
        Ok(customers) => Reply::ok(json!({ "customers": customers })),
        Err(e) => e,
    }
}

/// `name` is "first last", as LiveAgent's form sends it.
fn split_name(name: &str) -> (String, String) {
    let mut parts = name.trim().splitn(2, ' ');
    (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").trim().to_string())
}

fn create(db: &mut Db, call: &Call) -> Reply {
    let email = call.param("email").unwrap_or("").to_string();
    let phone = call.param("phone").unwrap_or("").to_string();
    if email.is_empty() && phone.is_empty() {
        return Reply::missing("email");
    }
    if !email.is_empty() && !email.contains('@') {
        return Reply::error(400, &format!("Given e-mail address {email} is invalid: No domain part found"));
    }
    if !email.is_empty() && db.customer(&email).is_some() {
        return Reply::error(400, &format!("Customer with email {email} already exists"));
    }
    let gender = call.param("gender").unwrap_or("M");
    let role = call.param("role").unwrap_or("V");
    if !["M", "F"].contains(&gender) || !["V", "R"].contains(&role) {
        return Reply::error(400, "gender must be M or F and role V or R");
    }
    let (firstname, lastname) = split_name(call.param("name").unwrap_or(""));
    let n = db.customers.len() + 1000;
    let id = db.new_id("cid");
    let mut customer = Customer {
        contactid: id.clone(),
        email,
        firstname,
        lastname,
        systemname: format!("system{n}"),
        authtoken: format!("{:030}", db.next_id),
        browsercookiename: if role == "R" { "V_auth".into() } else { "LaVisitorId".into() },
        role: role.into(),
        gender: gender.into(),
        userid: id.replace("cid", "uid"),
        datecreated: "2026-11-21 00:00:00".into(),
        phone,
        note: call.param("note").unwrap_or("").to_string(),
        companyid: call.param("companyid").map(str::to_string),
        fields: BTreeMap::new(),
        groups: Vec::new(),
    };
    if let Some(fields) = call.param("customfields") {
        match parse_fields(fields) {
            Ok(f) => customer.fields = f,
            Err(r) => return r,
        }
    }
    let detail = customer.detail();
    db.customers.push(customer);
    Reply::ok(detail)
}

fn update(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(c) = db.customer_mut(id) else { return Reply::not_found("Customer") };
    if let Some(name) = call.param("name") {
        (c.firstname, c.lastname) = split_name(name);
    }
    for (field, slot) in
        [("email", &mut c.email), ("gender", &mut c.gender), ("role", &mut c.role), ("phone", &mut c.phone), ("note", &mut c.note)]
    {
        if let Some(v) = call.param(field) {
            *slot = v.to_string();
        }
    }
    Reply::done()
}

fn groups_of(db: &Db, id: &str) -> Reply {
    let Some(c) = db.customer(id) else { return Reply::not_found("Customer") };
    let groups: Vec<Value> = c
        .groups
        .iter()
        .filter_map(|gid| db.groups.iter().find(|g| g["id"] == *gid))
        .map(|g| json!({"groupid": g["id"], "groupname": g["name"]}))
        .collect();
    Reply::ok(json!({ "groups": groups }))
}

/// Adds the customer to the group called `name`, creating the group when it is new.
fn add_group(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(name) = call.param("name").map(str::to_string) else { return Reply::missing("name") };
    if db.customer(id).is_none() {
        return Reply::not_found("Customer");
    }
    let gid = match db.groups.iter().find(|g| g["name"] == name.as_str()) {
        Some(g) => g["id"].as_str().unwrap_or_default().to_string(),
        None => {
            let gid = db.new_id("g");
            db.groups.push(json!({"id": gid, "name": name, "color": "FFFFFF", "bg_color": "000000"}));
            gid
        }
    };
    if let Some(c) = db.customer_mut(id) {
        if !c.groups.contains(&gid) {
            c.groups.push(gid);
        }
    }
    Reply::done()
}

fn remove_group(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(name) = call.param("name").map(str::to_string) else { return Reply::missing("name") };
    let gid = db.groups.iter().find(|g| g["name"] == name.as_str()).and_then(|g| g["id"].as_str()).map(str::to_string);
    let Some(c) = db.customer_mut(id) else { return Reply::not_found("Customer") };
    match gid {
        Some(gid) if c.groups.contains(&gid) => {
            c.groups.retain(|g| *g != gid);
            Reply::done()
        }
        _ => Reply::not_found("Group"),
    }
}

pub fn parse_fields(text: &str) -> Result<BTreeMap<String, String>, Reply> {
    let parsed: Vec<Value> =
        serde_json::from_str(text).map_err(|_| Reply::error(400, "customfields must be a JSON list of {code, value}"))?;
    Ok(parsed
        .iter()
        .filter_map(|f| {
            Some((
                f.get("code")?.as_str()?.to_string(),
                f.get("value").map_or(String::new(), |v| v.as_str().map_or(v.to_string(), str::to_string)),
            ))
        })
        .collect())
}

fn set_fields(db: &mut Db, id: &str, call: &Call) -> Reply {
    let Some(text) = call.param("customfields") else { return Reply::missing("customfields") };
    let fields = match parse_fields(text) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(c) = db.customer_mut(id) else { return Reply::not_found("Customer") };
    c.fields.extend(fields);
    Reply::done()
}
