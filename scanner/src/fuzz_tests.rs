//! No server byte can panic the scanner: property tests over arbitrary and
//! mutated input for every parser a server's bytes reach (run with the
//! tests, so briefly in CI). The TLS flight, the service wire formats, the
//! HTTP head and SPF/DMARC have their own next to their code; these cover
//! the DNS wire, certificate analysis, SSH banners and the template matchers.

use proptest::prelude::*;

use crate::checks::ssh;
use crate::dns::{RecordType, decode_response, encode_query};
use crate::templates::{Response, TemplateSet};
use crate::tls::cert;

/// A real DNS message to mutate: our own query for an A record.
fn a_query() -> Vec<u8> {
    encode_query(0x1234, "www.agency.test", RecordType::A, false).unwrap_or_default()
}

/// A real certificate to mutate (made once).
fn a_certificate() -> Vec<u8> {
    static CERT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["www.agency.test".to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    })
    .clone()
}

/// The built-in templates (compiled once).
fn builtin() -> &'static TemplateSet {
    static SET: std::sync::OnceLock<TemplateSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| TemplateSet::builtin().unwrap_or_default())
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    for &(at, b) in edits {
        let i = at % bytes.len();
        bytes[i] = b;
    }
    bytes.truncate(bytes.len() - cut % bytes.len());
    bytes
}

proptest! {
    #[test]
    fn dns_wire_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_response(&bytes);
    }

    #[test]
    fn dns_wire_survives_mutations(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6), cut in any::<usize>()) {
        let _ = decode_response(&mutate(a_query(), &edits, cut));
    }

    #[test]
    fn certificate_analysis_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        if let Ok(info) = cert::inspect(&bytes) {
            let _ = (cert::weak_key(&info), cert::describe(&info), cert::name_matches(&info.sans, "www.agency.test"));
        }
    }

    #[test]
    fn ssh_banners_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = ssh::ssh_banner(&bytes);
    }

    #[test]
    fn name_matching_never_panics(sans in proptest::collection::vec(".{0,30}", 0..4), host in ".{0,40}") {
        let _ = cert::name_matches(&sans, &host);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn certificate_analysis_survives_mutations(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let der = mutate(a_certificate(), &edits, cut);
        if let Ok(info) = cert::inspect(&der) {
            let _ = (cert::weak_key(&info), cert::describe(&info), cert::name_matches(&info.sans, "www.agency.test"));
        }
    }

    /// Every built-in template, on any response a server can send.
    #[test]
    fn template_matchers_never_panic(
        status in 0u16..1000,
        headers in proptest::collection::vec(("[A-Za-z-]{1,20}", ".{0,80}"), 0..6),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            ".{0,400}".prop_map(String::into_bytes),
        ],
    ) {
        let set = builtin();
        let r = Response { status, headers, body, url: "http://www.agency.test/".to_owned() };
        for t in set.templates() {
            let many: Vec<&Response> = t.requests().iter().map(|_| &r).collect();
            let _ = t.evaluate(&many);
        }
    }
}
