//! Owns reading PEM files named in the configuration: certificates and private keys, checked
//! when the configuration is loaded so a bad file fails `check`, not the first connection.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// The file's bytes when it holds at least one certificate and nothing unreadable.
pub fn certificates(path: &Path) -> Result<Vec<u8>, String> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

/// The file's bytes when it holds a private key (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<Vec<u8>, String> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("{} holds no usable PEM private key: {e}", path.display()))?;
    Ok(pem)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_and_keys_are_told_apart() {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".into()]).and_then(|p| p.self_signed(&key)).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (cert_path, key_path, junk) = (dir.path().join("c.pem"), dir.path().join("k.pem"), dir.path().join("j.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap_or_default();
        std::fs::write(&key_path, key.serialize_pem()).unwrap_or_default();
        std::fs::write(&junk, "not pem").unwrap_or_default();
        assert!(certificates(&cert_path).is_ok());
        assert!(private_key(&key_path).is_ok());
        assert!(certificates(&key_path).is_err_and(|e| e.contains("no PEM certificate")));
        assert!(private_key(&cert_path).is_err());
        assert!(certificates(&junk).is_err());
        assert!(certificates(&dir.path().join("missing")).is_err_and(|e| e.contains("cannot read")));
    }
}
