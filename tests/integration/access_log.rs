//! The access log off the request path: lines reach a file in batches, a graceful stop writes
//! what is pending, SIGUSR1 reopens the file after logrotate moved it.

use crate::util::*;

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_log_is_batched_reopened_and_flushed_at_a_stop() {
    let sim = sim().await;
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("access.log");
    // A flush interval longer than the test: only a full buffer, a reopen or the stop write.
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen: \"127.0.0.1:{}\"\nadmin_listen: \"127.0.0.1:{}\"\nlog: {{level: info, access: \"{}\", flush: 60s, buffer: 1024}}\nupstream:\n  url: \"{}\"\n{}",
        free_port(),
        free_port(),
        path.display(),
        sim.base_url(),
        substituted_keys()
    );
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    let mut gw = start_in(dir).await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let resp = client
            .get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}")))
            .header("x-request-id", format!("first-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Three lines of about 230 bytes: under the 1,024-byte buffer, so still pending.
    assert!(lines(&path).is_empty(), "written before the buffer filled or the flush was due");
    // Logrotate moves the file and signals: the pending lines go to the new file.
    std::fs::rename(&path, logs.path().join("access.log.1")).unwrap();
    gw.signal("USR1");
    assert!(eventually(5, || async { path.exists() }).await, "reopened");
    let written = eventually(5, || async { lines(&path).len() == 3 }).await;
    assert!(written, "{:?}", lines(&path));
    let first = lines(&path);
    assert_eq!(first[0]["request_id"], "first-0");
    assert_eq!((first[0]["key_id"].as_str(), first[0]["status"].as_u64()), (Some("client"), Some(200)));
    // More than a buffer's worth wakes the writer before the flush is due.
    for i in 0..5 {
        client.get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).header("x-request-id", format!("second-{i}")).send().await.unwrap();
    }
    assert!(eventually(5, || async { lines(&path).len() == 8 }).await, "{:?}", lines(&path));
    // The last one stays pending until the stop writes it.
    client.get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).header("x-request-id", "last").send().await.unwrap();
    gw.signal("TERM");
    assert!(gw.wait_exit(20).await.is_some(), "the gateway stopped");
    let all = lines(&path);
    assert_eq!(all.len(), 9, "{all:?}");
    assert_eq!(all[8]["request_id"], "last");
    assert!(!std::fs::read_to_string(&path).unwrap().contains(CLIENT_KEY));
    assert!(!gw.logs().contains("\"request_id\""), "access lines go to the file, not stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_writes_its_access_log() {
    // `run --daemon` forks after the configuration loaded: the writer must run in the child.
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let path = dir.path().join("access.log");
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nadmin_listen: \"127.0.0.1:{admin}\"\nlog: {{level: info, access: \"{}\", flush: 100ms}}\nupstream:\n  url: \"{}\"\n{}",
        path.display(),
        sim.base_url(),
        substituted_keys()
    );
    let config_path = dir.path().join("gateway.yaml");
    std::fs::write(&config_path, config).unwrap();
    let pid_file = dir.path().join("gw.pid");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-gateway"))
        .arg("run")
        .arg("--daemon")
        .arg("--config")
        .arg(&config_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--upgrade-sock")
        .arg(dir.path().join("upgrade.sock"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let url = format!("http://127.0.0.1:{port}/api/tags?apikey={CLIENT_KEY}");
    let up = eventually(20, || async { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) }).await;
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default().trim().to_string();
    let stop = || {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(&pid).status();
    };
    if !up {
        stop();
        panic!("the daemon did not answer");
    }
    let written = eventually(5, || async { !lines(&path).is_empty() }).await;
    stop();
    assert!(written, "the daemon's access lines never reached the file");
    assert_eq!(lines(&path)[0]["status"], 200);
}
