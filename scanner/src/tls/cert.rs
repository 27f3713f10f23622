//! Certificate analysis with x509-parser: dates, names, key sizes, signature
//! hashes. Pure functions over DER, so every rule is tested without a network.

use std::net::IpAddr;

use haetae_findings::Timestamp;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// What haetae reads from one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and addresses of the subjectAltName extension.
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// `RSA`, `EC`, `DSA` or the algorithm OID.
    pub key_type: String,
    /// Key size in bits (0 when unknown).
    pub key_bits: usize,
    /// Signature algorithm name (`sha256WithRSAEncryption`, ...).
    pub signature: String,
    /// Whether the signature uses SHA-1, MD5 or MD2.
    pub weak_signature: bool,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
}

/// A certificate that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate does not parse: {0}")]
pub struct BadCert(pub String);

fn sig_name(oid: &str) -> (&'static str, bool) {
    match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", true),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", true),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", true),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", true),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", true),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", false),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", false),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", false),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS", false),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", false),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", false),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", false),
        "1.3.101.112" => ("Ed25519", false),
        _ => ("", false),
    }
}

/// Parse one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, BadCert> {
    let (_, c) = X509Certificate::from_der(der).map_err(|e| BadCert(e.to_string()))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        sans.push(IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        sans.push(IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let (key_type, key_bits) = match c.public_key().parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA".to_owned(), k.key_size()),
        Ok(PublicKey::EC(k)) => ("EC".to_owned(), k.key_size()),
        Ok(PublicKey::DSA(y)) => ("DSA".to_owned(), y.len() * 8),
        Ok(other) => (format!("{:?}", std::mem::discriminant(&other)), other.key_size()),
        Err(_) => (c.public_key().algorithm.algorithm.to_id_string(), 0),
    };
    let oid = c.signature_algorithm.algorithm.to_id_string();
    let (name, weak) = sig_name(&oid);
    let subject = c.subject().to_string();
    let issuer = c.issuer().to_string();
    Ok(CertInfo {
        self_issued: subject == issuer,
        subject,
        issuer,
        sans,
        not_before: Timestamp::from_unix(c.validity().not_before.timestamp()),
        not_after: Timestamp::from_unix(c.validity().not_after.timestamp()),
        key_type,
        key_bits,
        signature: if name.is_empty() { oid } else { name.to_owned() },
        weak_signature: weak,
        sha256: sha256_hex(der),
    })
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `host` matches a subjectAltName entry (RFC 6125 section 6.4): case
/// does not matter; a wildcard is only the whole left-most label, stands for
/// exactly one label, never matches the bare parent, and is never used for an
/// address; an address matches only an address entry.
pub fn name_matches(sans: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return sans.iter().any(|s| s.parse::<IpAddr>().is_ok_and(|a| a == ip));
    }
    sans.iter().any(|san| {
        let san = san.trim_end_matches('.').to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(parent) => {
                !parent.contains('*')
                    && parent.contains('.')
                    && host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
            }
            None => !san.contains('*') && san == host,
        }
    })
}

/// Key too small: RSA or DSA under 2048 bits, EC under 256.
pub fn weak_key(c: &CertInfo) -> bool {
    match c.key_type.as_str() {
        "RSA" | "DSA" => c.key_bits > 0 && c.key_bits < 2048,
        "EC" => c.key_bits > 0 && c.key_bits < 256,
        _ => false,
    }
}

/// One line of evidence about a certificate.
pub fn describe(c: &CertInfo) -> String {
    format!(
        "subject {}; issuer {}; SANs [{}]; valid {} to {}; key {} {} bits; signature {}; SHA-256 {}",
        c.subject,
        c.issuer,
        c.sans.join(", "),
        c.not_before,
        c.not_after,
        c.key_type,
        c.key_bits,
        c.signature,
        c.sha256
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn wildcards_follow_rfc_6125() {
        let sans = v(&["*.agency.test", "portal.agency.test", "127.77.1.5"]);
        assert!(name_matches(&sans, "www.agency.test"));
        assert!(name_matches(&sans, "WWW.Agency.Test."));
        assert!(name_matches(&sans, "portal.agency.test"));
        assert!(!name_matches(&sans, "agency.test"), "a wildcard never matches the parent");
        assert!(!name_matches(&sans, "a.b.agency.test"), "one label only");
        assert!(!name_matches(&sans, "evilagency.test"));
        assert!(name_matches(&sans, "127.77.1.5"));
        assert!(!name_matches(&sans, "127.77.1.6"));
        assert!(!name_matches(&v(&["*.test"]), "x.test"), "no wildcard directly under a top-level domain");
        assert!(!name_matches(&v(&["w*.agency.test"]), "www.agency.test"), "partial wildcards are not honoured");
        assert!(!name_matches(&v(&["*"]), "localhost"));
    }

    #[test]
    fn reads_what_rcgen_writes() {
        let mut params = rcgen::CertificateParams::new(vec!["tls.agency.test".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2027, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = inspect(cert.der()).unwrap();
        assert_eq!(info.sans, vec!["tls.agency.test".to_owned()]);
        assert_eq!((info.key_type.as_str(), info.key_bits), ("EC", 256));
        assert_eq!(info.signature, "ecdsa-with-SHA256");
        assert!(!info.weak_signature && !weak_key(&info));
        assert_eq!(info.not_before.to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(info.sha256.len(), 64);
        assert!(inspect(b"garbage").is_err());
    }
}
