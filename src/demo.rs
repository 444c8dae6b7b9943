//! Owns `liveagent-gateway demo`: the simulator in-process, the gateway in front of it with
//! demo keys, and ready-to-paste `curl` lines, each with the answer it should give.

use crate::proxy::StartError;
use clap::Args;
#[cfg(feature = "demo")]
use std::net::SocketAddr;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Client-facing address of the gateway.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Admin address (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub admin_listen: String,
    /// Address of the simulator (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_listen: String,
}

/// The key the simulator (standing in for LiveAgent) accepts. Clients never see it: the
/// gateway substitutes it for their demo keys.
#[cfg(feature = "demo")]
const SIM_KEY: &str = "sim-secret-key";

#[cfg(feature = "demo")]
fn demo_config(listen: &str, admin: &str, sim: SocketAddr) -> String {
    format!(
        r#"listen: "{listen}"
admin_listen: "{admin}"
upstream:
  url: "http://{sim}"
  apikey: "{SIM_KEY}"
  read_timeout: "5s"
limits: {{per_second: 50, burst: 100}}
log: {{level: "info", format: "text"}}
keys:
  - {{id: "demo", key: "demo-key"}}
  - {{id: "throttled", key: "demo-throttled", limits: {{per_second: 1, burst: 2}}}}
  - {{id: "reader", key: "demo-readonly", allow: {{methods: [GET]}}}}
"#
    )
}

/// The curl lines, as (what it shows, the text its output contains, command).
pub fn curl_lines(gw: &str, admin: &str) -> Vec<(&'static str, String, String)> {
    vec![
        (
            "JSON, passed through byte for byte",
            "HTTP/1.1 200".into(),
            format!("curl -si 'http://{gw}/api/customers?apikey=demo-key&limitcount=2'"),
        ),
        (
            "XML for an email identifier",
            "<email>john@example.com</email>".into(),
            format!("curl -si 'http://{gw}/api/customers/john@example.com.xml?apikey=demo-key'"),
        ),
        ("YAML", "groupname: VIP".into(), format!("curl -si 'http://{gw}/api/customers/john@example.com/groups.yaml?apikey=demo-key'")),
        ("a refused key", "HTTP/1.1 401".into(), format!("curl -si 'http://{gw}/api/customers?apikey=wrong-key'")),
        (
            "a read-only key trying to write",
            "HTTP/1.1 403".into(),
            format!("curl -si -X POST -d 'apikey=demo-readonly' -d 'name=VIP' 'http://{gw}/api/customers/john@example.com/groups'"),
        ),
        (
            "a throttled key (burst 2, then 429)",
            "429".into(),
            format!(
                "for i in 1 2 3 4; do curl -s -o /dev/null -w '%{{http_code}} ' 'http://{gw}/api/tags?apikey=demo-throttled'; done; echo"
            ),
        ),
        (
            "the metrics",
            "liveagent_gateway_requests_total".into(),
            format!("curl -s 'http://{admin}/metrics' | grep '^liveagent_gateway_requests_total'"),
        ),
    ]
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("--sim-listen {0:?} is not an address")]
    SimAddress(String),
    #[error("simulator: {0}")]
    Simulator(std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
}

#[cfg(feature = "demo")]
pub fn run(args: DemoArgs) -> Result<(), DemoError> {
    let sim_addr: SocketAddr = args.sim_listen.parse().map_err(|_| DemoError::SimAddress(args.sim_listen.clone()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    // The simulator gets its own runtime: pingora owns the main thread and its own runtimes.
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(tx.send(Err(e))),
        };
        rt.block_on(async move {
            match liveagent_sim::start(sim_addr, liveagent_sim::SimOptions { apikey: SIM_KEY.into() }).await {
                Ok(sim) => {
                    let _ = tx.send(Ok(sim.addr()));
                    std::future::pending::<()>().await;
                }
                Err(e) => drop(tx.send(Err(e))),
            }
        });
    });
    let started = rx.recv().map_err(|_| std::io::Error::other("the simulator's thread ended"));
    let sim = started.and_then(|r| r).map_err(DemoError::Simulator)?;
    let text = demo_config(&args.listen, &args.admin_listen, sim);
    let loaded = crate::config::from_yaml(&text, std::path::Path::new(".")).map_err(StartError::Config)?;
    crate::proxy::server::init_logging(&loaded.config.log.level, loaded.config.log.json);
    println!("liveagent-gateway demo");
    println!("  LiveAgent simulator: http://{sim} (its key stays inside the gateway)");
    println!("  gateway:             http://{}", args.listen);
    println!("  metrics:             http://{}/metrics", args.admin_listen);
    println!("  demo keys:           demo-key (full access), demo-throttled (1/s, burst 2), demo-readonly (GET only)");
    println!();
    for (what, expect, cmd) in curl_lines(&args.listen, &args.admin_listen) {
        println!("# {what} (expect: {expect})");
        println!("{cmd}");
    }
    println!();
    println!("# ready");
    Ok(crate::proxy::run(loaded.config, crate::proxy::ServerOptions::default())?)
}
