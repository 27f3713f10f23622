//! The ClientHello, byte by byte.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Version;

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746), always offered last.
pub(super) const RENEGOTIATION_SCSV: u16 = 0x00FF;

/// Most suites offered (the SCSV included), so that the hello fits one
/// record (2^14 bytes) with room for the extensions.
pub(super) const MAX_SUITES: usize = 4096;

/// Longest host name sent as server_name (RFC 1035 limits names to 253 characters).
const MAX_SNI: usize = 253;

/// Named groups offered: x25519, secp256r1, secp384r1.
pub(super) const GROUPS: [u16; 3] = [0x001D, 0x0017, 0x0018];

/// Signature schemes offered: rsa_pkcs1_sha256/384/512, ecdsa_secp256r1_sha256,
/// ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256, rsa_pkcs1_sha1, ecdsa_sha1.
pub(super) const SIGNATURE_SCHEMES: [u16; 8] = [0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0804, 0x0201, 0x0203];

/// Extension types.
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;

/// One complete ClientHello record, ready to write.
///
/// The record version is 0x0300 for SSLv3 and 0x0301 otherwise (what real
/// clients send); `client_version` is `version`. The hello carries a fresh
/// random, an empty session id, `suites` (at most 4095 of them, in the given
/// order) followed by TLS_EMPTY_RENEGOTIATION_INFO_SCSV, and null compression.
/// Beyond SSLv3 it carries the extensions servers need to pick ECDHE:
/// server_name (when `sni` is a host name, not an IP literal), supported_groups,
/// ec_point_formats and signature_algorithms. It never offers TLS 1.3 (no
/// supported_versions).
pub fn client_hello(version: Version, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(128 + 2 * suites.len().min(MAX_SUITES));
    put_u16(&mut body, version.wire());
    body.extend_from_slice(&random32());
    body.push(0); // session_id: empty

    let mut offered: Vec<u16> =
        suites.iter().copied().filter(|&s| s != RENEGOTIATION_SCSV).take(MAX_SUITES - 1).collect();
    offered.push(RENEGOTIATION_SCSV);
    put_len16(&mut body, offered.len() * 2);
    for s in offered {
        put_u16(&mut body, s);
    }
    body.extend_from_slice(&[1, 0]); // compression_methods: null only

    if version != Version::Ssl3 {
        let ext = extensions(sni);
        put_len16(&mut body, ext.len());
        body.extend_from_slice(&ext);
    }

    let mut record = Vec::with_capacity(body.len() + 9);
    record.push(22); // handshake
    put_u16(&mut record, if version == Version::Ssl3 { 0x0300 } else { 0x0301 });
    put_len16(&mut record, body.len() + 4);
    record.push(1); // client_hello
    put_len24(&mut record, body.len());
    record.extend_from_slice(&body);
    record
}

/// The hello extensions, without the outer length.
fn extensions(sni: Option<&str>) -> Vec<u8> {
    let mut ext = Vec::with_capacity(64 + MAX_SNI);
    if let Some(host) = sni.and_then(sni_host) {
        // ServerNameList { NameType host_name(0), opaque HostName<1..2^16-1> }
        let mut list = Vec::with_capacity(host.len() + 3);
        list.push(0);
        put_len16(&mut list, host.len());
        list.extend_from_slice(host.as_bytes());
        let mut data = Vec::with_capacity(list.len() + 2);
        put_len16(&mut data, list.len());
        data.extend_from_slice(&list);
        put_extension(&mut ext, EXT_SERVER_NAME, &data);
    }
    let mut groups = Vec::with_capacity(2 + 2 * GROUPS.len());
    put_len16(&mut groups, 2 * GROUPS.len());
    for g in GROUPS {
        put_u16(&mut groups, g);
    }
    put_extension(&mut ext, EXT_SUPPORTED_GROUPS, &groups);
    put_extension(&mut ext, EXT_EC_POINT_FORMATS, &[1, 0]); // uncompressed
    let mut schemes = Vec::with_capacity(2 + 2 * SIGNATURE_SCHEMES.len());
    put_len16(&mut schemes, 2 * SIGNATURE_SCHEMES.len());
    for s in SIGNATURE_SCHEMES {
        put_u16(&mut schemes, s);
    }
    put_extension(&mut ext, EXT_SIGNATURE_ALGORITHMS, &schemes);
    ext
}

/// The host name to send as server_name, if `sni` is one: no IP literals
/// (RFC 6066 forbids them), no trailing dot, ASCII (A-labels) only.
fn sni_host(sni: &str) -> Option<&str> {
    let host = sni.strip_suffix('.').unwrap_or(sni);
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let usable = !host.is_empty()
        && host.len() <= MAX_SNI
        && bare.parse::<IpAddr>().is_err()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    usable.then_some(host)
}

fn put_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_len16(out, data.len());
    out.extend_from_slice(data);
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A 16-bit length; callers keep their lengths far below 2^16 (see [`MAX_SUITES`]).
fn put_len16(out: &mut Vec<u8>, len: usize) {
    put_u16(out, u16::try_from(len).unwrap_or(u16::MAX));
}

fn put_len24(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX).min(0x00FF_FFFF);
    out.extend_from_slice(len.to_be_bytes().get(1..).unwrap_or_default());
}

/// 32 unpredictable-enough bytes for the hello random: SipHash with the
/// process's random keys over the clock and a counter. The random only has to
/// differ between hellos; no key is ever derived from it.
fn random32() -> [u8; 32] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let keys = RandomState::new();
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut h = keys.build_hasher();
        h.write_u128(nanos);
        h.write_u64(count);
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}
