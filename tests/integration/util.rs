//! Test harness: the simulator in-process on port 0, the gateway binary as a child process on
//! free loopback ports, and small HTTP helpers.

use liveagent_sim::{SimOptions, Simulator};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SIM_KEY: &str = "sim-secret-key";
pub const CLIENT_KEY: &str = "client-key-7c1f";
pub const READER_KEY: &str = "reader-key-93ab";
pub const TINY_KEY: &str = "tiny-key-5d20";

pub async fn sim() -> Simulator {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    liveagent_sim::start(addr, SimOptions { apikey: SIM_KEY.into() }).await.unwrap()
}

/// A loopback port nothing listens on right now. The gateway binds it a moment later; pingora
/// retries a busy port, so the short race cannot fail a test silently.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The default keys block: a full key, a read-only key and a key with a tiny quota.
pub fn default_keys() -> String {
    format!(
        "keys:\n  - {{id: client, key: \"{CLIENT_KEY}\"}}\n  - {{id: reader, key: \"{READER_KEY}\", allow: {{methods: [GET]}}}}\n  - {{id: tiny, key: \"{TINY_KEY}\", limits: {{per_second: 1, burst: 1}}}}\n"
    )
}

/// The default keys, with the gateway substituting LiveAgent's key for theirs.
pub fn substituted_keys() -> String {
    format!("  apikey: \"{SIM_KEY}\"\n{}", default_keys())
}

/// A real `redis-server` on a loopback port, killed on drop.
pub struct RedisProc {
    child: Child,
    pub port: u16,
}

impl RedisProc {
    pub async fn start(port: u16) -> RedisProc {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed (the test command installs it)");
        let up = eventually(10, || async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        assert!(up, "redis-server did not start on {port}");
        RedisProc { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct GatewayProc {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl GatewayProc {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gateway.yaml")
    }

    /// Everything the gateway wrote to stderr (its logs) so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `QUIT`, …) to the gateway process.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Waits up to `secs` for the process to exit; its exit code, or `None` if it did not.
    pub async fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Starts a second gateway on the same configuration that takes the listening sockets over
    /// from this one (`run --upgrade`) once this one gets SIGQUIT.
    pub fn spawn_upgrade(&self) -> Child {
        let stderr = std::fs::File::create(self.dir.path().join("stderr-upgrade.log")).unwrap();
        run_command(self.dir.path(), true).stdout(Stdio::null()).stderr(stderr).spawn().unwrap()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin)).await.unwrap().text().await.unwrap()
    }

    /// The value of one sample line of `/metrics`, 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the gateway in front of `upstream` with `extra` YAML appended (keys, limits, …).
pub async fn gateway(upstream: &str, extra: &str) -> GatewayProc {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nadmin_listen: \"127.0.0.1:{admin_port}\"\nlog: {{level: info, format: json}}\nupstream:\n  url: \"{upstream}\"\n  connect_timeout: \"500ms\"\n  read_timeout: \"1s\"\n{extra}"
    );
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    start_in(dir).await
}

/// Starts the gateway on the `gateway.yaml` already written in `dir`.
pub async fn start_in(dir: tempfile::TempDir) -> GatewayProc {
    let text = std::fs::read_to_string(dir.path().join("gateway.yaml")).unwrap();
    let addr_of = |key: &str| -> SocketAddr {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        line.split('"').nth(1).unwrap().parse().unwrap()
    };
    let (addr, admin) = (addr_of("listen:"), addr_of("admin_listen:"));
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = run_command(dir.path(), false).stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    let gw = GatewayProc { child, addr, admin, dir };
    wait_healthy(&gw).await;
    gw
}

/// `liveagent-gateway run` on the `gateway.yaml` in `dir`, with its pid file and upgrade socket there.
fn run_command(dir: &std::path::Path, upgrade: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveagent-gateway"));
    cmd.arg("run").arg("--config").arg(dir.join("gateway.yaml"));
    cmd.arg("--pid-file").arg(dir.join("gw.pid")).arg("--upgrade-sock").arg(dir.join("upgrade.sock"));
    if upgrade {
        cmd.arg("--upgrade");
    }
    cmd
}

async fn wait_healthy(gw: &GatewayProc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        let admin_ok = client.get(format!("http://{}/healthz", gw.admin)).send().await.is_ok_and(|r| r.status() == 200);
        if admin_ok && tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway did not start; its log:\n{}", gw.logs());
}

/// Polls `check` until it holds, for at most `secs` seconds (used for file-watch reloads).
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// POSTs a urlencoded form body.
pub async fn post_form(url: String, body: String) -> reqwest::Response {
    reqwest::Client::new().post(url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed").join(name)).unwrap()
}

/// Parses any of the three formats into JSON, so assertions can look at the data.
pub fn parse_any(content_type: &str, body: &[u8]) -> serde_json::Value {
    if content_type.starts_with("application/json") {
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
    } else if content_type.starts_with("application/yaml") {
        serde_norway::from_slice(body).unwrap_or_else(|e| panic!("not YAML ({e}): {}", String::from_utf8_lossy(body)))
    } else if content_type.starts_with("application/xml") {
        xml_to_json(body)
    } else {
        panic!("unexpected content type {content_type}: {}", String::from_utf8_lossy(body))
    }
}

/// A minimal XML reader for envelopes: the root's leaf children as strings, under `response`.
pub fn xml_to_json(body: &[u8]) -> serde_json::Value {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut map = serde_json::Map::new();
    let mut current: Option<(String, String)> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap_or_else(|e| panic!("malformed XML ({e}): {}", String::from_utf8_lossy(body))) {
            Event::Start(e) => current = Some((String::from_utf8_lossy(e.name().as_ref()).into_owned(), String::new())),
            Event::Text(t) => {
                if let Some((_, text)) = &mut current {
                    text.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, text)) = &mut current {
                    let name = r.decode().unwrap().into_owned();
                    match r.resolve_char_ref().unwrap() {
                        Some(c) => text.push(c),
                        None => text.push_str(quick_xml::escape::resolve_predefined_entity(&name).unwrap_or("?")),
                    }
                }
            }
            Event::End(_) => {
                if let Some((name, text)) = current.take() {
                    map.insert(name, serde_json::Value::String(text));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    serde_json::json!({ "response": map })
}
