//! `check` and `hash-key`: the shipped configs pass, and each broken config under
//! `tests/fixtures/configs/` fails naming the field its first line promises.

use std::path::Path;
use std::process::{Command, Stdio};

fn gateway_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liveagent-gateway"))
}

#[test]
fn shipped_configs_pass_check() {
    for name in ["config/gateway.yaml", "config/gateway.example.yaml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        let out = gateway_cmd().arg("check").arg("--config").arg(&path).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn broken_configs_name_the_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect =
            text.lines().next().and_then(|l| l.strip_prefix("# expect: ")).unwrap_or_else(|| panic!("{path:?} has no expect line"));
        let out = gateway_cmd().arg("check").arg("--config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path:?} should fail: {stderr}");
        assert!(stderr.contains(expect), "{path:?}: expected {expect:?} in\n{stderr}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} broken configs");
}

#[test]
fn check_lists_every_problem_and_warns_on_plain_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "listen: x\nupstream: {url: \"http://h\", connect_timeout: soon}\nkeys: [{id: a, key: plain}]\n").unwrap();
    let out = gateway_cmd().arg("check").arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: listen:") && stderr.contains("error: upstream.connect_timeout:"), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    std::fs::write(&path, "upstream: {url: \"http://h\"}\nkeys: [{id: a, key: plain}]\n").unwrap();
    let out = gateway_cmd().arg("check").arg("--config").arg(&path).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: keys[0].key: plain-text key"));
}

#[test]
fn hash_key_prints_the_digest() {
    use std::io::Write;
    let mut child = gateway_cmd().arg("hash-key").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"test\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}
