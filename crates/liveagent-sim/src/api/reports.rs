//! Owns the reports API: agents, channels, departments, tags, ranking, and the per-channel
//! availability, load and SLA reports, generated deterministically from the seeded data.

use super::{page, unknown, Reply};
use crate::data::{datetime, Db, Rng};
use crate::request::Call;
use serde_json::{json, Value};

const CHANNELS: &[&str] = &["chats", "calls", "tickets"];

pub fn dispatch(db: &mut Db, call: &Call, segs: &[&str]) -> Reply {
    if call.method != "GET" {
        return unknown(call);
    }
    let mut rng = Rng::new(segs.join("/").len() as u64);
    let counts = |rng: &mut Rng| json!({"answers": rng.below(200).to_string(), "chat_answers": rng.below(80).to_string(), "chats": rng.below(60).to_string(), "calls": rng.below(30).to_string(), "rewards": rng.below(10).to_string(), "punishments": rng.below(3).to_string()});
    let merge = |mut a: Value, b: Value| {
        if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
            a.extend(b.clone());
        }
        a
    };
    let (key, rows): (&str, Vec<Value>) = match segs {
        ["reports", "agents"] => ("agents", db.agents.iter().map(|a| merge(json!({"id": a["userid"], "contactid": a["contactid"], "firstname": a["firstname"], "lastname": a["lastname"]}), counts(&mut rng))).collect()),
        ["reports", "channels"] => ("channels", ["E", "B", "C", "F"].iter().map(|c| merge(json!({"id": c, "channelName": c}), counts(&mut rng))).collect()),
        ["reports", "departments"] => ("departments", db.departments.iter().map(|d| merge(json!({"id": d["departmentid"], "departmentName": d["name"]}), counts(&mut rng))).collect()),
        ["reports", "tags"] => ("tags", db.tags.iter().map(|t| merge(json!({"id": t["id"], "tagName": t["name"]}), counts(&mut rng))).collect()),
        ["reports", "ranking"] => ("ranks", (1..=10).map(|i| {
            let c = &db.customers[i];
            json!({"id": format!("r{i}"), "rankingType": if i % 3 == 0 { "N" } else { "P" }, "datecreated": datetime(i as u64 * 9), "conversationid": format!("c{i:06}"),
                   "agentcontactid": "acid001", "agentEmail": "agent1@example.com", "agent": "Liam Novak", "contactid": c.contactid, "requesterEmail": c.email,
                   "requester": format!("{} {}", c.firstname, c.lastname), "comment": if i % 2 == 0 { "Great help" } else { "" }})
        }).collect()),
        ["reports", channel, kind] if CHANNELS.contains(channel) => match channel_report(db, &mut rng, kind) {
            Some(r) => r,
            None => return unknown(call),
        },
        ["reports", _, _] => return Reply::not_found("Channel"),
        _ => return unknown(call),
    };
    match page(rows, call, "limitcount", "limitfrom", 100, 1000) {
        Ok(rows) => Reply::ok(json!({ key: rows })),
        Err(e) => e,
    }
}

fn channel_report(db: &Db, rng: &mut Rng, kind: &str) -> Option<(&'static str, Vec<Value>)> {
    let days = |f: &mut dyn FnMut(String) -> Value| (0..7u64).map(|d| f(datetime(d * 24)[..10].to_string())).collect::<Vec<_>>();
    Some(match kind {
        "agentsavailability" => ("agentsavailability", db.agents.iter().map(|a| json!({"id": a["userid"], "userid": a["userid"], "firstname": a["firstname"], "lastname": a["lastname"], "contactid": a["contactid"],
            "departmentid": a["departmentid"], "department_name": "Support", "hours_online": format!("{}.5", rng.below(40)), "from_date": "2024-01-01", "to_date": "2024-01-07"})).collect()),
        "availability" => ("availability", days(&mut |date| json!({"date": date, "mins": rng.below(1440).to_string(), "pct": rng.below(100).to_string()}))),
        "load" => ("loads", days(&mut |date| json!({"date": date, "avgQueue": "1.5", "maxQueue": rng.below(9).to_string(), "minQueue": "0", "avgSlots": "4", "maxSlots": "8", "minSlots": "1", "avgService": "2.5", "maxService": "6", "minService": "0"}))),
        "slacompliance" => ("slacompliances", days(&mut |date| json!({"date": date, "fulfilled": rng.below(50).to_string(), "avgFulfilledTime": "300", "maxFulfilledTime": "900", "minFulfilledTime": "30",
            "unfulfilled": rng.below(5).to_string(), "avgUnfulfilledTime": "4000", "maxUnfulfilledTime": "8000", "minUnfulfilledTime": "3700"}))),
        "slalog" => ("slalogs", (1..=10).map(|i| json!({"id": format!("sl{i}"), "conversationid": format!("c{i:06}"), "departmentid": "dep01", "levelid": "lvl1", "sla": "3600",
            "date_created": datetime(i * 5), "date_closed": datetime(i * 5 + 1), "server_date_closed": datetime(i * 5 + 1), "date_due": datetime(i * 5 + 1), "server_date_due": datetime(i * 5 + 1),
            "sla_level_id": "lvl1", "agentid": "auid001", "req_contactid": format!("cid{i:05}")})).collect()),
        _ => return None,
    })
}
