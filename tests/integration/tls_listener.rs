//! The gateway's own TLS listener: a client reaches LiveAgent over HTTPS with no other proxy
//! (TLS 1.3 and 1.2, SNI, ALPN `http/1.1`), `check` refuses a key that is not the
//! certificate's, and a renewed certificate takes over without a failed request.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CA that signs server certificates for `localhost`.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "gateway test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Ca { cert: params.self_signed(&key).unwrap(), key }
    }

    /// A fresh ECDSA P-256 certificate and key for `localhost`, written as `name`.crt/.key;
    /// returns the paths and the certificate's DER.
    fn issue(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, cert.der().to_vec())
    }

    fn client(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every handshake a full one: a resumed session shows the certificate it started with.
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// A gateway with both listeners; the certificate files are `cert` and `key` in `dir`.
async fn tls_gateway(sim: &liveagent_sim::Simulator, dir: tempfile::TempDir, cert: &Path, key: &Path) -> (GatewayProc, u16) {
    let (port, tls_port, admin_port) = (free_port(), free_port(), free_port());
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\nlisten_tls: \"127.0.0.1:{tls_port}\"\ntls: {{cert_file: \"{}\", key_file: \"{}\"}}\nadmin_listen: \"127.0.0.1:{admin_port}\"\nlog: {{level: info, format: json}}\nupstream:\n  url: \"{}\"\n{}",
        cert.display(),
        key.display(),
        sim.base_url(),
        substituted_keys() + "  - {id: load, key: load-key, limits: {per_second: 100000, burst: 100000}}\n"
    );
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    (start_in(dir).await, tls_port)
}

/// One request on a TLS connection; the status code.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(tls: &mut S, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if tls.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    read_answer(tls).await
}

/// Reads one answer with a Content-Length body; its status.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return 0;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        if buf.len() >= end + 4 + len {
            return head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        }
    }
}

async fn connect(
    connector: &tokio_rustls::TlsConnector,
    port: u16,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    connector.connect(rustls::pki_types::ServerName::try_from(name.to_string()).unwrap(), tcp).await
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_reach_liveagent_over_tls_with_no_other_proxy() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, der) = ca.issue(dir.path(), "first");
    let (gw, tls_port) = tls_gateway(&sim, dir, &cert, &key).await;
    for (versions, want) in [
        (&[&rustls::version::TLS13][..], rustls::ProtocolVersion::TLSv1_3),
        (&[&rustls::version::TLS12][..], rustls::ProtocolVersion::TLSv1_2),
    ] {
        let mut tls = connect(&ca.client(versions), tls_port, "localhost").await.unwrap_or_else(|e| panic!("{want:?}: {e}\n{}", gw.logs()));
        let (_, session) = tls.get_ref();
        assert_eq!(session.protocol_version(), Some(want));
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(
            session.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()),
            Some(der.clone()),
            "SNI localhost: the configured certificate"
        );
        for path in ["/api/tags", "/api/tags.xml", "/api/customers/cid00001.yaml"] {
            assert_eq!(get(&mut tls, &format!("{path}?apikey={CLIENT_KEY}")).await, 200, "{path} over {want:?}");
        }
        assert_eq!(get(&mut tls, "/api/tags?apikey=wrong").await, 401);
    }
    // The certificate names localhost only: a client asking for another name refuses it.
    assert!(connect(&ca.client(&[&rustls::version::TLS13]), tls_port, "other.example").await.is_err());
    // Plain HTTP on the TLS port gets no answer, and is counted.
    let mut plain = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
    plain.write_all(b"GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_answer(&mut plain).await, 0);
    let failures = eventually(5, || async { gw.metric("liveagent_gateway_tls_handshake_failures_total").await >= 2.0 }).await;
    assert!(failures, "{}", gw.metrics().await);
    let expiry = gw.metric("liveagent_gateway_tls_certificate_expiry_timestamp_seconds{listener=\"client\"}").await;
    assert!(expiry > 1.7e9, "expiry {expiry}");
    // The plain listener still serves.
    assert_eq!(reqwest::get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_takes_over_without_a_failed_request() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key, old_der) = ca.issue(dir.path(), "live");
    let staging = tempfile::tempdir().unwrap();
    let (new_cert, new_key, new_der) = ca.issue(staging.path(), "renewed");
    let (gw, tls_port) = tls_gateway(&sim, dir, &cert, &key).await;
    let connector = ca.client(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A connection opened before the renewal and kept alive through it.
    let mut kept = connect(&connector, tls_port, "localhost").await.unwrap();
    assert_eq!(get(&mut kept, &format!("/api/tags?apikey={CLIENT_KEY}")).await, 200);
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (connector, ok, failed, stop) = (connector.clone(), ok.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // New connections (new handshakes) with two requests each.
                    match connect(&connector, tls_port, "localhost").await {
                        Ok(mut tls) => {
                            for _ in 0..2 {
                                let counter = if get(&mut tls, "/api/tags?apikey=load-key").await == 200 { &ok } else { &failed };
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Renewal as certbot or cert-manager does it: the key, then the certificate, each
    // replaced whole by a rename.
    for (from, to) in [(&new_key, &key), (&new_cert, &cert)] {
        let tmp = to.with_extension("tmp");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
    let served = |want: Vec<u8>| {
        let connector = connector.clone();
        async move {
            let tls = connect(&connector, tls_port, "localhost").await;
            tls.is_ok_and(|t| t.get_ref().1.peer_certificates().and_then(|c| c.first()).is_some_and(|c| c.as_ref() == want.as_slice()))
        }
    };
    let renewed = eventually(10, || served(new_der.clone())).await;
    assert!(renewed, "the renewed certificate was never served: {}", gw.logs());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(!served(old_der).await);
    assert_eq!(get(&mut kept, "/api/tags?apikey=load-key").await, 200, "the connection from before still serves");
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("certificate renewal under load: {ok} requests answered, {failed} failed");
    assert!(ok > 20, "too little load to tell: {ok}");
    assert_eq!(failed, 0, "{}", gw.logs());
    assert_eq!(
        gw.metric("liveagent_gateway_config_reloads_total{result=\"ok\"}").await,
        1.0,
        "one reload: the half-renewed pair is refused, not served"
    );
}

#[test]
fn check_refuses_a_key_that_is_not_the_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, _, _) = ca.issue(dir.path(), "a");
    let (_, other_key, _) = ca.issue(dir.path(), "b");
    let config = dir.path().join("gateway.yaml");
    let write = |key: &Path| {
        std::fs::write(
            &config,
            format!("listen: null\nlisten_tls: \"127.0.0.1:8443\"\ntls: {{cert_file: \"{}\", key_file: \"{}\"}}\nupstream: {{url: \"http://127.0.0.1:1\"}}\nkeys: [{{id: a, key: k}}]\n", cert.display(), key.display()),
        )
        .unwrap();
    };
    let check =
        || std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-gateway")).arg("check").arg("--config").arg(&config).output().unwrap();
    write(&other_key);
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls.key_file:"), "{}", String::from_utf8_lossy(&out.stderr));
    write(&dir.path().join("a.key"));
    let out = check();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A certificate about to expire passes, with a warning.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2026, 12, 10);
    let soon = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("a.crt"), soon.pem()).unwrap();
    std::fs::write(dir.path().join("a.key"), key.serialize_pem()).unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stderr.contains("warning: tls.cert_file:")
            && (stderr.contains("expires in") || stderr.contains("has expired")),
        "{stderr}"
    );
}
