//! TLS inspection: certificates through rustls (recording verifier, x509
//! analysis) and hand-built probes for what rustls cannot speak.

pub mod cert;
pub mod handshake;
pub mod raw;
