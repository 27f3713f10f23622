//! The lab CA (committed, the same on every run) and the leaves issued from it
//! at start-up, with validity computed from the current time.
//!
//! `lab/certs/README.md` says how the committed files were made.

use std::io;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::clock;

/// The lab CA certificate, PEM. Self-signed, ECDSA P-256, valid 2026-01-01 to
/// 2046-01-01. Trust it (and only it) to scan the lab's TLS endpoints.
pub const CA_PEM: &str = include_str!("../../certs/ca.pem");
/// The lab CA's key (PKCS#8 PEM). Public on purpose: a test fixture.
const CA_KEY_PEM: &str = include_str!("../../certs/ca.key");
/// RSA-1024 leaf for `weakkey.agency.test`, signed by the lab CA (SHA-256).
pub(crate) const WEAKKEY_PEM: &str = include_str!("../../certs/weakkey.pem");
/// P-256 leaf for `weaksig.agency.test`, signed by the lab CA with ecdsa-with-SHA1.
pub(crate) const WEAKSIG_PEM: &str = include_str!("../../certs/weaksig.pem");
/// The key of [`WEAKSIG_PEM`].
const WEAKSIG_KEY_PEM: &str = include_str!("../../certs/weaksig.key");
/// RSA-2048 key of `tls10.agency.test` (ring cannot generate RSA keys).
const TLS10_KEY_PEM: &str = include_str!("../../certs/tls10.key");

/// The CA's subject, exactly as in `ca.pem` (UTF8String values, this order).
/// rcgen's `Issuer::from_ca_cert_pem` would read it from the certificate, but
/// it needs rcgen's `x509-parser` feature, which the workspace does not enable.
const CA_ORGANIZATION: &str = "haetae lab";
const CA_COMMON_NAME: &str = "haetae lab CA";

fn other(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

/// A certificate chain (leaf first) and the leaf's private key.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Every certificate of a PEM text, in order.
pub(crate) fn pem_certs(pem: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(other)?;
    if certs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no certificate in PEM"));
    }
    Ok(certs)
}

/// The lab CA's certificate, DER.
pub(crate) fn ca_der() -> io::Result<Vec<CertificateDer<'static>>> {
    pem_certs(CA_PEM)
}

/// The committed weak-signature leaf, with the CA after it, and its key.
pub(crate) fn weaksig() -> io::Result<Leaf> {
    let mut chain = pem_certs(WEAKSIG_PEM)?;
    chain.extend(ca_der()?);
    let key = PrivateKeyDer::from_pem_slice(WEAKSIG_KEY_PEM.as_bytes()).map_err(other)?;
    Ok(Leaf { chain, key })
}

/// The committed RSA-1024 leaf, with the CA after it (no key: nothing signs with it).
pub(crate) fn weakkey_chain() -> io::Result<Vec<CertificateDer<'static>>> {
    let mut chain = pem_certs(WEAKKEY_PEM)?;
    chain.extend(ca_der()?);
    Ok(chain)
}

/// Leaf parameters: DNS SANs (the first is also the CN), server auth, and a
/// validity of `[not_before, not_after]` (Unix seconds).
fn leaf_params(sans: &[&str], not_before: i64, not_after: i64) -> io::Result<CertificateParams> {
    let mut params = CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).map_err(other)?;
    let mut dn = DistinguishedName::new();
    if let Some(first) = sans.first() {
        dn.push(DnType::CommonName, *first);
    }
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut params, not_before, not_after);
    Ok(params)
}

/// Sets the validity to `[not_before, not_after]` (Unix seconds, clamped at
/// the epoch). Written as a setter so the lab need not name `time` types.
fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) {
    let epoch = date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(u64::try_from(not_before).unwrap_or(0));
    params.not_after = epoch + Duration::from_secs(u64::try_from(not_after).unwrap_or(0));
}

/// The lab CA, able to issue leaves.
pub(crate) struct LabCa {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCa").finish_non_exhaustive()
    }
}

impl LabCa {
    /// Loads the committed CA key and rebuilds its issuer name.
    pub(crate) fn load() -> io::Result<LabCa> {
        let key = KeyPair::from_pem(CA_KEY_PEM).map_err(other)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, CA_ORGANIZATION);
        dn.push(DnType::CommonName, CA_COMMON_NAME);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        Ok(LabCa { issuer: Issuer::new(params, key) })
    }

    /// A leaf for `sans` and `key` (a fresh P-256 key if `None`), signed by
    /// the lab CA, valid `[not_before, not_after]` (Unix seconds); the chain
    /// is leaf, CA.
    pub(crate) fn issue(
        &self,
        key: Option<KeyPair>,
        sans: &[&str],
        not_before: i64,
        not_after: i64,
    ) -> io::Result<Leaf> {
        let key = match key {
            Some(k) => k,
            None => KeyPair::generate().map_err(other)?,
        };
        let cert = leaf_params(sans, not_before, not_after)?.signed_by(&key, &self.issuer).map_err(other)?;
        let mut chain = vec![cert.der().clone()];
        chain.extend(ca_der()?);
        Ok(Leaf { chain, key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())) })
    }
}

/// The committed RSA-2048 key of `tls10.agency.test`.
pub(crate) fn tls10_key() -> io::Result<KeyPair> {
    KeyPair::from_pem(TLS10_KEY_PEM).map_err(other)
}

/// A fresh self-signed P-256 leaf for `sans` (not from the lab CA).
pub(crate) fn self_signed(sans: &[&str], not_before: i64, not_after: i64) -> io::Result<Leaf> {
    let key = KeyPair::generate().map_err(other)?;
    let cert = leaf_params(sans, not_before, not_after)?.self_signed(&key).map_err(other)?;
    Ok(Leaf {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// `now + days` in Unix seconds.
pub(crate) fn days_from(now: i64, days: i64) -> i64 {
    now.saturating_add(days.saturating_mul(clock::DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The DER of `O=haetae lab, CN=haetae lab CA` with UTF8String values.
    fn ca_name_der() -> Vec<u8> {
        let rdn = |oid_last: u8, value: &str| {
            let mut atv = vec![0x06, 0x03, 0x55, 0x04, oid_last, 0x0C, value.len() as u8];
            atv.extend_from_slice(value.as_bytes());
            let mut seq = vec![0x30, atv.len() as u8];
            seq.extend(atv);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            set
        };
        let body = [rdn(0x0A, CA_ORGANIZATION), rdn(0x03, CA_COMMON_NAME)].concat();
        let mut name = vec![0x30, body.len() as u8];
        name.extend(body);
        name
    }

    #[test]
    fn issued_leaves_name_the_committed_ca_as_issuer() {
        let name = ca_name_der();
        let ca = ca_der().unwrap();
        assert_eq!(ca.len(), 1);
        assert!(contains(&ca[0], &name), "the CA's subject is rebuilt exactly");
        let now = clock::now_unix();
        let lab = LabCa::load().unwrap();
        for key in [None, Some(tls10_key().unwrap())] {
            let leaf = lab.issue(key, &["x.agency.test"], now - clock::DAY, now + clock::DAY).unwrap();
            assert_eq!(leaf.chain.len(), 2);
            assert_eq!(leaf.chain[1], ca[0]);
            assert!(contains(&leaf.chain[0], &name), "issuer name");
            assert!(contains(&leaf.chain[0], b"x.agency.test"));
        }
        let own = self_signed(&["y.agency.test"], now, now + clock::DAY).unwrap();
        assert_eq!(own.chain.len(), 1);
        assert!(!contains(&own.chain[0], &name));
    }

    #[test]
    fn committed_leaves_load() {
        let weaksig = weaksig().unwrap();
        assert_eq!(weaksig.chain.len(), 2);
        assert!(matches!(weaksig.key, PrivateKeyDer::Pkcs8(_)));
        let weakkey = weakkey_chain().unwrap();
        assert_eq!(weakkey.len(), 2);
        assert!(contains(&weakkey[0], b"weakkey.agency.test"));
        assert!(pem_certs("no PEM here").is_err());
    }
}
