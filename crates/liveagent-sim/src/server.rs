//! Owns the simulator's HTTP server: its accept loop (which can cut a connection without an
//! answer), the control routes, request recording and fault handling around `api::dispatch`.

use crate::api::{self, Reply};
use crate::data::Db;
use crate::faults::{Fault, FaultRequest, Global};
use crate::{json, request};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tower::ServiceExt;

const RECORDED: usize = 200;

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The v1 API key LiveAgent accepts.
    pub apikey: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { apikey: "sim-secret-key".into() }
    }
}

/// One request as the simulator received it.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub apikey_header: Option<String>,
    pub accept: Option<String>,
    pub host: Option<String>,
    pub body: String,
}

struct SimState {
    options: SimOptions,
    db: Mutex<Db>,
    fault: Mutex<Option<Global>>,
    recorded: Mutex<VecDeque<Recorded>>,
}

/// A request extension the accept loop listens to: notified, it drops the connection.
#[derive(Clone)]
struct Cut(Arc<Notify>);

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    state: Arc<SimState>,
}

impl Simulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, oldest first (at most the last 200).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds `addr` (port 0 picks a free port) and serves until `shutdown`.
pub async fn start(addr: SocketAddr, options: SimOptions) -> std::io::Result<Simulator> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state =
        Arc::new(SimState { options, db: Mutex::new(Db::seeded()), fault: Mutex::new(None), recorded: Mutex::new(VecDeque::new()) });
    let router = Router::new().fallback(handle).with_state(state.clone());
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, router.clone()));
                }
            }
        }
    });
    Ok(Simulator { addr, stop: Some(stop), task, state })
}

async fn serve_connection(stream: tokio::net::TcpStream, router: Router) {
    let cut = Arc::new(Notify::new());
    let signal = cut.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(Cut(signal.clone()));
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // Dropping the connection closes the socket with no response at all.
        _ = cut.notified() => {}
    }
}

fn respond(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap_or_default()
}

fn reply(r: Reply) -> Response {
    respond(r.status, "application/json", json::envelope(r.payload))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn handle(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return reply(Reply::error(413, "Request body too large"));
    };
    let path = parts.uri.path().to_string();
    if let Some(control) = path.strip_prefix("/_sim/") {
        return control_route(&state, parts.method.as_str(), control, &body);
    }
    let headers = &parts.headers;
    if let Ok(mut rec) = state.recorded.lock() {
        if rec.len() == RECORDED {
            rec.pop_front();
        }
        rec.push_back(Recorded {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            apikey_header: header_str(headers, "apikey"),
            accept: header_str(headers, "accept"),
            host: header_str(headers, "host"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let fault = match header_str(headers, "x-sim-fault") {
        Some(h) => h.parse::<Fault>().ok(),
        None => next_global_fault(&state),
    };
    match fault {
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Cut) => {
            if let Some(Cut(signal)) = parts.extensions.get::<Cut>() {
                signal.notify_one();
            }
            return std::future::pending().await;
        }
        Some(Fault::Error(status)) => return reply(Reply::error(status, "Internal server error: Undefined variable: ticket")),
        Some(Fault::Html(status)) => {
            let page = format!("<html><head><title>{status}</title></head><body><b>Fatal error</b>: Uncaught Exception in /var/www/liveagent/api/index.php:42</body></html>");
            return respond(status, "text/html; charset=UTF-8", page);
        }
        Some(Fault::InvalidJson) => return respond(200, "application/json", "{\"response\":{\"customers\":[{\"contactid\":"),
        Some(Fault::Large(n)) => {
            let db = state.db.lock().unwrap_or_else(|p| p.into_inner());
            return reply(Reply::ok(api::conversations_large(&db, n)));
        }
        None => {}
    }
    let content_type = header_str(headers, "content-type");
    let apikey_header = header_str(headers, "apikey");
    // PHP answers HEAD like GET (the server drops the body).
    let method = if parts.method == axum::http::Method::HEAD { "GET" } else { parts.method.as_str() };
    let Some(call) = request::parse(method, &path, parts.uri.query(), content_type.as_deref(), apikey_header.as_deref(), body).await else {
        return respond(404, "text/html; charset=UTF-8", "<html><body><h1>404 Not Found</h1></body></html>");
    };
    match call.apikey() {
        None => return reply(Reply::error(401, "Api key is not found in request")),
        Some(k) if k != state.options.apikey => return reply(Reply::error(401, "Invalid API key")),
        Some(_) => {}
    }
    let mut db = state.db.lock().unwrap_or_else(|p| p.into_inner());
    reply(api::dispatch(&mut db, &call))
}

fn next_global_fault(state: &SimState) -> Option<Fault> {
    let mut slot = state.fault.lock().unwrap_or_else(|p| p.into_inner());
    let fault = slot.as_mut().and_then(Global::take);
    if slot.as_ref().is_some_and(Global::exhausted) {
        *slot = None;
    }
    fault
}

fn control_route(state: &SimState, method: &str, route: &str, body: &Bytes) -> Response {
    match (method, route) {
        ("POST", "faults") => {
            let parsed = serde_json::from_slice::<FaultRequest>(body).map_err(|e| e.to_string()).and_then(|r| Global::new(&r));
            match parsed {
                Ok(g) => {
                    *state.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(g);
                    respond(200, "application/json", "{\"ok\":true}")
                }
                Err(e) => respond(400, "application/json", serde_json::json!({"error": e}).to_string()),
            }
        }
        ("DELETE", "faults") => {
            *state.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
            respond(200, "application/json", "{\"ok\":true}")
        }
        ("GET", "requests") => {
            let rec: Vec<Recorded> = state.recorded.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default();
            respond(200, "application/json", serde_json::to_string(&rec).unwrap_or_default())
        }
        ("DELETE", "requests") => {
            if let Ok(mut r) = state.recorded.lock() {
                r.clear();
            }
            respond(200, "application/json", "{\"ok\":true}")
        }
        _ => respond(404, "application/json", "{\"error\":\"unknown control route\"}"),
    }
}
