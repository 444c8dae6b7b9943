//! Owns the v1 API surface: one match from (method, path segments) to a handler, and the
//! small reply helpers every handler shares.

mod conversations;
pub use conversations::large as conversations_large;
mod customers;
mod reports;
mod resources;

use crate::data::Db;
use crate::json;
use crate::request::Call;
use serde_json::Value;

/// A handler's answer: HTTP status and the payload inside `{"response": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub payload: Value,
}

impl Reply {
    pub fn ok(payload: Value) -> Reply {
        Reply { status: 200, payload }
    }
    pub fn done() -> Reply {
        Reply::ok(json::ok())
    }
    pub fn error(status: u16, message: &str) -> Reply {
        Reply { status, payload: json::error(status, message) }
    }
    pub fn not_found(what: &str) -> Reply {
        Reply::error(404, &format!("{what} not found"))
    }
    pub fn missing(param: &str) -> Reply {
        Reply::error(400, &format!("Missing required parameter: {param}"))
    }
}

/// `items[from..from+count]` with the count from `count_param` (default `default`, at most
/// `max`) and the offset from `from_param`.
pub fn page(items: Vec<Value>, call: &Call, count_param: &str, from_param: &str, default: usize, max: usize) -> Result<Vec<Value>, Reply> {
    let number = |name: &str, default: usize| match call.param(name) {
        None => Ok(default),
        Some(v) => v.trim().parse::<usize>().map_err(|_| Reply::error(400, &format!("Parameter {name} must be a number"))),
    };
    let count = number(count_param, default)?.min(max);
    let from = number(from_param, 0)?;
    Ok(items.into_iter().skip(from).take(count).collect())
}

/// Routes one authenticated call.
pub fn dispatch(db: &mut Db, call: &Call) -> Reply {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    match (call.method.as_str(), segs.as_slice()) {
        (_, ["customers", ..] | ["customersgroups", ..]) => customers::dispatch(db, call, &segs),
        (_, ["conversations", ..]) => conversations::dispatch(db, call, &segs),
        (_, ["reports", ..]) => reports::dispatch(db, call, &segs),
        _ => resources::dispatch(db, call, &segs),
    }
}

/// The answer for a path the API has, called with a method it does not take.
pub fn unknown(call: &Call) -> Reply {
    Reply::error(404, &format!("Unknown API method {} /{}", call.method, call.segments.join("/")))
}
