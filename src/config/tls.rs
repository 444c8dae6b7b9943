//! Owns the client-facing TLS certificate: reading its chain and key, checking that they belong
//! together (so `check` refuses a wrong pair, not the first handshake), and when it expires.

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The certificate chain and key the TLS listener presents, as read from their files.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    /// When the leaf certificate expires, in Unix seconds.
    pub not_after: i64,
}

/// Without the key.
impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// What is wrong with a pair of files: the field (`tls.cert_file` or `tls.key_file`) and why.
pub type Fault = (&'static str, String);

impl TlsIdentity {
    /// Reads and checks the pair: the chain parses, the key parses, and the key is the
    /// certificate's.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, Fault> {
        let chain_pem = super::pem::certificates(cert_file).map_err(|e| ("tls.cert_file", e))?;
        let key_pem = super::pem::private_key(key_file).map_err(|e| ("tls.key_file", e))?;
        let chain = chain(&chain_pem).map_err(|e| ("tls.cert_file", e))?;
        let leaf = chain.first().ok_or(("tls.cert_file", "holds no certificate".to_string()))?;
        let not_after = not_after(leaf).ok_or(("tls.cert_file", "the first certificate's validity cannot be read".to_string()))?;
        let identity = TlsIdentity { cert_file: cert_file.to_path_buf(), key_file: key_file.to_path_buf(), chain_pem, key_pem, not_after };
        identity.certified_key().map_err(|e| ("tls.key_file", e))?;
        Ok(identity)
    }

    /// The chain and key as rustls presents them.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, String> {
        let chain = chain(&self.chain_pem)?;
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| format!("{}: {e}", self.key_file.display()))?;
        let provider = rustls::crypto::ring::default_provider();
        let signer = provider.key_provider.load_private_key(key).map_err(|e| format!("{}: {e}", self.key_file.display()))?;
        let certified = CertifiedKey::new(chain, signer);
        match certified.keys_match() {
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(format!("{} is not the key of the certificate in {}", self.key_file.display(), self.cert_file.display()))
            }
            _ => Ok(Arc::new(certified)),
        }
    }
}

fn chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// One DER element: its tag, its content, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        (bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)), rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// The certificate's `notAfter`, in Unix seconds: Certificate → TBSCertificate → (version,
/// serial, signature, issuer) → Validity → notAfter (RFC 5280, section 4.1).
pub fn not_after(cert: &[u8]) -> Option<i64> {
    let (_, certificate, _) = element(cert).filter(|(tag, ..)| *tag == 0x30)?;
    let (_, tbs, _) = element(certificate).filter(|(tag, ..)| *tag == 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = element(rest)?.2;
    }
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (_, validity, _) = element(rest).filter(|(tag, ..)| *tag == 0x30)?;
    let (_, _, after) = element(validity)?;
    let (tag, time, _) = element(after)?;
    let text = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        // UTCTime: YYMMDDHHMMSSZ, years 1950 to 2049.
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || !rest.ends_with('Z') {
        return None;
    }
    let field = |at: usize| -> Option<i64> { rest.get(at..at + 2)?.parse().ok() };
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str, not_after: (i32, u8, u8)) -> (PathBuf, PathBuf, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap_or_else(|e| panic!("{e}"));
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap_or_default();
        std::fs::write(&k, key.serialize_pem()).unwrap_or_default();
        (c, k, key)
    }

    #[test]
    fn expiry_is_read_from_utc_and_generalized_times() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // 2049 is the last UTCTime year; from 2050 certificates carry GeneralizedTime.
        for (date, want) in [((2030, 6, 15), 1_907_712_000), ((2049, 12, 31), 2_524_521_600), ((2051, 1, 1), 2_556_144_000)] {
            let (c, k, _) = write_pair(dir.path(), "a", date);
            assert_eq!(TlsIdentity::load(&c, &k).map(|i| i.not_after), Ok(want), "{date:?}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a_cert, a_key, _) = write_pair(dir.path(), "a", (2030, 1, 1));
        let (_, b_key, _) = write_pair(dir.path(), "b", (2030, 1, 1));
        assert!(TlsIdentity::load(&a_cert, &a_key).is_ok());
        let err = TlsIdentity::load(&a_cert, &b_key).err();
        assert!(err.as_ref().is_some_and(|(field, why)| *field == "tls.key_file" && why.contains("is not the key")), "{err:?}");
        let swapped = TlsIdentity::load(&a_key, &a_cert).err();
        assert_eq!(swapped.map(|(field, _)| field), Some("tls.cert_file"));
    }

    #[test]
    fn garbage_never_panics() {
        for der in [&[][..], &[0x30], &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], &[0x30, 0x03, 0x30, 0x01, 0x00], &[0x30, 0x80]] {
            assert_eq!(not_after(der), None);
        }
    }
}
