//! An https LiveAgent: the gateway verifies its certificate against `upstream.ca_file`, sends
//! SNI and Host from the configured URL, and keeps the connection pooled.

use crate::util::*;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// A TLS front for the simulator with a fresh CA-signed certificate for `localhost`. Returns
/// its port, the CA's PEM, and the SNI names it has seen.
async fn tls_front(sim_addr: std::net::SocketAddr) -> (u16, String, Arc<Mutex<Vec<String>>>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                seen.lock().unwrap().push(tls.get_ref().1.server_name().unwrap_or("").to_string());
                let Ok(mut plain) = TcpStream::connect(sim_addr).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, ca.pem(), sni)
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_with_sni_host_and_a_private_ca() {
    let sim = sim().await;
    let (port, ca_pem, sni) = tls_front(sim.addr()).await;
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_path = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let extra = format!("  ca_file: \"{}\"\n{}", ca_path.display(), substituted_keys());
    let gw = gateway(&format!("https://localhost:{port}"), &extra).await;
    for _ in 0..3 {
        let resp = reqwest::get(gw.url(&format!("/api/customers/john@example.com.xml?apikey={CLIENT_KEY}"))).await.unwrap();
        assert_eq!(resp.status(), 200, "{}", gw.logs());
        // The documented record, then the fields later LiveAgent versions added.
        let documented = String::from_utf8(fixture("customer.xml")).unwrap();
        assert!(resp.text().await.unwrap().starts_with(documented.strip_suffix("</response>\n").unwrap()));
    }
    assert_eq!(sni.lock().unwrap().as_slice(), ["localhost"], "one TLS connection, pooled, with SNI");
    assert!(sim.requests().iter().all(|r| r.host.as_deref() == Some(format!("localhost:{port}").as_str())));

    // Without the private CA the certificate is refused: a 502, never a silent plaintext call.
    let untrusting = gateway(&format!("https://localhost:{port}"), &substituted_keys()).await;
    let refused = reqwest::get(untrusting.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).await.unwrap();
    assert_eq!(refused.status(), 502);
}
