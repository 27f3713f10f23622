//! Parsers and encoders of the service probes (pure), then the probes against
//! loopback servers (`loopback`) and against real daemons (`real`, ignored).

mod loopback;
mod real;

use proptest::prelude::*;

use super::wire::*;
use super::*;

/// A MySQL 8 / MariaDB protocol-10 handshake as the servers send it.
pub(super) fn mysql_greeting(version: &str) -> Vec<u8> {
    let mut p = vec![0x0a];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&9u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"abcdefgh"); // scramble, part 1
    p.push(0); // filler
    p.extend_from_slice(&[0xff, 0xf7]); // capabilities (lower)
    p.push(0xff); // charset
    p.extend_from_slice(&[0x02, 0x00]); // status
    p.extend_from_slice(&[0xff, 0xdf]); // capabilities (upper)
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"caching_sha2_password\0");
    packet(0, &p)
}

/// A MySQL ERR packet, as sent to a host the server refuses.
pub(super) fn mysql_err(message: &str) -> Vec<u8> {
    let mut p = vec![0xff, 0x6a, 0x04]; // ERR, code 1130
    p.extend_from_slice(message.as_bytes());
    packet(0, &p)
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

#[test]
fn mysql_and_mariadb_handshakes_are_identified() {
    let id = from_greeting(&mysql_greeting("8.0.36")).unwrap();
    assert_eq!(id.check, CheckId::SvcDatabaseExposed);
    assert_eq!(id.service, Service::Mysql);
    assert_eq!(id.evidence, "MySQL protocol-10 handshake to any client, server version 8.0.36");
    assert!(id.audit.is_empty());

    let id = from_greeting(&mysql_greeting("5.5.5-10.11.6-MariaDB-0+deb12u1")).unwrap();
    assert_eq!(
        id.evidence,
        "MariaDB protocol-10 handshake to any client, server version 5.5.5-10.11.6-MariaDB-0+deb12u1"
    );
}

/// MariaDB 10.11.19's greeting to 127.0.0.1 (captured).
const MARIADB_GREETING: &[u8] = &[
    0x64, 0x00, 0x00, 0x00, 0x0a, 0x35, 0x2e, 0x35, 0x2e, 0x35, 0x2d, 0x31, 0x30, 0x2e, 0x31, 0x31, 0x2e, 0x31, 0x39,
    0x2d, 0x4d, 0x61, 0x72, 0x69, 0x61, 0x44, 0x42, 0x2d, 0x30, 0x2b, 0x64, 0x65, 0x62, 0x31, 0x32, 0x75, 0x31, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x3d, 0x57, 0x7e, 0x36, 0x31, 0x33, 0x4b, 0x61, 0x00, 0xfe, 0xf7, 0x08, 0x02, 0x00, 0xff,
    0x81, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x27, 0x39, 0x2b, 0x6a, 0x57, 0x56, 0x29,
    0x65, 0x43, 0x5d, 0x2c, 0x61, 0x00, 0x6d, 0x79, 0x73, 0x71, 0x6c, 0x5f, 0x6e, 0x61, 0x74, 0x69, 0x76, 0x65, 0x5f,
    0x70, 0x61, 0x73, 0x73, 0x77, 0x6f, 0x72, 0x64, 0x00,
];

/// The same server started with --skip-name-resolve: an ERR packet (captured).
const MARIADB_HOST_NOT_ALLOWED: &[u8] =
    b"\x44\x00\x00\x00\xff\x6a\x04Host '127.0.0.1' is not allowed to connect to this MariaDB server";

#[test]
fn captured_mariadb_greetings() {
    let id = from_greeting(MARIADB_GREETING).unwrap();
    assert_eq!(
        id.evidence,
        "MariaDB protocol-10 handshake to any client, server version 5.5.5-10.11.19-MariaDB-0+deb12u1"
    );
    assert_eq!(MARIADB_HOST_NOT_ALLOWED.len(), 4 + 0x44);
    assert_eq!(from_greeting(MARIADB_HOST_NOT_ALLOWED), None);
}

#[test]
fn a_handshake_cut_by_the_greeting_read_is_still_identified_when_the_fixed_part_is_there() {
    // The engine's greeting read stops at the first 0x0a byte read: the
    // handshake comes in one segment, but only up to the capability flags is needed.
    let g = mysql_greeting("8.0.36");
    let version_end = 4 + 1 + "8.0.36".len() + 1;
    assert!(from_greeting(&g[..version_end + 15]).is_some());
    assert!(from_greeting(&g[..version_end + 14]).is_none(), "capability flags missing");
    assert!(from_greeting(&g[..version_end]).is_none());
}

#[test]
fn mysql_err_packets_and_other_banners_are_not_findings() {
    assert_eq!(from_greeting(&mysql_err("Host '127.0.0.1' is not allowed to connect to this MySQL server")), None);
    assert_eq!(from_greeting(&mysql_err("Too many connections")), None);
    for banner in [
        &b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"[..],
        b"220 mail.agency.test ESMTP Postfix\r\n",
        b"220 (vsFTPd 3.0.5)\r\n",
        b"220 ProFTPD Server (Debian) [::ffff:127.0.0.1]\r\n",
        b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
        b"+OK Dovecot ready.\r\n",
        b"",
        b"\n",
        b"\x00\x00\x00\x00\x0a",
    ] {
        assert_eq!(from_greeting(banner), None, "{}", String::from_utf8_lossy(banner));
    }
}

#[test]
fn mysql_handshakes_with_bad_fields_are_refused() {
    let good = mysql_greeting("8.0.36");
    let mut seq1 = good.clone();
    seq1[3] = 1;
    assert_eq!(mysql_handshake(&seq1), None, "sequence must be 0");
    let mut proto9 = good.clone();
    proto9[4] = 9;
    assert_eq!(mysql_handshake(&proto9), None, "protocol 9 is not v10");
    let mut filler = good.clone();
    filler[4 + 1 + 6 + 1 + 12] = 7;
    assert_eq!(mysql_handshake(&filler), None, "the filler after the scramble is 0");
    let mut huge = good.clone();
    huge[2] = 0x10;
    assert_eq!(mysql_handshake(&huge), None, "a 1 MiB handshake is not one");
    assert_eq!(mysql_handshake(&mysql_greeting("8.0\x1b[31m")), None, "control bytes in the version");
    assert_eq!(mysql_handshake(&mysql_greeting("")), None, "empty version");
    assert_eq!(mysql_handshake(&mysql_greeting(&"9".repeat(65))), None, "version too long");
}

#[test]
fn vnc_banners() {
    for (banner, v) in
        [(&b"RFB 003.008\n"[..], "003.008"), (b"RFB 003.003\n", "003.003"), (b"RFB 005.000\n", "005.000")]
    {
        let id = from_greeting(banner).unwrap();
        assert_eq!(id.check, CheckId::SvcRemoteDesktopExposed);
        assert_eq!(id.service, Service::Vnc);
        assert_eq!(id.evidence, format!("VNC server announces RFB {v}"));
    }
    for not in [&b"RFB 003.008"[..], b"RFB 003.008\r\n", b"RFB 3.8\n", b"RFB 00x.008\n", b"rfb 003.008\n"] {
        assert_eq!(from_greeting(not), None, "{}", String::from_utf8_lossy(not));
    }
}

#[test]
fn redis_ping_replies() {
    assert_eq!(redis_ping(b"+PONG\r\n"), RedisPing::Pong);
    assert_eq!(redis_ping(b"-NOAUTH Authentication required.\r\n"), RedisPing::Refused);
    assert_eq!(
        redis_ping(b"-DENIED Redis is running in protected mode because protected mode is enabled\r\n"),
        RedisPing::Refused
    );
    assert_eq!(redis_ping(b"-ERR operation not permitted\r\n"), RedisPing::Refused);
    assert_eq!(redis_ping(b"-ERR Client sent AUTH, but no password is set\r\n"), RedisPing::Refused);
    assert_eq!(redis_ping(b"-ERR unknown command 'PING'\r\n"), RedisPing::Other);
    assert_eq!(redis_ping(b"+PONG"), RedisPing::Other, "no whole line");
    assert_eq!(redis_ping(b"+PONGX\r\n"), RedisPing::Other);
    assert_eq!(redis_ping(b"PING\r\n"), RedisPing::Other, "an echo server");
    assert_eq!(redis_ping(b"HTTP/1.1 400 Bad Request\r\n\r\n"), RedisPing::Other);
}

#[test]
fn redis_info_version() {
    let body = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n";
    let reply = format!("${}\r\n{body}\r\n", body.len());
    assert!(redis_bulk_complete(reply.as_bytes()));
    assert!(!redis_bulk_complete(&reply.as_bytes()[..reply.len() - 1]));
    assert_eq!(redis_version(reply.as_bytes()).as_deref(), Some("7.0.15"));
    assert!(redis_bulk_complete(b"-ERR unknown command 'INFO'\r\n"));
    assert_eq!(redis_version(b"-ERR unknown command 'INFO'\r\n"), None);
    assert_eq!(redis_version(b"$20\r\nredis_version:\x1b[0m\r\n"), None);
    assert!(redis_bulk_complete(&[b'x'; 40]), "garbage without a line ends the read");
}

#[test]
fn postgres_answers() {
    assert_eq!(pg_ssl_answer(b"S"), Some(true));
    assert_eq!(pg_ssl_answer(b"N"), Some(false));
    assert_eq!(pg_ssl_answer(b"NO"), None);
    assert_eq!(pg_ssl_answer(b"E"), None);
    assert_eq!(pg_ssl_answer(b""), None);
    assert_eq!(PG_SSL_REQUEST[4..], (1234u32 << 16 | 5679).to_be_bytes());
}

/// A BSON document from already-encoded elements.
pub(super) fn bson(elements: &[u8]) -> Vec<u8> {
    let mut d = ((elements.len() + 5) as i32).to_le_bytes().to_vec();
    d.extend_from_slice(elements);
    d.push(0);
    d
}

pub(super) fn el_i32(name: &str, v: i32) -> Vec<u8> {
    [&[0x10][..], name.as_bytes(), &[0], &v.to_le_bytes()].concat()
}

pub(super) fn el_f64(name: &str, v: f64) -> Vec<u8> {
    [&[0x01][..], name.as_bytes(), &[0], &v.to_le_bytes()].concat()
}

pub(super) fn el_str(name: &str, v: &str) -> Vec<u8> {
    [&[0x02][..], name.as_bytes(), &[0], &((v.len() + 1) as i32).to_le_bytes(), v.as_bytes(), &[0]].concat()
}

pub(super) fn el_doc(name: &str, doc: &[u8]) -> Vec<u8> {
    [&[0x03][..], name.as_bytes(), &[0], doc].concat()
}

/// An OP_MSG reply to `request_id` with one body section.
pub(super) fn op_msg_reply(request_id: i32, doc: &[u8]) -> Vec<u8> {
    let len = (16 + 4 + 1 + doc.len()) as i32;
    [&len.to_le_bytes()[..], &7i32.to_le_bytes(), &request_id.to_le_bytes(), &2013i32.to_le_bytes(), &[0; 4], &[0], doc]
        .concat()
}

/// What mongod 7.0 answers to hello (abridged, same shapes).
pub(super) fn mongo_hello_doc() -> Vec<u8> {
    bson(
        &[
            vec![0x08],
            b"isWritablePrimary\0\x01".to_vec(),
            el_doc("topologyVersion", &bson(&el_i32("counter", 0))),
            el_i32("maxBsonObjectSize", 16_777_216),
            vec![0x09],
            b"localTime\0".to_vec(),
            1_700_000_000_000i64.to_le_bytes().to_vec(),
            el_i32("maxWireVersion", 21),
            el_i32("minWireVersion", 0),
            el_f64("ok", 1.0),
        ]
        .concat(),
    )
}

#[test]
fn mongo_hello_message_is_hand_encoded_bson() {
    let msg = mongo_command(0x1234, "hello");
    assert_eq!(msg.len(), 52);
    assert_eq!(i32::from_le_bytes(msg[..4].try_into().unwrap()), 52);
    assert_eq!(i32::from_le_bytes(msg[12..16].try_into().unwrap()), 2013);
    let fields = bson_fields(&msg[21..]).unwrap();
    assert_eq!(fields, vec![("hello".to_owned(), Bson::Int(1)), ("$db".to_owned(), Bson::Str("admin".into()))]);
}

#[test]
fn mongo_replies() {
    let reply = op_msg_reply(5, &mongo_hello_doc());
    assert!(mongo_complete(&reply));
    assert!(!mongo_complete(&reply[..reply.len() - 1]));
    assert_eq!(mongo_reply(&reply, 5), Some(MongoHello { max_wire_version: Some(21), version: None }));
    assert_eq!(mongo_reply(&reply, 6), None, "a reply to another request");
    assert_eq!(mongo_reply(&reply[..reply.len() - 1], 5), None, "cut short");

    let with_version = bson(&[el_str("version", "4.2.24"), el_f64("maxWireVersion", 8.0), el_f64("ok", 1.0)].concat());
    assert_eq!(
        mongo_reply(&op_msg_reply(5, &with_version), 5),
        Some(MongoHello { max_wire_version: Some(8), version: Some("4.2.24".into()) })
    );
    let error = bson(&[el_f64("ok", 0.0), el_str("errmsg", "no such command: 'hello'"), el_i32("code", 59)].concat());
    assert_eq!(mongo_reply(&op_msg_reply(5, &error), 5), Some(MongoHello { max_wire_version: None, version: None }));

    let mut bad_doc = mongo_hello_doc();
    let last = bad_doc.len() - 1;
    bad_doc[last] = 1;
    assert_eq!(mongo_reply(&op_msg_reply(5, &bad_doc), 5), None, "a document must end in 0");
    let mut op_reply = reply.clone();
    op_reply[12] = 1; // OP_REPLY
    assert_eq!(mongo_reply(&op_reply, 5), None);
    assert!(mongo_complete(b"HTTP/1.1 400 Bad Request\r\n"), "an impossible length ends the read");
    assert_eq!(mongo_reply(b"HTTP/1.1 400 Bad Request\r\n\r\n", 5), None);
}

/// A replica-set member's hello reply body, encoded by pymongo's `bson` (ObjectId,
/// int64, array, datetime, booleans, double): the shapes mongod 7.0 sends.
const PYMONGO_HELLO_DOC: &str = "5f0100000869735772697461626c655072696d617279000103746f706f6c6f677956657273696f6e002d0000000770726f636573734964006566f0a1c2b3d4e5f6a7b8c912636f756e7465720000000000000000000004686f7374730023000000023000170000006d6f6e676f2d302e696e7465726e616c3a32373031370000027365744e616d65000400000072733000106d617842736f6e4f626a65637453697a650000000001106d61784d65737361676553697a65427974657300006cdc02106d61785772697465426174636853697a6500a0860100096c6f63616c54696d6500006c5126a2010000106c6f676963616c53657373696f6e54696d656f75744d696e75746573001e00000010636f6e6e656374696f6e49640005000000106d696e5769726556657273696f6e0000000000106d61785769726556657273696f6e001500000008726561644f6e6c790000016f6b00000000000000f03f00";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn a_bson_document_encoded_by_pymongo_is_read() {
    let doc = unhex(PYMONGO_HELLO_DOC);
    let fields = bson_fields(&doc).unwrap();
    assert_eq!(fields.len(), 14);
    assert_eq!(fields[3], ("setName".to_owned(), Bson::Str("rs0".into())));
    assert_eq!(mongo_reply(&op_msg_reply(5, &doc), 5), Some(MongoHello { max_wire_version: Some(21), version: None }));
}

#[test]
fn bson_rejects_lengths_that_lie() {
    let mut d = bson(&el_str("version", "7.0.2"));
    d[4 + 1 + 8] = 0x7f; // the string's length says 127
    assert_eq!(bson_fields(&d), None);
    assert_eq!(bson_fields(&[5, 0, 0, 0]), None);
    assert_eq!(bson_fields(&[5, 0, 0, 0, 0]), Some(vec![]));
    assert_eq!(bson_fields(&[0xff, 0xff, 0xff, 0x7f, 0]), None);
    assert_eq!(bson_fields(&bson(&[0x42, b'x', 0])), None, "unknown element type");
}

/// xrdp 0.9.21's answer to our request (captured): RDP_NEG_RSP selecting TLS.
pub(super) const XRDP_CONFIRM: [u8; 19] =
    [0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00];

#[test]
fn rdp_confirms() {
    assert!(tpkt_complete(&XRDP_CONFIRM));
    assert!(!tpkt_complete(&XRDP_CONFIRM[..18]));
    assert_eq!(rdp_confirm(&XRDP_CONFIRM), Some(RdpConfirm::Selected(1)));
    let failure = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0, 0, 0, 3, 0, 8, 0, 5, 0, 0, 0];
    assert_eq!(rdp_confirm(&failure), Some(RdpConfirm::Failure(5)));
    let plain = [3, 0, 0, 11, 6, 0xd0, 0, 0, 0, 0, 0];
    assert_eq!(rdp_confirm(&plain), Some(RdpConfirm::Plain));
    let mut request = RDP_CONNECTION_REQUEST;
    assert_eq!(rdp_confirm(&request), None, "a Connection Request (0xE0) is not a confirm");
    request[5] = 0xf0; // data TPDU
    assert_eq!(rdp_confirm(&request), None);
    let mut v2 = XRDP_CONFIRM;
    v2[0] = 2;
    assert_eq!(rdp_confirm(&v2), None);
    let mut li = XRDP_CONFIRM;
    li[4] = 40;
    assert_eq!(rdp_confirm(&li), None, "length indicator beyond the packet");
    assert!(tpkt_complete(b"HTTP/1.1"), "not TPKT: nothing more to wait for");
    assert_eq!(rdp_confirm(b"HTTP/1.1 400 Bad Request\r\n\r\n"), None);
    assert_eq!(rdp_protocol(2), "CredSSP (NLA)");
}

#[test]
fn observations_carry_the_address_guidance_and_audit() {
    let mut id = from_greeting(b"RFB 003.008\n").unwrap();
    id.audit.push(42);
    let o = id.observation("KR-1", "vnc.agency.test", "127.0.0.1".parse().unwrap(), 5900);
    assert_eq!(o.check, CheckId::SvcRemoteDesktopExposed);
    assert_eq!(o.evidence, "127.0.0.1:5900: VNC server announces RFB 003.008");
    assert_eq!(o.asset.port, Some(5900));
    assert_eq!(o.audit, vec![42]);
    assert!(o.remediation.contains("VPN"));
    assert!(o.references.iter().any(|r| r.contains("rfc6143")));
    for c in CHECKS {
        assert!(!guidance(&c).0.is_empty(), "{c}");
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = from_greeting(&data);
        let _ = redis_ping(&data);
        let _ = redis_bulk_complete(&data);
        let _ = redis_version(&data);
        let _ = mongo_complete(&data);
        let _ = mongo_reply(&data, 1);
        let _ = bson_fields(&data);
        let _ = tpkt_complete(&data);
        let _ = rdp_confirm(&data);
    }

    #[test]
    fn mongo_reply_survives_mutations(at in 0usize..200, byte in any::<u8>()) {
        let mut reply = op_msg_reply(5, &mongo_hello_doc());
        let i = at % reply.len();
        reply[i] = byte;
        let _ = mongo_reply(&reply, 5);
    }
}
