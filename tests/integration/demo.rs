//! `liveagent-gateway demo`: every printed curl line gives the answer it promises.

use crate::util::free_port;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread")]
async fn demo_curl_lines_do_what_they_say() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()),
        "curl is needed (the test command installs it)"
    );
    let (port, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveagent-gateway"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "# ready" {
            break;
        }
        printed.push(line);
    }
    let ok = crate::util::eventually(30, || async move { reqwest::get(format!("http://127.0.0.1:{admin}/healthz")).await.is_ok() }).await;
    assert!(ok && tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok(), "demo did not start");
    let mut ran = 0;
    for pair in printed.windows(2) {
        let Some(expect) = pair[0].split("(expect: ").nth(1).and_then(|s| s.strip_suffix(')')) else { continue };
        let out = Command::new("bash").arg("-c").arg(&pair[1]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(expect), "`{}` should print {expect:?}, printed:\n{stdout}", pair[1]);
        ran += 1;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ran >= 7, "only {ran} curl lines");
}
