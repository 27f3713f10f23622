//! Tests of the hand-built probes: hello bytes, flight parsing, probes against
//! loopback servers (canned, and OpenSSL's s_server when installed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proptest::prelude::*;
use tls_parser::{
    NamedGroup, SNIType, TlsCipherAu, TlsCipherEnc, TlsCipherKx, TlsCipherSuite, TlsExtension, TlsMessage,
    TlsMessageHandshake, parse_tls_client_hello_extensions, parse_tls_plaintext,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::hello::{GROUPS, MAX_SUITES, RENEGOTIATION_SCSV, SIGNATURE_SCHEMES};
use super::reply::{FlightParser, MAX_FLIGHT, MAX_MESSAGE, MAX_RECORD};
use super::*;

// ---------------------------------------------------------------------------
// Building server flights

fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 3];
    r.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    r.extend_from_slice(payload);
    r
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut m = vec![kind, len[1], len[2], len[3]];
    m.extend_from_slice(body);
    m
}

fn server_hello_msg(version: u16, cipher: u16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x5A; 32]);
    b.push(32);
    b.extend_from_slice(&[7; 32]);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    b.extend_from_slice(&[0, 5, 0xFF, 0x01, 0, 1, 0]); // renegotiation_info, empty
    message(2, &b)
}

fn u24(n: usize) -> [u8; 3] {
    let b = u32::try_from(n).unwrap().to_be_bytes();
    [b[1], b[2], b[3]]
}

fn certificate_msg(certs: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in certs {
        list.extend_from_slice(&u24(c.len()));
        list.extend_from_slice(c);
    }
    let mut b = u24(list.len()).to_vec();
    b.extend_from_slice(&list);
    message(11, &b)
}

/// A DHE ServerKeyExchange with prime `p` (as given, leading zeros included).
fn dhe_key_exchange_msg(p: &[u8]) -> Vec<u8> {
    let mut b = u16::try_from(p.len()).unwrap().to_be_bytes().to_vec();
    b.extend_from_slice(p);
    b.extend_from_slice(&[0, 1, 2]); // g = 2
    b.extend_from_slice(&[0, 128]);
    b.extend_from_slice(&[0x33; 128]); // Ys
    b.extend_from_slice(&[4, 1, 1, 0]); // rsa_pkcs1_sha256, 256-byte signature
    b.extend_from_slice(&[0x44; 256]);
    message(12, &b)
}

/// An ECDHE ServerKeyExchange (x25519).
fn ecdhe_key_exchange_msg() -> Vec<u8> {
    let mut b = vec![3, 0, 0x1D, 32];
    b.extend_from_slice(&[0x55; 32]);
    b.extend_from_slice(&[4, 1, 1, 0]);
    b.extend_from_slice(&[0x44; 256]);
    message(12, &b)
}

fn done_msg() -> Vec<u8> {
    message(14, &[])
}

/// A 1024-bit prime-sized number with a leading zero byte, as some servers send.
fn prime_1024() -> Vec<u8> {
    let mut p = vec![0u8];
    p.push(0xC9);
    p.extend_from_slice(&[0xAB; 127]);
    p
}

const CERT_A: &[u8] = b"\x30\x03\x02\x01\x01";
const CERT_B: &[u8] = b"\x30\x03\x02\x01\x02";

/// ServerHello + Certificate + ServerHelloDone as one handshake stream.
fn rsa_stream() -> Vec<u8> {
    [server_hello_msg(0x0303, 0xC02F), certificate_msg(&[CERT_A, CERT_B]), ecdhe_key_exchange_msg(), done_msg()]
        .concat()
}

fn rsa_hello() -> ServerHello {
    ServerHello { version: 0x0303, cipher: 0xC02F, dh_bits: None, certificates: vec![CERT_A.to_vec(), CERT_B.to_vec()] }
}

/// A handshake stream cut into handshake records of `size` bytes.
fn in_records(stream: &[u8], size: usize) -> Vec<u8> {
    stream.chunks(size).flat_map(|c| record(22, c)).collect()
}

fn assert_incomplete_prefixes(bytes: &[u8]) {
    for end in 0..bytes.len() {
        assert_eq!(parse_flight(&bytes[..end]), Flight::Incomplete, "prefix of {end} bytes");
    }
}

/// NotTls reasons depend on how many bytes were seen; compare without them.
fn normalized(f: Flight) -> Flight {
    match f {
        Flight::Done(Reply::NotTls(_)) => Flight::Done(Reply::NotTls(String::new())),
        Flight::Done(Reply::Failed(_)) => Flight::Done(Reply::Failed(String::new())),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Version and suites

#[test]
fn versions_round_trip() {
    let names: Vec<&str> = Version::ALL.iter().map(|v| v.name()).collect();
    assert_eq!(names, ["SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2"]);
    for (v, wire) in Version::ALL.into_iter().zip(0x0300u16..) {
        assert_eq!(v.wire(), wire);
        assert_eq!(Version::from_wire(wire), Some(v));
    }
    assert_eq!(Version::from_wire(0x0304), None);
    assert_eq!(Version::from_wire(0x0002), None);
    assert!(Version::Ssl3 < Version::Tls12);
}

/// The weakness tls-parser's IANA-derived fields imply, in our precedence.
fn expected_weakness(cs: &TlsCipherSuite) -> Option<Weakness> {
    if cs.enc == TlsCipherEnc::Null {
        Some(Weakness::Null)
    } else if cs.name.contains("EXPORT") {
        Some(Weakness::Export)
    } else if cs.au == TlsCipherAu::Null {
        Some(Weakness::Anonymous)
    } else if cs.enc == TlsCipherEnc::Rc4 {
        Some(Weakness::Rc4)
    } else if matches!(cs.enc, TlsCipherEnc::Des | TlsCipherEnc::TripleDes | TlsCipherEnc::Idea | TlsCipherEnc::Rc2) {
        Some(Weakness::TripleDes)
    } else if cs.kx == TlsCipherKx::Rsa && cs.au == TlsCipherAu::Rsa {
        Some(Weakness::StaticRsa)
    } else {
        None
    }
}

#[test]
fn suite_table_agrees_with_iana() {
    let mut ids = Vec::new();
    for id in 0..=u16::MAX {
        let Some(s) = suite(id) else { continue };
        assert_eq!(s.id, id);
        ids.push(id);
        let iana = TlsCipherSuite::from_id(id).unwrap_or_else(|| panic!("{id:#06x} unknown to tls-parser"));
        assert_eq!(s.name, iana.name, "{id:#06x}");
        assert_eq!(s.weakness, expected_weakness(iana), "{}", s.name);
        let dhe = (iana.kx == TlsCipherKx::Dhe && matches!(iana.au, TlsCipherAu::Rsa | TlsCipherAu::Dss))
            || (iana.kx == TlsCipherKx::Dh && iana.au == TlsCipherAu::Null);
        assert_eq!(s.dhe, dhe, "{}", s.name);
    }
    // The classic ranges are all there.
    let classic = (0x0001..=0x001B)
        .chain(0x001E..=0x003D)
        .chain(0x0060..=0x006D)
        .chain(0x009C..=0x00AB)
        .chain(0xC001..=0xC032)
        .chain(0xCCA8..=0xCCAA)
        .chain([0x0003, 0x0006, 0x0008, 0x000B, 0x000E, 0x0011, 0x0014, 0x0017, 0x0019]);
    for id in classic {
        assert!(ids.contains(&id), "{id:#06x} missing");
    }
    assert_eq!(suite(RENEGOTIATION_SCSV), None);
    assert_eq!(suite(0x1301), None, "no TLS 1.3 suites");
}

#[test]
fn suite_spot_checks() {
    let w = |id| suite(id).unwrap().weakness;
    assert_eq!(suite(0x000A).unwrap().name, "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert_eq!(w(0x000A), Some(Weakness::TripleDes));
    assert_eq!(w(0x0009), Some(Weakness::TripleDes), "single DES");
    assert_eq!(w(0x0007), Some(Weakness::TripleDes), "IDEA");
    assert_eq!(w(0x0005), Some(Weakness::Rc4));
    assert_eq!(w(0x0066), Some(Weakness::Rc4), "TLS_DHE_DSS_WITH_RC4_128_SHA is not export");
    assert_eq!(w(0x0001), Some(Weakness::Null));
    assert_eq!(w(0xC015), Some(Weakness::Null), "NULL beats anonymous");
    assert_eq!(w(0x0003), Some(Weakness::Export));
    assert_eq!(w(0x0062), Some(Weakness::Export));
    assert_eq!(w(0x0018), Some(Weakness::Anonymous), "anonymous beats RC4");
    assert_eq!(w(0xC018), Some(Weakness::Anonymous));
    assert_eq!(w(0x002F), Some(Weakness::StaticRsa));
    assert_eq!(w(0x009C), Some(Weakness::StaticRsa));
    assert_eq!(w(0xC02F), None);
    assert_eq!(w(0xC013), None, "ECDHE CBC is not flagged");
    assert_eq!(w(0x0033), None);
    assert!(suite(0x0033).unwrap().dhe && suite(0x0034).unwrap().dhe && !suite(0x00AA).unwrap().dhe);
}

#[test]
fn suite_lists() {
    let weak = weak_suites();
    assert!((60..=100).contains(&weak.len()), "{} weak suites", weak.len());
    assert!(weak.windows(2).all(|w| w[0] < w[1]));
    assert!(weak.iter().all(|&id| suite(id).unwrap().weakness.is_some()));
    for id in [0x0004, 0x000A, 0x0001, 0x0003, 0x0018, 0x002F, 0x0035, 0xC011, 0xC012, 0xC017] {
        assert!(weak.contains(&id), "{id:#06x}");
    }

    let broad = broad_suites();
    let mut sorted = broad.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), broad.len(), "no duplicates");
    for id in &broad {
        let s = suite(*id).unwrap();
        assert!(matches!(s.weakness, None | Some(Weakness::StaticRsa | Weakness::TripleDes)), "{}", s.name);
    }
    for id in [0xC02F, 0xC02B, 0xC013, 0xC014, 0x009E, 0x0033, 0x002F, 0x0035, 0x000A] {
        assert!(broad.contains(&id), "{id:#06x}");
    }

    let dhe = dhe_suites();
    assert!(dhe.len() >= 10);
    for id in &dhe {
        let s = suite(*id).unwrap();
        assert!(s.dhe && (s.name.starts_with("TLS_DHE_RSA_") || s.name.starts_with("TLS_DHE_DSS_")), "{}", s.name);
        assert!(!s.name.contains("EXPORT"), "{}", s.name);
    }
    for id in [0x0033, 0x0039, 0x009E, 0xCCAA, 0x0016] {
        assert!(dhe.contains(&id), "{id:#06x}");
    }
    assert!(suite(dhe[0]).unwrap().name.contains("_GCM_") || suite(dhe[0]).unwrap().name.contains("CHACHA20"));
}

// ---------------------------------------------------------------------------
// ClientHello

struct ParsedHello {
    record_version: u16,
    client_version: u16,
    random: Vec<u8>,
    session_id: Option<Vec<u8>>,
    ciphers: Vec<u16>,
    compression: Vec<u8>,
    sni: Option<Vec<u8>>,
    extensions: Option<Vec<String>>,
}

fn parse_hello(bytes: &[u8]) -> ParsedHello {
    let (rest, plain) = parse_tls_plaintext(bytes).unwrap();
    assert!(rest.is_empty(), "one record, nothing after it");
    assert_eq!(plain.hdr.record_type.0, 22);
    assert_eq!(usize::from(plain.hdr.len), bytes.len() - 5);
    assert_eq!(plain.msg.len(), 1);
    let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &plain.msg[0] else {
        panic!("not a ClientHello: {:?}", plain.msg[0]);
    };
    let mut sni = None;
    let extensions = ch.ext.map(|ext| {
        let (rest, exts) = parse_tls_client_hello_extensions(ext).unwrap();
        assert!(rest.is_empty());
        exts.iter()
            .map(|e| match e {
                TlsExtension::SNI(names) => {
                    assert_eq!(names.len(), 1);
                    assert_eq!(names[0].0, SNIType::HostName);
                    sni = Some(names[0].1.to_vec());
                    "server_name".to_string()
                }
                TlsExtension::EllipticCurves(groups) => {
                    assert_eq!(groups, &GROUPS.map(NamedGroup).to_vec());
                    assert_eq!(groups[..3], [NamedGroup::EcdhX25519, NamedGroup::Secp256r1, NamedGroup::Secp384r1]);
                    "supported_groups".to_string()
                }
                TlsExtension::EcPointFormats(formats) => {
                    assert_eq!(formats, &[0]);
                    "ec_point_formats".to_string()
                }
                TlsExtension::SignatureAlgorithms(schemes) => {
                    assert_eq!(schemes, &SIGNATURE_SCHEMES.to_vec());
                    for s in [0x0401, 0x0501, 0x0601, 0x0403, 0x0804, 0x0201, 0x0203] {
                        assert!(schemes.contains(&s), "{s:#06x}");
                    }
                    "signature_algorithms".to_string()
                }
                other => panic!("unexpected extension {other:?}"),
            })
            .collect()
    });
    ParsedHello {
        record_version: plain.hdr.version.0,
        client_version: ch.version.0,
        random: ch.random.to_vec(),
        session_id: ch.session_id.map(<[u8]>::to_vec),
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        compression: ch.comp.iter().map(|c| c.0).collect(),
        sni,
        extensions,
    }
}

#[test]
fn client_hello_parses_back() {
    let suites = broad_suites();
    for version in Version::ALL {
        let bytes = client_hello(version, &suites, Some("example.test"));
        let h = parse_hello(&bytes);
        assert_eq!(h.record_version, if version == Version::Ssl3 { 0x0300 } else { 0x0301 });
        assert_eq!(h.client_version, version.wire());
        assert_eq!(h.random.len(), 32);
        assert_eq!(h.session_id, None);
        let mut expected = suites.clone();
        expected.push(RENEGOTIATION_SCSV);
        assert_eq!(h.ciphers, expected);
        assert_eq!(h.compression, [0]);
        if version == Version::Ssl3 {
            assert_eq!(h.extensions, None, "SSLv3 hellos carry no extensions");
        } else {
            assert_eq!(h.sni.as_deref(), Some(&b"example.test"[..]));
            let names = h.extensions.unwrap();
            assert_eq!(names, ["server_name", "supported_groups", "ec_point_formats", "signature_algorithms"]);
        }
    }
}

#[test]
fn client_hello_sni_only_for_host_names() {
    for sni in
        [None, Some("127.0.0.1"), Some("::1"), Some("[::1]"), Some(""), Some("."), Some("bad name"), Some("ä.test")]
    {
        let h = parse_hello(&client_hello(Version::Tls12, &[0x002F], sni));
        assert_eq!(h.sni, None, "{sni:?}");
        assert_eq!(h.extensions.unwrap().len(), 3, "{sni:?}");
    }
    let h = parse_hello(&client_hello(Version::Tls11, &[0x002F], Some("www.example.test.")));
    assert_eq!(h.sni.as_deref(), Some(&b"www.example.test"[..]), "trailing dot dropped");
    let long = format!("{}.test", "a".repeat(250));
    assert_eq!(parse_hello(&client_hello(Version::Tls12, &[0x002F], Some(&long))).sni, None);
}

#[test]
fn client_hello_random_differs_and_scsv_once() {
    let a = parse_hello(&client_hello(Version::Tls12, &[0x00FF, 0x000A], None));
    let b = parse_hello(&client_hello(Version::Tls12, &[0x00FF, 0x000A], None));
    assert_ne!(a.random, b.random);
    assert_eq!(a.ciphers, [0x000A, RENEGOTIATION_SCSV]);
}

#[test]
fn client_hello_fits_one_record_with_every_suite() {
    let all: Vec<u16> = (0..=u16::MAX).collect();
    let bytes = client_hello(Version::Tls12, &all, Some("example.test"));
    assert!(bytes.len() - 5 <= 1 << 14, "{} bytes", bytes.len());
    let h = parse_hello(&bytes);
    assert_eq!(h.ciphers.len(), MAX_SUITES);
    assert_eq!(h.ciphers.last(), Some(&RENEGOTIATION_SCSV));
    assert_eq!(parse_hello(&client_hello(Version::Tls12, &[], None)).ciphers, [RENEGOTIATION_SCSV]);
}

// ---------------------------------------------------------------------------
// parse_flight

#[test]
fn flight_in_one_record() {
    let stream = [server_hello_msg(0x0303, 0xC02F), certificate_msg(&[CERT_A, CERT_B]), done_msg()].concat();
    let bytes = record(22, &stream);
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())));
    assert_incomplete_prefixes(&bytes);
    // Bytes after ServerHelloDone are not looked at.
    let mut more = bytes.clone();
    more.extend_from_slice(b"garbage after the flight");
    assert_eq!(parse_flight(&more), Flight::Done(Reply::Hello(rsa_hello())));
}

#[test]
fn flight_split_into_one_byte_records() {
    let bytes = in_records(&rsa_stream(), 1);
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())));
    assert_incomplete_prefixes(&bytes);
}

#[test]
fn flight_with_messages_spanning_records() {
    for size in [2, 3, 7, 50, 100, 1000] {
        let bytes = in_records(&rsa_stream(), size);
        assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())), "records of {size}");
    }
    // Alternating record sizes, one record per message, and interleaved empty records.
    let stream = rsa_stream();
    let (a, b) = stream.split_at(41);
    let bytes = [record(22, a), record(22, &[]), record(22, b)].concat();
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())));
}

#[test]
fn dhe_flight_gives_group_size() {
    let stream =
        [server_hello_msg(0x0301, 0x0033), certificate_msg(&[CERT_A]), dhe_key_exchange_msg(&prime_1024()), done_msg()]
            .concat();
    let expected =
        ServerHello { version: 0x0301, cipher: 0x0033, dh_bits: Some(1024), certificates: vec![CERT_A.to_vec()] };
    for size in [1, 5, 16384] {
        assert_eq!(parse_flight(&in_records(&stream, size)), Flight::Done(Reply::Hello(expected.clone())));
    }
    // 2048-bit and odd sizes; a prime whose top byte is 0x01 has 8 bits fewer than a 0xFF one.
    for (p, bits) in [(vec![0xFF; 256], 2048), (vec![0x01, 0xFF], 9), (vec![0, 0, 0x40, 0], 15), (vec![0, 0], 0)] {
        let stream = [server_hello_msg(0x0303, 0x009E), dhe_key_exchange_msg(&p), done_msg()].concat();
        let Flight::Done(Reply::Hello(h)) = parse_flight(&record(22, &stream)) else { panic!() };
        assert_eq!(h.dh_bits, (bits > 0).then_some(bits), "{p:?}");
        assert!(h.certificates.is_empty());
    }
    // A DHE-looking key exchange under an ECDHE suite is not read as DH.
    let stream = [server_hello_msg(0x0303, 0xC02F), dhe_key_exchange_msg(&prime_1024()), done_msg()].concat();
    let Flight::Done(Reply::Hello(h)) = parse_flight(&record(22, &stream)) else { panic!() };
    assert_eq!(h.dh_bits, None);
}

#[test]
fn alert_gives_alert() {
    let bytes = record(21, &[2, 40]);
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Alert { level: 2, description: 40 }));
    assert_incomplete_prefixes(&bytes);
    // protocol_version with an SSLv3 record header.
    assert_eq!(parse_flight(&[21, 3, 0, 0, 2, 2, 70]), Flight::Done(Reply::Alert { level: 2, description: 70 }));
    // An alert after the ServerHello: the server did pick a version and suite.
    let bytes = [record(22, &server_hello_msg(0x0302, 0x0035)), record(21, &[2, 80])].concat();
    let expected = ServerHello { version: 0x0302, cipher: 0x0035, dh_bits: None, certificates: vec![] };
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(expected)));
    assert!(matches!(parse_flight(&record(21, &[2])), Flight::Done(Reply::NotTls(_))));
}

#[test]
fn flight_ends_at_change_cipher_spec_after_hello() {
    let bytes = [record(22, &server_hello_msg(0x0303, 0xC030)), record(20, &[1]), record(23, &[9; 40])].concat();
    let expected = ServerHello { version: 0x0303, cipher: 0xC030, dh_bits: None, certificates: vec![] };
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(expected)));
    assert!(matches!(parse_flight(&record(23, &[1, 2, 3])), Flight::Done(Reply::NotTls(_))));
}

#[test]
fn garbage_is_not_tls() {
    let http = b"HTTP/1.1 400 Bad Request\r\n\r\n";
    let Flight::Done(Reply::NotTls(reason)) = parse_flight(http) else { panic!() };
    assert!(reason.contains("HTTP/1.1 400"), "{reason}");
    let Flight::Done(Reply::NotTls(reason)) = parse_flight(b"SSH-2.0-OpenSSH_9.6\r\n") else { panic!() };
    assert!(reason.contains("SSH-2.0"), "{reason}");
    let Flight::Done(Reply::NotTls(reason)) = parse_flight(&[0x16, 0x02, 0x00, 0x00, 0x00]) else { panic!() };
    assert!(reason.contains("16 02"), "{reason}");
    // SSLv2 ServerHello: two-byte header with the high bit, then message type 4.
    assert_eq!(parse_flight(&[0x80]), Flight::Incomplete);
    let sslv2 = [0x80, 0x2E, 0x04, 0x00, 0x01, 0x00, 0x02];
    assert_eq!(parse_flight(&sslv2), Flight::Done(Reply::NotTls("SSLv2 ServerHello".to_string())));
    // Handshake messages out of order.
    let Flight::Done(Reply::NotTls(reason)) = parse_flight(&record(22, &done_msg())) else { panic!() };
    assert!(reason.contains("before any ServerHello"), "{reason}");
    let Flight::Done(Reply::NotTls(reason)) = parse_flight(&record(22, &message(2, &[3, 3, 0]))) else { panic!() };
    assert!(reason.contains("malformed ServerHello"), "{reason}");
}

#[test]
fn bounds_are_enforced_early() {
    // A record length beyond 2^14+2048: decided from the header alone.
    let len = u16::try_from(MAX_RECORD + 1).unwrap().to_be_bytes();
    assert!(matches!(parse_flight(&[22, 3, 3, len[0], len[1]]), Flight::Done(Reply::Failed(_))));
    let len = u16::try_from(MAX_RECORD).unwrap().to_be_bytes();
    assert_eq!(parse_flight(&[22, 3, 3, len[0], len[1]]), Flight::Incomplete);
    // A handshake message beyond 128 KiB: decided from its header.
    let hdr = [2, u24(MAX_MESSAGE + 1)[0], u24(MAX_MESSAGE + 1)[1], u24(MAX_MESSAGE + 1)[2]];
    assert!(matches!(parse_flight(&record(22, &hdr)), Flight::Done(Reply::Failed(_))));
    // After a ServerHello, an oversize certificate chain leaves the hello
    // (the port speaks TLS) without certificates.
    let hdr = [11, u24(MAX_MESSAGE + 1)[0], u24(MAX_MESSAGE + 1)[1], u24(MAX_MESSAGE + 1)[2]];
    let bytes = [record(22, &server_hello_msg(0x0303, 0x002F)), record(22, &hdr)].concat();
    let Flight::Done(Reply::Hello(h)) = parse_flight(&bytes) else { panic!() };
    assert!(h.certificates.is_empty());
    let hdr = [11, u24(MAX_MESSAGE)[0], u24(MAX_MESSAGE)[1], u24(MAX_MESSAGE)[2]];
    let bytes = [record(22, &server_hello_msg(0x0303, 0x002F)), record(22, &hdr)].concat();
    assert_eq!(parse_flight(&bytes), Flight::Incomplete);
    // More than 256 KiB without ServerHelloDone (HelloRequests are skipped).
    let filler = record(22, &message(0, &[]));
    let mut bytes = record(22, &server_hello_msg(0x0303, 0x002F));
    while bytes.len() <= MAX_FLIGHT - filler.len() {
        bytes.extend_from_slice(&filler);
    }
    assert_eq!(parse_flight(&bytes), Flight::Incomplete);
    bytes.extend_from_slice(&filler);
    let Flight::Done(Reply::Hello(h)) = parse_flight(&bytes) else { panic!() };
    assert_eq!((h.version, h.certificates.len()), (0x0303, 0));
    // Without a ServerHello, 256 KiB of handshake records is no answer.
    let mut bytes = Vec::new();
    while bytes.len() <= MAX_FLIGHT {
        bytes.extend_from_slice(&filler);
    }
    let Flight::Done(Reply::Failed(reason)) = parse_flight(&bytes) else { panic!() };
    assert!(reason.contains("256 KiB"), "{reason}");
    // ... but a flight complete within 256 KiB is an answer whatever follows.
    let mut bytes = record(22, &rsa_stream());
    bytes.extend_from_slice(&vec![0; 2 * MAX_FLIGHT]);
    assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())));
}

#[test]
fn parser_end_of_stream() {
    let mut p = FlightParser::new();
    assert_eq!(p.end(false), Reply::Closed);
    let mut p = FlightParser::new();
    assert_eq!(p.end(true), Reply::Timeout);
    let mut p = FlightParser::new();
    assert_eq!(p.feed(&record(22, &server_hello_msg(0x0301, 0x000A))), Flight::Incomplete);
    let expected = ServerHello { version: 0x0301, cipher: 0x000A, dh_bits: None, certificates: vec![] };
    assert_eq!(p.end(false), Reply::Hello(expected.clone()));
    let mut p = FlightParser::new();
    p.feed(&record(22, &[server_hello_msg(0x0301, 0x000A), certificate_msg(&[CERT_A])].concat()));
    assert_eq!(p.end(true), Reply::Hello(ServerHello { certificates: vec![CERT_A.to_vec()], ..expected }));
    let mut p = FlightParser::new();
    p.feed(&[22, 3, 1]);
    assert!(matches!(p.end(false), Reply::Failed(_)));
}

/// Arbitrary records: any content type, any declared length, any body,
/// handshake bodies with arbitrary message lengths.
fn arbitrary_records() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (any::<u8>(), any::<[u8; 3]>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, len, b)| {
            let mut m = vec![t % 16, len[0], len[1], len[2]];
            m.extend_from_slice(&b);
            m
        }),
        Just(server_hello_msg(0x0303, 0x0033)),
        Just(done_msg()),
    ];
    let one = (
        prop_oneof![20u8..=24, any::<u8>()],
        prop_oneof![Just(3u8), any::<u8>()],
        any::<u8>(),
        any::<Option<u16>>(),
        body,
    )
        .prop_map(|(kind, major, minor, declared, body)| {
            let len = declared.unwrap_or(u16::try_from(body.len()).unwrap_or(u16::MAX)).to_be_bytes();
            let mut r = vec![kind, major, minor, len[0], len[1]];
            r.extend_from_slice(&body);
            r
        });
    proptest::collection::vec(one, 0..12).prop_map(|rs| rs.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_flight_never_panics(bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), arbitrary_records()],
                                 cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let whole = parse_flight(&bytes);
        // Fed in pieces, the parser reaches the same answer and buffers in
        // proportion to what it was given: two buffers, each of which a Vec
        // may grow to twice its length.
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut p = FlightParser::new();
        let mut start = 0;
        let mut last = Flight::Incomplete;
        for end in cuts {
            last = p.feed(&bytes[start..end]);
            start = end;
            prop_assert!(p.buffered_capacity() <= 4 * bytes.len() + 64, "{} buffered for {} bytes", p.buffered_capacity(), bytes.len());
        }
        prop_assert_eq!(normalized(last), normalized(whole));
    }

    #[test]
    fn any_record_split_reads_the_same_flight(sizes in proptest::collection::vec(1usize..300, 1..40)) {
        let stream = rsa_stream();
        let mut bytes = Vec::new();
        let mut rest = &stream[..];
        let mut sizes = sizes.into_iter().cycle();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(sizes.next().unwrap_or(1).min(rest.len()));
            bytes.extend_from_slice(&record(22, chunk));
            rest = tail;
        }
        prop_assert_eq!(parse_flight(&bytes), Flight::Done(Reply::Hello(rsa_hello())));
        prop_assert_eq!(parse_flight(&bytes[..bytes.len() - 1]), Flight::Incomplete);
    }
}

mod loopback;
