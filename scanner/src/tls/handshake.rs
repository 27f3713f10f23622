//! A rustls handshake that records instead of failing: the server's chain is
//! captured, the normal verification result is kept as data, and a second
//! verification with the time and name taken out of the picture says whether
//! the chain is trusted at all.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The one crypto provider of the whole workspace (ring; aws-lc-rs is not built).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Install the provider as the process default, once, at start-up, so no
/// rustls builder anywhere can panic looking for one.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// TLS settings of a scan.
#[derive(Clone)]
pub struct TlsOptions {
    pub(crate) roots: Arc<RootCertStore>,
    /// Report certificates expiring within this many days.
    pub expiring_days: u32,
}

impl Default for TlsOptions {
    /// The public web roots and a 30-day expiry warning.
    fn default() -> Self {
        TlsOptions {
            roots: Arc::new(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }),
            expiring_days: 30,
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("roots", &self.roots.len())
            .field("expiring_days", &self.expiring_days)
            .finish()
    }
}

/// A trust-store file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct RootsError {
    /// The PEM file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl TlsOptions {
    /// The public web roots plus the agency's own CAs (PEM files).
    pub fn new(extra_roots: &[PathBuf], expiring_days: u32) -> Result<TlsOptions, RootsError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for path in extra_roots {
            add_pem(&mut roots, path)?;
        }
        Ok(TlsOptions { roots: Arc::new(roots), expiring_days })
    }

    /// Only the given PEM text as roots (tests and the lab).
    pub fn from_pem(pem: &str, expiring_days: u32) -> Result<TlsOptions, RootsError> {
        let mut roots = RootCertStore::empty();
        let err = |reason: String| RootsError { path: PathBuf::from("(inline PEM)"), reason };
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.map_err(|e| err(e.to_string()))?).map_err(|e| err(e.to_string()))?;
        }
        Ok(TlsOptions { roots: Arc::new(roots), expiring_days })
    }
}

fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<(), RootsError> {
    let err = |reason: String| RootsError { path: path.to_owned(), reason };
    let mut n = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(format!("cannot read: {e}")))? {
        let cert = cert.map_err(|e| err(format!("not a PEM certificate: {e}")))?;
        roots.add(cert).map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(err("no CERTIFICATE block in the file".into()));
    }
    Ok(())
}

/// Whether the chain leads to a trusted root, with time and name set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Chains to a trusted root.
    Trusted,
    /// Does not: unknown issuer, self-signed, bad signature.
    Untrusted(String),
    /// Rejected for a signature algorithm the verifier refuses (SHA-1, MD5).
    WeakAlgorithm(String),
}

/// What a handshake showed.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The normal verification error (time, name and trust), if any.
    pub verify_error: Option<String>,
    /// Trust with time and name set aside.
    pub trust: Trust,
    /// Negotiated protocol, when the handshake completed.
    pub protocol: Option<String>,
    /// Negotiated cipher suite, when the handshake completed.
    pub cipher: Option<String>,
}

/// The chain a server presented and the normal verification's error.
type Seen = (Vec<Vec<u8>>, Option<Error>);

#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).err();
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.as_ref().to_vec()).collect();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((chain, verdict));
        // Record, do not fail: the scanner sends no secret over this connection.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Handshake over an already-connected (scope-checked) stream with SNI `host`.
/// Returns `None` when the peer did not present a certificate (not TLS).
pub async fn inspect(stream: TcpStream, host: &str, opts: &TlsOptions, timeout: Duration) -> Option<Inspection> {
    let inner = WebPkiServerVerifier::builder_with_provider(opts.roots.clone(), provider()).build().ok()?;
    let recording = Arc::new(Recording { inner: inner.clone(), seen: Mutex::new(None) });
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.trim_end_matches('.').to_owned()).ok()?;
    let connector = TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
    let (protocol, cipher) = match &result {
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            (
                conn.protocol_version().map(|v| format!("{v:?}")),
                conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
            )
        }
        _ => (None, None),
    };
    let (chain, verdict) = recording.seen.lock().unwrap_or_else(|p| p.into_inner()).take()?;
    let trust = trust(&inner, &chain);
    Some(Inspection { chain, verify_error: verdict.map(|e| e.to_string()), trust, protocol, cipher })
}

/// Trust of a chain read some other way (a hand-built handshake with a server
/// rustls cannot talk to).
pub fn trust_of(opts: &TlsOptions, chain: &[Vec<u8>]) -> Trust {
    match WebPkiServerVerifier::builder_with_provider(opts.roots.clone(), provider()).build() {
        Ok(inner) => trust(&inner, chain),
        Err(e) => Trust::Untrusted(e.to_string()),
    }
}

/// Verify the chain at a moment inside the leaf's validity and for a name it
/// carries, so only trust problems remain.
fn trust(inner: &WebPkiServerVerifier, chain: &[Vec<u8>]) -> Trust {
    let Some(leaf) = chain.first() else { return Trust::Untrusted("no certificate".into()) };
    let Ok(info) = super::cert::inspect(leaf) else { return Trust::Untrusted("leaf does not parse".into()) };
    let mid = (info.not_before.unix() / 2 + info.not_after.unix() / 2).max(0) as u64;
    let name = info
        .sans
        .iter()
        .map(|s| s.strip_prefix("*.").map_or_else(|| s.clone(), |p| format!("x.{p}")))
        .find_map(|s| ServerName::try_from(s).ok())
        .or_else(|| ServerName::try_from("invalid.invalid").ok());
    let Some(name) = name else { return Trust::Untrusted("no usable name".into()) };
    let ee = CertificateDer::from(leaf.as_slice());
    let rest: Vec<CertificateDer<'_>> = chain[1..].iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    match inner.verify_server_cert(&ee, &rest, &name, &[], UnixTime::since_unix_epoch(Duration::from_secs(mid))) {
        Ok(_) => Trust::Trusted,
        Err(Error::InvalidCertificate(e)) => match e {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => Trust::Trusted,
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                Trust::WeakAlgorithm(format!("{e:?}"))
            }
            other => Trust::Untrusted(format!("{other:?}")),
        },
        Err(other) => Trust::Untrusted(other.to_string()),
    }
}
