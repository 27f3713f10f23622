//! TLS checks on one endpoint: certificate (expired, expiring, untrusted,
//! name, key, signature) through rustls, and what rustls cannot ask (legacy
//! protocols, weak suites, DHE group size) through hand-built ClientHellos.

use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Observation};

use super::observe;
use crate::guard::{GuardError, ScopeGuard};
use crate::tls::cert::{self, CertInfo};
use crate::tls::handshake::{self, TlsOptions, Trust};
use crate::tls::raw::{self, Reply, Version};

/// Weak suites enumerated per endpoint at most.
const MAX_WEAK_SUITES: usize = 8;

/// Every check this module runs.
pub(crate) const CHECKS: [CheckId; 9] = [
    CheckId::TlsCertExpired,
    CheckId::TlsCertExpiring,
    CheckId::TlsCertUntrusted,
    CheckId::TlsCertHostnameMismatch,
    CheckId::TlsWeakKey,
    CheckId::TlsWeakSignature,
    CheckId::TlsWeakCipher,
    CheckId::TlsWeakDh,
    CheckId::TlsLegacyProtocol,
];

/// The certificate checks: covered only when a chain was read.
const CERT_CHECKS: [CheckId; 6] = [
    CheckId::TlsCertExpired,
    CheckId::TlsCertExpiring,
    CheckId::TlsCertUntrusted,
    CheckId::TlsCertHostnameMismatch,
    CheckId::TlsWeakKey,
    CheckId::TlsWeakSignature,
];

/// What one endpoint showed.
#[derive(Debug, Default)]
pub(crate) struct TlsReport {
    pub(crate) observations: Vec<Observation>,
    /// Whether the endpoint speaks TLS: `Some` on a definite answer (a
    /// ServerHello or an alert; a complete reply that is not TLS), `None`
    /// when the first hello got none (timeout, reset, cut short, oversize).
    pub(crate) speaks: Option<bool>,
    /// Why `speaks` is unknown.
    pub(crate) unknown: Option<String>,
    /// Checks that ran to a definite answer on a TLS endpoint.
    pub(crate) covered: Vec<CheckId>,
    /// Check groups that did not, with why (`tls.legacy-protocol`, `tls.cert-*` ...).
    pub(crate) failed: Vec<(&'static str, String)>,
    /// SHA-256 of the leaf certificate, for change tracking.
    pub(crate) leaf_sha256: Option<String>,
    /// When that certificate expires.
    pub(crate) leaf_not_after: Option<haetae_findings::Timestamp>,
    pub(crate) window_closed: Option<String>,
}

/// How one hello went.
enum Hello {
    /// A reply that answers the question (accepted, refused, not TLS).
    Answer(Reply, u64),
    /// No definite answer, and why.
    Failed(String),
}

struct Endpoint<'a> {
    guard: &'a ScopeGuard,
    host: &'a str,
    addr: IpAddr,
    port: u16,
}

impl Endpoint<'_> {
    /// One hand-built hello on a fresh, scope-checked connection. A timeout,
    /// a reply cut short or past a bound, or a failed connection is no answer.
    async fn hello(&self, version: Version, suites: &[u16], rep: &mut TlsReport) -> Hello {
        let probe = format!("tls.hello {}", version.name());
        let mut conn = match self.guard.connect(self.host, self.addr, self.port, &probe).await {
            Ok(c) => c,
            Err(e) => {
                if let GuardError::Window(w) = &e {
                    rep.window_closed = Some(w.clone());
                }
                return Hello::Failed(format!("{} hello: {e}", version.name()));
            }
        };
        let sni = self.host.parse::<IpAddr>().is_err().then_some(self.host);
        let msg = raw::client_hello(version, suites, sni);
        match raw::probe(&mut conn.stream, &msg, self.guard.timeout()).await {
            Reply::Timeout => Hello::Failed(format!(
                "{} hello: no answer within {} ms",
                version.name(),
                self.guard.timeout().as_millis()
            )),
            Reply::Failed(why) => Hello::Failed(format!("{} hello: {why}", version.name())),
            reply => Hello::Answer(reply, conn.audit),
        }
    }
}

/// Whether the endpoint answers a ClientHello like a TLS server (one hello;
/// used when a resumed scan already ran the TLS checks). `None`: no definite answer.
pub(crate) async fn speaks_tls(guard: &ScopeGuard, host: &str, addr: IpAddr, port: u16) -> Option<bool> {
    let ep = Endpoint { guard, host, addr, port };
    let mut rep = TlsReport::default();
    match ep.hello(Version::Tls12, &raw::broad_suites(), &mut rep).await {
        Hello::Answer(Reply::Hello(_) | Reply::Alert { .. }, _) => Some(true),
        Hello::Answer(Reply::NotTls(_), _) => Some(false),
        Hello::Answer(..) | Hello::Failed(_) => None,
    }
}

pub(crate) async fn check_endpoint(
    guard: &ScopeGuard,
    host: &str,
    addr: IpAddr,
    port: u16,
    opts: &TlsOptions,
) -> TlsReport {
    let ep = Endpoint { guard, host, addr, port };
    let mut rep = TlsReport::default();
    let eng = guard.scope().engagement.id.clone();
    let asset = || Asset { host: host.to_owned(), ip: Some(addr), port: Some(port) };

    // 0. Is it TLS at all? A TLS 1.2 hello with what any client offers gets a
    // ServerHello or an alert from a TLS server; a complete reply that is not
    // TLS says it is not. A close without a byte, a timeout or a cut reply
    // says nothing.
    let mut audit = Vec::new();
    let mut raw_chain: Vec<Vec<u8>> = Vec::new();
    let (first, seq) = match ep.hello(Version::Tls12, &raw::broad_suites(), &mut rep).await {
        Hello::Answer(r, seq) => (r, seq),
        Hello::Failed(why) => {
            rep.unknown = Some(why);
            return rep;
        }
    };
    audit.push(seq);
    match first {
        Reply::Hello(h) => raw_chain = h.certificates,
        Reply::Alert { .. } => {}
        Reply::NotTls(_) => {
            rep.speaks = Some(false);
            return rep;
        }
        Reply::Closed => {
            rep.unknown = Some("the connection was closed without a byte in reply to a ClientHello".to_owned());
            return rep;
        }
        Reply::Timeout | Reply::Failed(_) => return rep,
    }
    rep.speaks = Some(true);

    // 1. rustls: the chain, verified the normal way and for trust alone.
    let mut inspection = None;
    match guard.connect(host, addr, port, "tls.handshake").await {
        Ok(c) => {
            audit.push(c.audit);
            inspection = handshake::inspect(c.stream, host, opts, guard.timeout()).await;
        }
        Err(GuardError::Window(w)) => {
            rep.window_closed = Some(w);
            return rep;
        }
        Err(_) => {}
    }

    // 2. Legacy protocols, with what a legacy client offers. A refusal (an
    // alert, a close, a reply that is not a ServerHello of that version) is
    // an answer; a timeout is not.
    let broad = raw::broad_suites();
    let mut legacy = Vec::new();
    let mut legacy_failed = None;
    for v in [Version::Ssl3, Version::Tls10, Version::Tls11] {
        let (reply, seq) = match ep.hello(v, &broad, &mut rep).await {
            Hello::Answer(r, seq) => (r, seq),
            Hello::Failed(why) => {
                legacy_failed.get_or_insert(why);
                continue;
            }
        };
        audit.push(seq);
        if let Reply::Hello(h) = reply {
            if h.version == v.wire() {
                let suite = raw::suite(h.cipher).map_or_else(|| format!("0x{:04x}", h.cipher), |s| s.name.to_owned());
                legacy.push(format!("{} accepted (cipher {suite})", v.name()));
            }
            if raw_chain.is_empty() {
                raw_chain = h.certificates.clone();
            }
        }
    }

    // 3. Suites outside Mozilla intermediate: offer only those, enumerate what is picked.
    let mut offer = raw::weak_suites();
    let mut weak = Vec::new();
    let mut weak_failed = None;
    for _ in 0..MAX_WEAK_SUITES {
        let (reply, seq) = match ep.hello(Version::Tls12, &offer, &mut rep).await {
            Hello::Answer(r, seq) => (r, seq),
            Hello::Failed(why) => {
                weak_failed = Some(why);
                break;
            }
        };
        audit.push(seq);
        let Reply::Hello(h) = reply else { break };
        if raw_chain.is_empty() {
            raw_chain = h.certificates.clone();
        }
        let Some(s) = raw::suite(h.cipher).filter(|s| s.weakness.is_some()) else { break };
        weak.push(format!("{} ({})", s.name, s.weakness.map_or("", weakness_text)));
        offer.retain(|&id| id != h.cipher);
        if offer.is_empty() {
            break;
        }
    }

    // 4. DHE group size.
    let mut weak_dh = None;
    let mut dh_failed = None;
    match ep.hello(Version::Tls12, &raw::dhe_suites(), &mut rep).await {
        Hello::Answer(Reply::Hello(h), seq) => {
            audit.push(seq);
            if let Some(bits) = h.dh_bits
                && bits < 2048
            {
                let name = raw::suite(h.cipher).map_or("DHE", |s| s.name);
                weak_dh = Some(format!("DHE group of {bits} bits (suite {name})"));
            }
        }
        Hello::Answer(_, seq) => audit.push(seq),
        Hello::Failed(why) => dh_failed = Some(why),
    }

    // Certificates: from rustls, or from a hand-built handshake when rustls could not talk.
    let (chain, verify_error, trust) = match &inspection {
        Some(i) => (i.chain.clone(), i.verify_error.clone(), i.trust.clone()),
        None if !raw_chain.is_empty() => {
            let t = handshake::trust_of(opts, &raw_chain);
            (raw_chain.clone(), None, t)
        }
        None => (Vec::new(), None, Trust::Trusted),
    };
    let mut add = |check: CheckId, evidence: String| {
        rep.observations.push(observe(check, &eng, asset(), "", evidence, &audit));
    };
    if !legacy.is_empty() {
        add(CheckId::TlsLegacyProtocol, format!("{host}:{port}: {}", legacy.join("; ")));
    }
    if !weak.is_empty() {
        add(CheckId::TlsWeakCipher, format!("{host}:{port} accepts {}", weak.join(", ")));
    }
    if let Some(dh) = weak_dh {
        add(CheckId::TlsWeakDh, format!("{host}:{port}: {dh}"));
    }
    for (check, group, failed) in [
        (CheckId::TlsLegacyProtocol, "tls.legacy-protocol", legacy_failed),
        (CheckId::TlsWeakCipher, "tls.weak-cipher", weak_failed),
        (CheckId::TlsWeakDh, "tls.weak-dh", dh_failed),
    ] {
        match failed {
            None => rep.covered.push(check),
            Some(why) => rep.failed.push((group, why)),
        }
    }
    let readable = chain.iter().any(|der| cert::inspect(der).is_ok());
    if readable {
        certificate_checks(&mut rep, &chain, verify_error.as_deref(), &trust, host, opts, &eng, asset(), &audit);
        rep.covered.extend(CERT_CHECKS);
    } else {
        rep.failed.push((
            "tls.cert-*",
            "no certificate chain could be read (handshake failed, timed out or went past a size bound)".to_owned(),
        ));
    }
    rep
}

#[allow(clippy::too_many_arguments)]
fn certificate_checks(
    rep: &mut TlsReport,
    chain: &[Vec<u8>],
    verify_error: Option<&str>,
    trust: &Trust,
    host: &str,
    opts: &TlsOptions,
    eng: &str,
    asset: Asset,
    audit: &[u64],
) {
    let infos: Vec<CertInfo> = chain.iter().filter_map(|der| cert::inspect(der).ok()).collect();
    let Some(leaf) = infos.first() else { return };
    rep.leaf_sha256 = Some(leaf.sha256.clone());
    rep.leaf_not_after = Some(leaf.not_after);
    let described = cert::describe(leaf);
    let mut add = |check: CheckId, what: String| {
        rep.observations.push(observe(check, eng, asset.clone(), "certificate", format!("{what}; {described}"), audit));
    };
    let now = haetae_findings::Timestamp::now();
    if leaf.not_after < now {
        add(
            CheckId::TlsCertExpired,
            format!("expired on {} ({} days ago)", leaf.not_after, now.days_since(leaf.not_after)),
        );
    } else if leaf.not_before > now {
        add(CheckId::TlsCertExpired, format!("not valid before {}", leaf.not_before));
    } else if leaf.not_after.days_since(now) < i64::from(opts.expiring_days) {
        add(
            CheckId::TlsCertExpiring,
            format!(
                "expires on {} (in {} days, threshold {})",
                leaf.not_after,
                leaf.not_after.days_since(now),
                opts.expiring_days
            ),
        );
    }
    if let Trust::Untrusted(why) = trust {
        let kind = if leaf.self_issued && chain.len() == 1 { "self-signed" } else { "issuer not trusted" };
        let detail = verify_error.unwrap_or(why);
        add(CheckId::TlsCertUntrusted, format!("{kind}: issuer {} ({detail})", leaf.issuer));
    }
    if !cert::name_matches(&leaf.sans, host) {
        add(CheckId::TlsCertHostnameMismatch, format!("{host} is not among the certificate's names"));
    }
    // The trust anchor's own signature and key do not matter; every other certificate's do.
    let checked: Vec<&CertInfo> = infos
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || !(c.self_issued && *i == infos.len() - 1))
        .map(|(_, c)| c)
        .collect();
    let weak_keys: Vec<String> = checked
        .iter()
        .filter(|c| cert::weak_key(c))
        .map(|c| format!("{} {} bits ({})", c.key_type, c.key_bits, c.subject))
        .collect();
    if !weak_keys.is_empty() {
        add(CheckId::TlsWeakKey, format!("weak key: {}", weak_keys.join(", ")));
    }
    let weak_sigs: Vec<String> =
        checked.iter().filter(|c| c.weak_signature).map(|c| format!("{} ({})", c.signature, c.subject)).collect();
    if !weak_sigs.is_empty() {
        add(CheckId::TlsWeakSignature, format!("weak signature: {}", weak_sigs.join(", ")));
    }
}

fn weakness_text(w: raw::Weakness) -> &'static str {
    match w {
        raw::Weakness::Rc4 => "RC4",
        raw::Weakness::TripleDes => "3DES/DES",
        raw::Weakness::Null => "no encryption",
        raw::Weakness::Export => "export grade",
        raw::Weakness::Anonymous => "anonymous, no authentication",
        raw::Weakness::StaticRsa => "static RSA key exchange, no forward secrecy",
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
